#!/bin/sh
# The KV pool's write path (reserve / commit / unreserve / row pointers,
# kvcache/kv_engine.h) is the engine's alone. Bugs this catches: a module
# outside src/engine/ starts appending K/V itself (defines the guard or calls
# the write path), or the guard stops guarding (the header compiles anywhere).
set -u
fail=0
CC=${CC:-cc}
if echo '#include "kvcache/kv_engine.h"' | "$CC" -std=gnu17 -Isrc -fsyntax-only -x c - 2>/dev/null; then
    echo "kv_engine.h compiles without AM_KV_ENGINE_PRIVATE"; fail=1
fi
printf '#define AM_KV_ENGINE_PRIVATE\n#include "kvcache/kv_engine.h"\n' |
    "$CC" -std=gnu17 -Isrc -fsyntax-only -x c - || { echo "kv_engine.h does not compile with its guard"; fail=1; }
out=$(grep -rlE 'AM_KV_ENGINE_PRIVATE|am_kv_seq_(reserve|commit|unreserve)|am_kv_[kv]_row' src --include='*.[ch]' |
      grep -vE '^src/(engine|kvcache)/')
[ -z "$out" ] || { echo "the KV write path is used outside src/engine/: $out"; fail=1; }
exit $fail
