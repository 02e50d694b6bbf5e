#!/bin/sh
# RSS within the KV budget. 12 agents whose caches need ~25 MB together (3x
# the 8 MiB --kv-budget), two turns each, the second turns shuffled, run once
# with an unlimited pool and once with the budget (tests/clients/budget.mjs).
# Bugs it is for: eviction that does not free memory (blocks kept, a
# snapshot copy never released, a pool that grows past its budget); an
# evicted agent that comes back cold or with different K/V after a restore.
# Checks: agentmem_kv_bytes_used never above the budget; VmHWM below
# weights + budget + OVERHEAD; every second turn as warm as with the
# unlimited pool (same cached_tokens) and every answer the same.
#
# OVERHEAD (24 MiB) is what the process holds besides the weights and the
# pool: ~11 MiB at start-up (code, libraries, the engine's activations and
# [step_tokens][n_vocab] logits, thread stacks), the persistence queue's
# copies of the blocks being written (up to one agent's cache, ~3 MB here),
# request buffers and malloc arenas of the HTTP threads. The unlimited run
# reaches ~45 MiB, above the bound, so the bound has teeth.
set -u
. tests/serve_lib.sh
. tests/robust_lib.sh
fail=0
BUDGET=$((8 << 20))
OVERHEAD=$((24 << 20))
W=$(wc -c <"$MODEL")
start_server --cache-dir "$TMP/ref" --ctx 2048
N_AGENTS=12 SERVER_PID=$PID OUT="$TMP/ref.json" AGENTMEM_URL=$URL node tests/clients/budget.mjs || fail=1
stop_server
start_server --cache-dir "$TMP/budget" --ctx 2048 --kv-budget $BUDGET
N_AGENTS=12 SERVER_PID=$PID OUT="$TMP/b.json" AGENTMEM_URL=$URL node tests/clients/budget.mjs || fail=1
ev=$(metric agentmem_cache_evictions_total)
stop_server
[ "${ev:-0}" -ge 12 ] || { echo "FAIL only ${ev:-0} evictions: the budget did not bind"; fail=1; }
node -e '
const ref = require(process.argv[1]), b = require(process.argv[2]);
const budget = +process.argv[3], bound = +process.argv[4] + budget + +process.argv[5];
let ok = true; const f = (m) => { console.log("FAIL " + m); ok = false; };
if (b.maxPool > budget) f(`kv_bytes_used reached ${b.maxPool} > budget ${budget}`);
if (process.argv[6] === "1") console.log("skip the VmHWM bound under ASan");
else if (b.maxHwm * 1024 > bound) f(`VmHWM ${b.maxHwm} kB over weights + budget + overhead (${bound >> 10} kB)`);
console.log(`pool max ${b.maxPool} of ${budget}; VmHWM ${b.maxHwm} kB (bound ${bound >> 10} kB, unlimited run ${ref.maxHwm} kB)`);
for (const k of Object.keys(ref.results)) {
  const r = ref.results[k], x = b.results[k];
  if (x.status !== 200) { f(`${k}: status ${x.status} ${x.error || ""}`); continue; }
  if (x.text !== r.text) f(`${k}: answer differs from the unlimited pool`);
  const cr = r.usage.prompt_tokens_details.cached_tokens, cx = x.usage.prompt_tokens_details.cached_tokens;
  if (k.endsWith("/1") && (cx !== cr || cx < r.usage.prompt_tokens / 2))
    f(`${k}: came back with ${cx} cached tokens (unlimited pool: ${cr} of ${r.usage.prompt_tokens})`);
}
process.exit(ok ? 0 : 1);
' "$TMP/ref.json" "$TMP/b.json" $BUDGET "$W" $OVERHEAD $SANITIZED || fail=1
exit $fail
