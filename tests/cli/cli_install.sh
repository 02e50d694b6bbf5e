#!/bin/sh
# Install and first run, as a new user meets them: `make install` (PREFIX,
# DESTDIR), `make run` needing nothing from npm, `agentmem --version`, and
# default paths found from the binary's location rather than the current
# directory. Each check names the bug it is for.
set -u
A=${AGENTMEM:-build/agentmem}
B=${AM_BUILD:-build}
ROOT=$(pwd)
T=$(mktemp -d)
trap 'chmod -R u+rwx "$T" 2>/dev/null; rm -rf "$T"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $1"; fail=1; fi; }

# bug: no --version (the version, the commit, the compiler, the ISA chosen)
out=$("$A" --version); check '[ $? = 0 ]'
check 'echo "$out" | grep -q "^agentmem [0-9][0-9.]* (commit [0-9a-f]\{7,\}\(-dirty\)\{0,1\})$"'
check 'echo "$out" | grep -q "^compiler: \(gcc\|clang\) [0-9]"'
# the ISA line says what the kernels dispatch to: AGENTMEM_ISA lowers it
check '[ "$(AGENTMEM_ISA=scalar "$A" --version | sed -n "s/^isa: //p")" = scalar ]'

# bug: `cd /tmp && agentmem bench` looked for models/default.gguf under /tmp,
# and its error named the path twice. The default resolves from the binary.
mkdir -p "$T/proj/build" "$T/proj/models"
cp "$A" "$T/proj/build/agentmem"
"$A" mkmodel --shape tiny --type q4_0 --quiet "$T/proj/models/default.gguf"
(cd "$T" && "$T/proj/build/agentmem" bench -p 8 -n 2 -r 1 > "$T/bench.out" 2>&1); check '[ $? = 0 ]'
check 'grep -q "default.gguf" "$T/bench.out" && grep -q "pp8" "$T/bench.out"'
rm "$T/proj/models/default.gguf"
(cd "$T" && "$T/proj/build/agentmem" bench -p 8 -n 2 -r 1 > /dev/null 2> "$T/err"); check '[ $? = 1 ]'
check '[ $(wc -l < "$T/err") = 1 ] && [ $(grep -o "default.gguf" "$T/err" | wc -l) = 1 ]'
check 'grep -q "$T/proj/" "$T/err"'

# bug: no `make install`. PREFIX and DESTDIR are honoured; the installed
# binary finds the installed default model. -o keeps make from rebuilding
# the binary under test (whatever flags built it).
make -s -o "$B/agentmem" BUILD="$B" DESTDIR="$T/dest" PREFIX=/opt/am install > "$T/install.log" 2>&1
check '[ $? = 0 ]'
check '[ -x "$T/dest/opt/am/bin/agentmem" ] && [ -f "$T/dest/opt/am/share/agentmem/models/default.gguf" ]'
(cd / && "$T/dest/opt/am/bin/agentmem" bench -p 8 -n 2 -r 1 -o json > "$T/inst.json" 2>&1); check '[ $? = 0 ]'
check 'grep -q "share/agentmem/models/default.gguf" "$T/inst.json"'
make -s -o "$B/agentmem" BUILD="$B" DESTDIR="$T/dest" PREFIX=/opt/am uninstall > /dev/null 2>&1
check '[ ! -e "$T/dest/opt/am/bin/agentmem" ]'

# bug: `make run` (and a plain build) downloaded tests/npm's packages, so it
# failed offline. The script installs npm packages only with --test, which
# `make test` passes and `make run` does not. Run in a copy with a fake npm
# and a dpkg that has everything, so nothing is really installed.
mkdir -p "$T/deps/scripts" "$T/deps/tests/npm" "$T/bin"
cp scripts/install-deps.sh "$T/deps/scripts/"
echo '{}' > "$T/deps/tests/npm/package.json"
printf '#!/bin/sh\necho "$@" >> "%s/npm.calls"\nmkdir -p node_modules\n' "$T" > "$T/bin/npm"
printf '#!/bin/sh\nprintf "install ok installed"\n' > "$T/bin/dpkg-query"
printf '#!/bin/sh\nexit 0\n' > "$T/bin/node"
chmod +x "$T/bin/npm" "$T/bin/dpkg-query" "$T/bin/node"
(cd "$T/deps" && PATH="$T/bin:$PATH" sh scripts/install-deps.sh) > /dev/null 2>&1; check '[ $? = 0 ]'
check '[ ! -e "$T/npm.calls" ]'
(cd "$T/deps" && PATH="$T/bin:$PATH" sh scripts/install-deps.sh --test) > /dev/null 2>&1; check '[ $? = 0 ]'
check 'grep -q "^install" "$T/npm.calls"'
# and the make targets pass it accordingly
check 'make -n -o "$B/agentmem" BUILD="$B" run 2>/dev/null | grep "install-deps.sh" | grep -qv -- "--test"'
check 'make -n -o "$B/agentmem" BUILD="$B" test 2>/dev/null | grep "install-deps.sh" | grep -q -- "--test"'
exit $fail
