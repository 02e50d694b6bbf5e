#!/bin/sh
# bench/plot_ttft.sh — a PNG from bench/out/ttft.json (bench/ttft.sh): TTFT
# against prompt tokens, log-log: cold prefill, warm (page cache), warm_disk
# (page cache dropped) and restart per KV type, and llama.cpp's cold prefill
# when the run measured it. Needs gnuplot (Debian: apt-get install gnuplot-nox).
# Usage: bench/plot_ttft.sh [ttft.json] [out.png]   (default docs/ttft.png)
set -e
cd "$(dirname "$0")/.."
JSON=${1:-bench/out/ttft.json}
PNG=${2:-docs/ttft.png}
command -v gnuplot >/dev/null || { echo "plot_ttft.sh: needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 1; }
dat=$(mktemp /tmp/am-ttft-plot-XXXXXX)
trap 'rm -f "$dat"' EXIT
# One block per KV type (tokens cold warm warm_disk restart), then one for
# llama.cpp (tokens cold); blocks separated by two blank lines; "?" = missing.
node -e '
const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const v = (x) => (x == null ? "?" : x);
const med = (a) => { const s = a.filter((x) => x != null).sort((x, y) => x - y); return s.length ? s[Math.floor(s.length / 2)] : null; };
const by = {};
for (const r of j.rows) (by[r.kv] ||= []).push(r);
for (const [kv, rows] of Object.entries(by)) {
  console.log("# " + kv);
  for (const r of rows.sort((a, b) => a.run.tokens - b.run.tokens))
    console.log(r.run.tokens, v(r.run.cold_ms), v(r.run.warm_ms), v(r.run.warm_disk_ms), v(med(r.restart.map((q) => q.restart_ms))));
  console.log("\n");
}
if (j.llamacpp && j.llamacpp.ok && Object.keys(j.llamacpp.ttft_ms).length) {
  console.log("# llama.cpp");
  for (const [n, ms] of Object.entries(j.llamacpp.ttft_ms).sort((a, b) => a[0] - b[0])) console.log(n, ms);
  console.log("\n");
}' "$JSON" >"$dat"
plot=""
i=0
for name in $(grep '^# ' "$dat" | cut -c3-); do
    [ -n "$plot" ] && plot="$plot, "
    if [ "$name" = llama.cpp ]; then
        plot="$plot'$dat' index $i using 1:2 with linespoints lw 2 dt 2 title 'llama.cpp cold'"
    else
        plot="$plot'$dat' index $i using 1:2 with linespoints title 'cold $name', '$dat' index $i using 1:3 with linespoints title 'warm $name', '$dat' index $i using 1:4 with linespoints title 'warm_disk $name', '$dat' index $i using 1:5 with points title 'restart $name'"
    fi
    i=$((i + 1))
done
term=pngcairo
gnuplot -e 'set terminal' 2>/dev/null | grep -q pngcairo || term=png
gnuplot <<GP
set terminal $term size 900,560 noenhanced
set output '$PNG'
set datafile missing '?'
set title 'agentmem TTFT, $(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).model.split("/").pop())' "$JSON"): cold prefill vs warm from the cache file'
set xlabel 'prompt tokens'
set ylabel 'TTFT (ms)'
set logscale xy
set grid
set key outside right
plot $plot
GP
echo "wrote $PNG"
