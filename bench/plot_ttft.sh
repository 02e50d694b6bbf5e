#!/bin/sh
# bench/plot_ttft.sh — docs/ttft.png from bench/out/ttft.json (bench/ttft.sh):
# TTFT against prompt tokens, cold vs warm per KV type, log y. Needs gnuplot.
set -e
cd "$(dirname "$0")/.."
JSON=${1:-bench/out/ttft.json}
PNG=${2:-docs/ttft.png}
dat=$(mktemp /tmp/am-ttft-plot-XXXXXX)
trap 'rm -f "$dat"' EXIT
# One block per KV type: tokens cold_ms warm_ms, blocks separated by two blank lines.
node -e '
const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const by = {};
for (const r of j.rows) (by[r.kv] ||= []).push(r.run);
for (const [kv, rows] of Object.entries(by)) {
  console.log("# " + kv);
  for (const r of rows.sort((a, b) => a.tokens - b.tokens)) console.log(r.tokens, r.cold_ms, r.warm_ms);
  console.log("\n");
}' "$JSON" >"$dat"
kvs=$(grep '^# ' "$dat" | cut -c3- | tr '\n' ' ')
plot=""
i=0
for kv in $kvs; do
    [ -n "$plot" ] && plot="$plot, "
    plot="$plot'$dat' index $i using 1:2 with linespoints title 'cold $kv', '$dat' index $i using 1:3 with linespoints title 'warm $kv'"
    i=$((i + 1))
done
gnuplot <<GP
set terminal pngcairo size 800,500 noenhanced
set output '$PNG'
set title 'agentmem TTFT, llama-1b shape (Q4_0), cold prefill vs warm from cache'
set xlabel 'prompt tokens'
set ylabel 'TTFT (ms)'
set logscale y
set grid
set key top left
plot $plot
GP
echo "wrote $PNG"
