# bench/lib.sh — shared by the bench scripts (sourced, POSIX sh): the machine
# header every script prints, the model it benchmarks, a live server's start
# and stop, and the run-time estimate. Expects AM (the agentmem binary) and
# OUT (bench/out) to be set.

# The CPU, cores, load average and command line; sets BENCH_CPU, BENCH_LOAD0.
bench_header() { # $1 script name, rest: its settings (shown as the command)
    BENCH_CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    BENCH_LOAD0=$(cut -d ' ' -f 1-3 /proc/loadavg)
    BENCH_T0=$(date +%s)
    name=$1
    shift
    echo "machine: ${BENCH_CPU:-unknown CPU}, $(nproc) cores; load average at start: $BENCH_LOAD0"
    echo "command: $* $name"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown); date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
bench_footer() {
    BENCH_LOAD1=$(cut -d ' ' -f 1-3 /proc/loadavg)
    echo "load average at end: $BENCH_LOAD1 (at start: $BENCH_LOAD0; on 2 cores, anything above ~2 is a neighbour)"
    echo "took $(fmt_min $(($(date +%s) - BENCH_T0))) (estimated $(fmt_min "${BENCH_EST:-0}"); set EST_PP from this run's cold prefill rate to calibrate)"
}
# A JSON object with the header's fields (no braces), for the JSON outputs.
bench_json_head() { # $1 command
    printf '"cpu": "%s", "cores": %s, "commit": "%s", "date": "%s", "load_start": "%s", "load_end": "%s", "command": "%s"' \
        "$BENCH_CPU" "$(nproc)" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$BENCH_LOAD0" "$(cut -d ' ' -f 1-3 /proc/loadavg)" \
        "$(printf '%s' "$1" | sed 's/["\\]/\\&/g')"
}

# The model: MODEL if set, else mkmodel's SHAPE (llama-1b) in TYPE (q4_0),
# generated into bench/out once.
bench_model() {
    SHAPE=${SHAPE:-llama-1b}
    WTYPE=${WTYPE:-q4_0}
    if [ -z "$MODEL" ]; then
        MODEL="$OUT/$SHAPE-$WTYPE.gguf"
        [ -f "$MODEL" ] || "$AM" mkmodel --shape "$SHAPE" --type "$WTYPE" --seed 1 --quiet "$MODEL"
    fi
    [ -f "$MODEL" ] || { echo "no model $MODEL" >&2; exit 1; }
}

# Starts `agentmem serve` on MODEL with the given flags; sets PID and URL.
start_server() { # $1 log file, rest: serve flags
    log=$1
    shift
    "$AM" serve --model "$MODEL" --port 0 "$@" >"$log" 2>&1 &
    PID=$!
    for _ in $(seq 1200); do
        URL=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$log" | head -n 1)
        [ -n "$URL" ] && return 0
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "server did not start:" >&2
    cat "$log" >&2
    exit 1
}
stop_server() { kill -TERM "$PID"; wait "$PID" || true; }

# Estimated seconds of one cold prefill of $1 tokens: EST_PP tokens/s (190:
# llama-1b Q4_0 pp512 on a quiet 2-core Zen 5, docs/BENCHMARKS.md; set it from
# a previous run), slowed by attention as the context grows.
est_prefill() { awk -v n="$1" -v pp="${EST_PP:-190}" 'BEGIN { printf "%.0f", n / pp * (1 + n / 16384) }'; }
EST_START=4 # seconds to start a server (the model mmapped, in the page cache)
fmt_min() { awk -v s="$1" 'BEGIN { printf "%d min %02d s", s / 60, s % 60 }'; }

# llama.cpp through node-llama-cpp (bench/llamacpp.mjs): its JSON, or
# {"ok": false, ...} when it is not installed or fails; never fails the caller.
llamacpp_json() { # env: THREADS PP TG REPS TTFT
    if [ "${LLAMACPP:-1}" = 0 ]; then
        echo '{"ok": false, "error": "skipped (LLAMACPP=0)"}'
        return 0
    fi
    o=$(timeout "${LLAMACPP_TIMEOUT:-3600}" node bench/llamacpp.mjs "$MODEL" 2>/dev/null | tail -n 1) || o=""
    case $o in
    '{"ok":'*) echo "$o" ;;
    *) echo '{"ok": false, "error": "bench/llamacpp.mjs crashed or timed out"}' ;;
    esac
}
