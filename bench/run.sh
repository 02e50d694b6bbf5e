#!/bin/sh
# bench/run.sh — the issue's benchmark: Llama-3.2-1B-shaped synthetic models
# (agentmem mkmodel --shape llama-1b) in Q4_0, Q8_0 and F16, prompt processing
# (pp512) and generation (tg128) with 2 threads. Builds if needed, generates
# the models into bench/out/ once, prints a table next to llama.cpp's numbers
# on the same machine kind (docs/BENCHMARKS.md), writes bench/out/results.json.
#
# Environment: BUILD (build dir, default build), THREADS (2), REPS (3),
# TYPES ("q4_0 q8_0 f16"), PP (512) and TG (128) for quick checks.
set -e
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
REPS=${REPS:-3}
TYPES=${TYPES:-"q4_0 q8_0 f16"}
PP=${PP:-512}
TG=${TG:-128}
AM="$BUILD/agentmem"
OUT=bench/out

make -s -j2 BUILD="$BUILD" "$AM"
mkdir -p "$OUT"

# llama.cpp (mid-2025 build, 2 threads, same machine kind): pp512 and tg64.
ref() {
    case "$1" in
    q4_0) echo "150 31" ;;
    q8_0) echo "97 21" ;;
    f16) echo "132 14.5" ;;
    *) echo "- -" ;;
    esac
}
num() { sed -n "s/.*\"$1\": \([0-9.]*\).*/\1/p"; }

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
flags=$(grep -m 1 '^flags' /proc/cpuinfo)
isa=""
for f in avx2 avx512f avx512_vnni avx512_bf16; do
    case " $flags " in *" $f "*) isa="$isa $f" ;; esac
done
load_before=$(cut -d ' ' -f 1-3 /proc/loadavg)

rows=""
json=""
for t in $TYPES; do
    m="$OUT/llama-1b-$t.gguf"
    [ -f "$m" ] || "$AM" mkmodel --shape llama-1b --type "$t" --seed 1 --quiet "$m"
    echo "bench: $m ($THREADS threads, $REPS reps)..." >&2
    line=$("$AM" bench --model "$m" --threads "$THREADS" --reps "$REPS" --pp "$PP" --tg "$TG" --json)
    json="$json${json:+,
    }$line"
    pp=$(echo "$line" | num "pp$PP")
    tg=$(echo "$line" | num "tg$TG")
    size=$(echo "$line" | num size)
    set -- $(ref "$t")
    mib=$(awk "BEGIN { printf \"%.0f\", $size / 1048576 }")
    rows="$rows$(printf '| %-5s | %8s MiB | %9s | %9s | %15s | %14s |' "$t" "$mib" "$pp" "$tg" "$1" "$2")
"
done
load_after=$(cut -d ' ' -f 1-3 /proc/loadavg)

printf '\nagentmem bench, llama-1b shape (Llama-3.2-1B), %s threads, %s reps, %s — %s (%s cores;%s)\n' \
    "$THREADS" "$REPS" "$(git rev-parse --short HEAD 2>/dev/null)" "$cpu" "$(nproc)" "$isa"
printf 'load average before: %s, after: %s\n\n' "$load_before" "$load_after"
printf '| type  |      weights | %9s | %9s | llama.cpp pp512 | llama.cpp tg64 |\n' "pp$PP t/s" "tg$TG t/s"
printf '| ----- | -----------: | --------: | --------: | --------------: | -------------: |\n'
printf '%s' "$rows"

cat > "$OUT/results.json" <<JSON
{
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "commit": "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)",
  "cpu": "$cpu",
  "cores": $(nproc),
  "isa": "$(echo $isa)",
  "threads": $THREADS,
  "reps": $REPS,
  "load_before": "$load_before",
  "load_after": "$load_after",
  "results": [
    $json
  ]
}
JSON
echo "wrote $OUT/results.json" >&2
