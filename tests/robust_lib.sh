# robust_lib.sh — helpers for the live robustness tests, sourced after
# tests/serve_lib.sh: a generated tiny model, JSON requests, /metrics and
# /proc readings, and polling with a deadline.
J='content-type: application/json'
"$A" mkmodel --shape tiny --type q8_0 --seed 3 --quiet "$TMP/tiny.gguf" || { echo "mkmodel failed"; exit 1; }
MODEL="$TMP/tiny.gguf"
# Under AddressSanitizer memory is shadowed and quarantined: RSS bounds do
# not apply (the tests skip them and say so).
SANITIZED=0
ldd "$A" 2>/dev/null | grep -q libasan && SANITIZED=1
export SANITIZED

# jget FILE EXPR: EXPR evaluated in node over the JSON in FILE as j.
jget() { node -e "const j=JSON.parse(require('fs').readFileSync(process.argv[1],'utf8')); console.log($2)" "$1"; }
# metric NAME: the value of an unlabelled sample in /metrics (empty if none).
metric() { curl -s -m 5 "$URL/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
# chat_body CONTENT MAXTOK: a temperature-0 chat body on stdout.
chat_body() {
    node -e 'console.log(JSON.stringify({messages:[{role:"user",content:process.argv[1]}],max_tokens:+process.argv[2],temperature:0,ignore_eos:true}))' "$1" "$2"
}
# chat AGENT CONTENT MAXTOK OUT: POST /v1/chat/completions; prints the status.
chat() {
    chat_body "$2" "$3" >"$4.req"
    curl -s -m 60 -o "$4" -w '%{http_code}' -H "$J" -H "X-Agent-Id: $1" --data-binary @"$4.req" "$URL/v1/chat/completions"
}
# wait_until SECONDS CMD...: runs CMD every 50 ms until it succeeds; 1 on timeout.
wait_until() {
    end=$(( $(date +%s%N) + $1 * 1000000000 )); shift
    while ! "$@"; do
        [ "$(date +%s%N)" -lt "$end" ] || return 1
        sleep 0.05
    done
}
# proc_kb PID FIELD: VmRSS / VmHWM of a process in kB.
proc_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
# tmp_files DIR: cache temp files left in DIR (count).
tmp_files() { find "$1" -name '*.amkv.tmp*' 2>/dev/null | wc -l; }
