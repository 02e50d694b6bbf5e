#!/bin/sh
# bench/swap.sh — hot swap of the default model through the admin API, on
# mkmodel's SHAPE (llama-1b) in Q4_0 and F16: time from the swap request to
# the first token of a request held during it (cold: page cache dropped
# first, as root; page: the file still cached), and the longest pause
# between two tokens of a stream running across a swap. Targets: a 1B model
# swaps in under a second from the page cache; no running stream is cut; a
# held request waits no longer than load + drain. Prints a table, writes
# bench/out/swap.json.
# Environment: BUILD (build), THREADS (2), SHAPE (llama-1b).
set -e
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
SHAPE=${SHAPE:-llama-1b}
AM="$BUILD/agentmem"
OUT=bench/out
. bench/lib.sh
make -s -j2 BUILD="$BUILD" "$AM"
D="$OUT/swap-models"
mkdir -p "$D"
for t in q4_0 f16; do
    m="$OUT/$SHAPE-$t.gguf"
    [ -f "$m" ] || "$AM" mkmodel --shape "$SHAPE" --type "$t" --seed 1 --quiet "$m"
    # a hard link (a symlink would resolve outside the models directory)
    [ -f "$D/$SHAPE-$t.gguf" ] || ln "$m" "$D/$SHAPE-$t.gguf" 2>/dev/null || cp "$m" "$D/$SHAPE-$t.gguf"
done
cmd="THREADS=$THREADS SHAPE=$SHAPE"
bench_header bench/swap.sh "$cmd"
BENCH_EST=90
echo "estimate: about $(fmt_min $BENCH_EST) (once the two models exist)"
[ "${DRY:-0}" = 1 ] && exit 0 # DRY=1: the header and the estimate only
key=$(mktemp /tmp/am-swap-key-XXXXXX)
echo "bench-admin" >"$key"
cache=$(mktemp -d /tmp/am-swap-cache-XXXXXX)
trap 'rm -rf "$key" "$cache"' EXIT
MODEL="$D/$SHAPE-q4_0.gguf"
start_server "$OUT/swap-server.log" --models-dir "$D" --admin-key-file "$key" --threads "$THREADS" \
    --kv-budget 1G --cache-dir "$cache"
drop=0
[ "$(id -u)" = 0 ] && [ -w /proc/sys/vm/drop_caches ] && drop=1
node bench/swap.mjs "$URL" bench-admin "$SHAPE-q4_0" "$SHAPE-f16" "$drop" >"$OUT/swap.lines"
stop_server
node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
console.log("\n| swap to | page cache | load s | swap s | swap request -> first token s |");
console.log("| --- | --- | ---: | ---: | ---: |");
for (const r of rows.filter((r) => r.kind === "idle"))
  console.log(`| ${r.to} | ${r.cache} | ${r.load_s.toFixed(2)} | ${r.swap_s.toFixed(2)} | ${r.first_token_s.toFixed(2)} |`);
console.log("\n| stream across a swap to | tokens | finish | longest pause ms | swap s |");
console.log("| --- | ---: | --- | ---: | ---: |");
for (const r of rows.filter((r) => r.kind === "stream"))
  console.log(`| ${r.to} | ${r.tokens} | ${r.finish} | ${r.max_gap_ms.toFixed(0)} | ${r.swap_s.toFixed(2)} |`);
const page = rows.filter((r) => r.kind === "idle" && r.cache === "page");
const cut = rows.filter((r) => r.kind === "stream" && r.finish !== "length");
console.log(`\ntarget: 1B swap from page cache < 1 s: ${page.every((r) => r.first_token_s < 1) ? "met" : "NOT met"}` +
            `; no running stream cut: ${cut.length ? "NOT met" : "met"}`);
' "$OUT/swap.lines"
{
    printf '{%s, "rows": [' "$(bench_json_head "$cmd bench/swap.sh")"
    paste -sd, "$OUT/swap.lines"
    printf ']}\n'
} >"$OUT/swap.json"
bench_footer
