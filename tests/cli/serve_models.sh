#!/bin/sh
# Models on demand: the allowlist (--models-dir, --model NAME=PATH), loads
# when a request names a model, two models loaded at once answering as each
# does alone, hot swaps through the admin API (warm after A -> B -> A, held
# requests, failed swaps leaving the old model serving and health degraded,
# one swap at a time), admin and API keys kept apart, dropping a model's
# caches. The swap under load lives in tests/clients/models.mjs.
set -u
. tests/serve_lib.sh
fail=0
bad() { echo "FAIL $*"; fail=1; }
ok() { echo "ok   $*"; }
J='content-type: application/json'
F=tests/fixtures/models
D="$TMP/models"
mkdir -p "$D" "$TMP/outside" "$D/gemma-hf"
cp "$F/llama3-tiny/llama3-tiny-q8_0.gguf" "$D/llama.gguf"
cp "$F/qwen2-tiny/qwen2-tiny-q8_0.gguf" "$D/qwen.gguf"
cp "$F/llama3-tiny/llama3-tiny-f16.gguf" "$D/big.gguf"
head -c 200000 /dev/urandom >"$D/bad.gguf"
head -c 1500000 "$D/llama.gguf" >"$D/trunc.gguf" # fails mid-load: header fine, tensors cut
for f in config.json model.safetensors tokenizer.model tokenizer_config.json; do cp "$F/gemma3-tiny/$f" "$D/gemma-hf/"; done
cp "$D/qwen.gguf" "$TMP/outside/secret.gguf"
ln -s "$TMP/outside/secret.gguf" "$D/escape.gguf"
ln -s "$TMP/outside" "$D/updir"
echo adm >"$TMP/admin"
echo key >"$TMP/key"
K='Authorization: Bearer key'
AK='X-Admin-Key: adm'

st() { curl -s -o "$TMP/body" -w '%{http_code}' "$@"; }
js() { node -e "const j=JSON.parse(require('fs').readFileSync('$TMP/body','utf8')); console.log($1)"; }
# chat MODEL AGENT -> body in $TMP/body, prints the status
chat() {
    st -H "$J" -H "$K" -H "X-Agent-Id: $2" \
        -d "{\"model\":\"$1\",\"messages\":[{\"role\":\"user\",\"content\":\"Say something about the sea and the sky.\"}],\"max_tokens\":12,\"temperature\":0,\"ignore_eos\":true}" \
        "$URL/v1/chat/completions"
}
text() { js 'j.choices[0].message.content'; }
cached() { js 'j.usage.prompt_tokens_details.cached_tokens'; }

# Reference answers: each model served alone.
MODEL="$D/llama.gguf" start_server --cache-dir "$TMP/c-ref1" --api-key-file "$TMP/key"
chat llama ref >/dev/null; ref_llama=$(text)
stop_server
MODEL="$D/qwen.gguf" start_server --cache-dir "$TMP/c-ref2" --api-key-file "$TMP/key"
chat qwen ref >/dev/null; ref_qwen=$(text)
stop_server
[ -n "$ref_llama" ] && [ "$ref_llama" != "$ref_qwen" ] || bad "reference answers missing or equal"

C="$TMP/cache"
MODEL="$D/llama.gguf" start_server --models-dir "$D" --models-max 2 --cache-dir "$C" \
    --api-key-file "$TMP/key" --admin-key-file "$TMP/admin"

# Bug: the allowlist lists files outside the directory, or misses a kind of model.
st -H "$K" "$URL/v1/models" >/dev/null
names=$(js 'j.data.map(m => m.id + ":" + m.state).sort().join(" ")')
[ "$names" = "bad:unloaded big:unloaded gemma-hf:unloaded llama:loaded qwen:unloaded trunc:unloaded" ] \
    && ok "models listed: $names" || bad "models listed: $names"

# Bug: requests reach files by path, .., or through symlinks out of the directory.
for m in escape updir ../outside/secret "$TMP/outside/secret.gguf" /etc/passwd nosuch; do
    s=$(chat "$m" allow)
    [ "$s" = 404 ] || bad "model '$m' answered $s, not 404"
    s=$(st -H "$AK" -H "$J" -d "{\"model\":\"$m\"}" "$URL/admin/models/load")
    [ "$s" = 404 ] || bad "admin load of '$m' answered $s, not 404"
done
ok "paths, .., symlinks out and unknown names refused"

# Bug: the admin key works as an API key, or the API key opens admin routes.
[ "$(st -H 'Authorization: Bearer adm' -H "$J" -d '{"messages":[{"role":"user","content":"x"}],"max_tokens":1}' "$URL/v1/chat/completions")" = 401 ] || bad "admin key accepted as an API key"
[ "$(st -H "$K" "$URL/admin/models")" = 401 ] || bad "API key opened an admin route"
[ "$(st "$URL/admin/models")" = 401 ] || bad "admin route without a key"
[ "$(st -H "$K" -H "$J" -d '{"model":"qwen"}' "$URL/admin/models/swap")" = 401 ] || bad "swap with the API key"
[ "$(st -H "$AK" "$URL/admin/models")" = 200 ] || bad "admin key refused"
[ "$(st -H 'Authorization: Bearer adm' "$URL/admin/models")" = 200 ] || bad "admin key as bearer refused"
ok "admin and API keys kept apart"

# Bug: a second model's answers differ from the model alone (shared state
# between loaded models), or a request for an unloaded model fails.
chat qwen q1 >/dev/null; [ "$(text)" = "$ref_qwen" ] || bad "qwen loaded on demand answers differently"
for i in 1 2 3; do
    chat llama "il$i" >"$TMP/s1" &
    p1=$!
    curl -s -o "$TMP/b2" -H "$J" -H "$K" -H "X-Agent-Id: iq$i" \
        -d '{"model":"qwen","messages":[{"role":"user","content":"Say something about the sea and the sky."}],"max_tokens":12,"temperature":0,"ignore_eos":true}' \
        "$URL/v1/chat/completions"
    wait $p1
    t1=$(text)
    t2=$(node -e "console.log(JSON.parse(require('fs').readFileSync('$TMP/b2','utf8')).choices[0].message.content)")
    [ "$t1" = "$ref_llama" ] || bad "llama interleaved with qwen answers differently ($i)"
    [ "$t2" = "$ref_qwen" ] || bad "qwen interleaved with llama answers differently ($i)"
done
ok "two models loaded at once answer as each does alone"

# Bug: a request without a model field goes somewhere else than the default.
st -H "$J" -H "$K" -d '{"messages":[{"role":"user","content":"Say something about the sea and the sky."}],"max_tokens":12,"temperature":0,"ignore_eos":true}' "$URL/v1/chat/completions" >/dev/null
[ "$(text)" = "$ref_llama" ] && [ "$(js j.model)" = llama ] || bad "no model field: not the default model"

# Swap A -> B -> A: the agent's first turn back on A is warm (caches are per model).
chat llama sw >/dev/null; first=$(text)
s=$(st -H "$AK" -H "$J" -d '{"model":"qwen","drain_timeout_s":5}' "$URL/admin/models/swap")
[ "$s" = 200 ] || { bad "swap to qwen: $s"; cat "$TMP/body"; }
[ "$(js j.previous)" = llama ] || bad "swap report: $(cat "$TMP/body")"
st -H "$J" -H "$K" -H 'X-Agent-Id: sw' -d '{"messages":[{"role":"user","content":"Say something about the sea and the sky."}],"max_tokens":12,"temperature":0,"ignore_eos":true}' "$URL/v1/chat/completions" >/dev/null
[ "$(js j.model)" = qwen ] && [ "$(text)" = "$ref_qwen" ] || bad "after the swap the default is not qwen"
s=$(st -H "$AK" -H "$J" -d '{"model":"llama"}' "$URL/admin/models/swap")
[ "$s" = 200 ] || bad "swap back to llama: $s"
chat llama sw >/dev/null
c=$(cached)
[ "$c" -gt 0 ] && [ "$(text)" = "$first" ] && ok "after llama -> qwen -> llama the agent is warm (cached $c)" \
    || bad "after A -> B -> A: cached $c, text '$(text)' vs '$first'"
n=$(ls "$C"/*/*-sw.amkv 2>/dev/null | wc -l)
[ "$n" -ge 2 ] || bad "expected the agent's cache files of both models, found $n"

# Bug: a failed swap kills the old model or is not reported.
for m in bad trunc; do
    s=$(st -H "$AK" -H "$J" -d "{\"model\":\"$m\"}" "$URL/admin/models/swap")
    case "$s" in 4*|5*) ;; *) bad "swap to $m answered $s" ;; esac
    [ "$(chat llama after-bad)" = 200 ] && [ "$(text)" = "$ref_llama" ] || bad "old model not serving after a failed swap to $m"
    [ "$(st "$URL/health/ready")" = 503 ] && grep -q "$m" "$TMP/body" || bad "ready not degraded after a failed swap: $(cat "$TMP/body")"
done
curl -s -H "$K" "$URL/metrics" | grep -q '^agentmem_model_swap_failures_total 2$' || bad "swap failure not counted"
curl -s -H "$K" "$URL/metrics" | grep -q '^agentmem_degraded 1$' || bad "degraded gauge"
rm "$D/qwen.gguf"
s=$(st -H "$AK" -H "$J" -d '{"model":"qwen"}' "$URL/admin/models/swap")
[ "$s" = 404 ] || bad "swap to a deleted file answered $s"
[ "$(chat llama after-missing)" = 200 ] || bad "old model not serving after a swap to a missing file"
cp "$F/qwen2-tiny/qwen2-tiny-q8_0.gguf" "$D/qwen.gguf"
s=$(st -H "$AK" -H "$J" -d '{"model":"gemma-hf"}' "$URL/admin/models/swap")
[ "$s" = 200 ] || { bad "swap to the HF folder: $s"; cat "$TMP/body"; }
[ "$(st "$URL/health/ready")" = 200 ] && ok "a good swap clears degraded" || bad "still not ready after a good swap"
[ "$(st -H "$J" -H "$K" -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":4}' "$URL/v1/chat/completions")" = 200 ] \
    && [ "$(js j.model)" = gemma-hf ] || bad "HF folder model does not serve"
st -H "$AK" -H "$J" -d '{"model":"llama"}' "$URL/admin/models/swap" >/dev/null

# Bug: two swaps run at once. The first waits on a running stream (drain).
curl -s -N -H "$J" -H "$K" -H 'X-Agent-Id: long' -d '{"model":"llama","messages":[{"role":"user","content":"go"}],"max_tokens":8000,"ignore_eos":true,"stream":true}' "$URL/v1/chat/completions" >"$TMP/long.txt" &
lp=$!
sleep 0.3
curl -s -o "$TMP/sw1" -w '%{http_code}' -H "$AK" -H "$J" -d '{"model":"qwen","drain_timeout_s":1}' "$URL/admin/models/swap" >"$TMP/sw1.st" &
sp=$!
sleep 0.2
s2=$(st -H "$AK" -H "$J" -d '{"model":"llama"}' "$URL/admin/models/swap")
# a request held during the drain goes to the new model
s3=$(st -H "$J" -H "$K" -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}' "$URL/v1/chat/completions")
m3=$(js j.model)
wait $sp; wait $lp
[ "$s2" = 409 ] || bad "concurrent swap answered $s2, not 409"
[ "$(cat "$TMP/sw1.st")" = 200 ] || bad "the first swap failed: $(cat "$TMP/sw1")"
[ "$s3" = 200 ] && [ "$m3" = qwen ] || bad "held request: $s3 on '$m3'"
grep -q '"finish_reason":"length"' "$TMP/long.txt" && tail -c 20 "$TMP/long.txt" | grep -q 'data: \[DONE\]' \
    || bad "the stream cut at the drain deadline did not end cleanly"
ok "one swap at a time; held requests go to the new model; a cut stream ends cleanly"

# Bug: a cache write that fails during a swap's drain aborts the swap, or the
# agents whose caches were lost are not listed in the answer and counted.
# (qwen is the default here.) Its model directory is replaced by a file, so
# every write of it fails, even as root.
chat qwen lost0 >/dev/null
i=0; while [ $i -lt 100 ] && ! ls "$C"/*/*-lost0.amkv >/dev/null 2>&1; do sleep 0.1; i=$((i + 1)); done
Q=$(dirname "$(ls "$C"/*/*-lost0.amkv | head -n 1)")
mv "$Q" "$Q.away" && touch "$Q"
chat qwen lost1 >/dev/null
s=$(st -H "$AK" -H "$J" -d '{"model":"llama"}' "$URL/admin/models/swap")
lost=$(js 'j.caches_lost.map(a => a.id).join()')
[ "$s" = 200 ] && echo "$lost" | grep -q lost1 && ok "a swap with a failed cache write completes and lists it ($lost)" \
    || bad "swap with a failing cache dir: $s, lost '$lost'"
curl -s -H "$K" "$URL/metrics" | grep -q '^agentmem_cache_lost_total [1-9]' || bad "lost caches not counted"
rm -f "$Q" && mv "$Q.away" "$Q"

# Bug: dropping a model's caches leaves files, or drops another model's.
n_before=$(ls "$C"/*/*.amkv | wc -l)
s=$(st -H "$AK" -X DELETE "$URL/admin/cache/llama")
[ "$s" = 200 ] || bad "DELETE /admin/cache/llama: $s"
dropped=$(js j.dropped)
n_after=$(ls "$C"/*/*.amkv 2>/dev/null | wc -l)
[ "$dropped" -gt 0 ] && [ "$n_after" -lt "$n_before" ] && [ "$n_after" -gt 0 ] \
    && ok "llama's caches dropped ($dropped), qwen's kept" || bad "drop: $dropped dropped, $n_before -> $n_after files"
[ "$(st -H "$AK" -X DELETE "$URL/admin/cache/nosuch")" = 404 ] || bad "drop of an unknown model"

# Bug: deleting an agent walks the loaded model's directory too, as if it were
# the files of an unloaded model — the cache file of an agent whose request is
# running (the scheduler answers 409 and keeps it) is unlinked behind its back.
chat llama busy >/dev/null
i=0; while [ $i -lt 100 ] && ! ls "$C"/*/*-busy.amkv >/dev/null 2>&1; do sleep 0.1; i=$((i + 1)); done
curl -s -N -H "$J" -H "$K" -H "X-Agent-Id: busy" \
    -d '{"model":"llama","messages":[{"role":"user","content":"Say something about the sea and the sky."}],"max_tokens":3000,"ignore_eos":true,"stream":true}' \
    "$URL/v1/chat/completions" >"$TMP/busy.txt" &
bp=$!
i=0; while [ $i -lt 100 ] && ! grep -qs content "$TMP/busy.txt"; do sleep 0.05; i=$((i + 1)); done
s=$(st -H "$K" -X DELETE "$URL/v1/agents/busy")
[ "$s" = 409 ] && ls "$C"/*/*-busy.amkv >/dev/null 2>&1 && ok "a running agent's delete is 409 and keeps its file" \
    || bad "delete of a running agent: $s, file $(ls "$C"/*/*-busy.amkv 2>/dev/null)"
kill $bp 2>/dev/null; wait $bp 2>/dev/null
[ "$(st -H "$AK" -X POST "$URL/admin/cache/flush")" = 200 ] || bad "flush"
[ "$(st -H "$AK" -H "$J" -d '{"model":"gemma-hf"}' "$URL/admin/models/unload")" = 200 ] || bad "unload"
st -H "$AK" "$URL/admin/models" >/dev/null
[ "$(js 'j.data.find(m => m.id == "gemma-hf").state')" = unloaded ] || bad "unloaded model still loaded"
stop_server

# Bug: a model over --weights-budget is loaded anyway, or its failure is silent.
MODEL="$D/llama.gguf" start_server --models-dir "$D" --weights-budget 3M --cache-dir "$TMP/c3" --admin-key-file "$TMP/admin"
s=$(st -H "$AK" -H "$J" -d '{"model":"big"}' "$URL/admin/models/swap")
[ "$s" = 507 ] && grep -q weights-budget "$TMP/body" || bad "too big for the budget: $s $(cat "$TMP/body")"
[ "$(st "$URL/health/ready")" = 503 ] || bad "not degraded after a swap over the budget"
# --models-max 1 (default): a request for another model unloads the idle one
[ "$(chat qwen one)" = 200 ] && [ "$(text)" = "$ref_qwen" ] || bad "load on demand with --models-max 1"
st -H "$AK" "$URL/admin/models" >/dev/null
[ "$(js 'j.data.filter(m => m.state == "loaded").map(m => m.id).join()')" = qwen ] || bad "models-max 1: $(cat "$TMP/body")"
stop_server

# Bug: --pin is ignored and the pinned model is unloaded for another; or an
# explicit --kv-budget is changed (rounded up to a floor) on its way to the pool.
MODEL="$D/llama.gguf" start_server --models-dir "$D" --pin llama --cache-dir "$TMP/c4" --kv-budget 3M
b=$(curl -s "$URL/metrics" | sed -n 's/^agentmem_kv_bytes_budget //p')
[ "$b" -le 3145728 ] && [ "$b" -gt 2000000 ] || bad "--kv-budget 3M gave a pool of $b bytes"
s=$(chat qwen pin)
[ "$s" = 503 ] || bad "a request needing the pinned model's slot answered $s"
[ "$(chat llama pin)" = 200 ] && ok "--weights-budget, --models-max 1 and --pin hold" || bad "pinned model not serving"
stop_server

# Swaps under load (tests/clients/models.mjs): 8 streaming agents, 20 swaps.
MODEL="$D/llama.gguf" start_server --models-dir "$D" --cache-dir "$TMP/c5" --admin-key-file "$TMP/admin"
AGENTMEM_URL=$URL ADMIN_KEY=adm CACHE_DIR="$TMP/c5" MODELS=llama,qwen node tests/clients/models.mjs || fail=1
stop_server
exit $fail
