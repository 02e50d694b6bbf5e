#!/usr/bin/env python3
"""train/train.py — trains the default model from scratch on train/corpus.py's text.

Runs where PyTorch, transformers and tokenizers are (the lent GPU machine);
writes a Hugging Face folder that agentmem loads directly and converts to the
shipped GGUF (`agentmem convert`), plus the goldens the tests check it by.

  1. a byte-level BPE vocabulary (Llama 3's pre-tokenizer regex, VOCAB pieces)
     trained on the training split only, with six special tokens:
       <|begin_of_text|> <|end_of_text|> <|system|> <|user|> <|assistant|> <|end|>
  2. a Llama-architecture model (GQA, RoPE, SwiGLU, tied embeddings; shape
     below), trained on documents <|begin_of_text|> text <|end_of_text|> packed
     into CTX-token rows, with CHAT_SHARE of the tokens chat turns made from
     the dictionary definitions, rendered by the model's own chat template;
  3. the held-out split is never trained on: it gives the eval loss during
     training and the reference perplexity at the end (llama.cpp's method, as
     `agentmem perplexity`: chunks of N tokens, the first replaced by BOS,
     each scored on its second half), N = 512 and 2048;
  4. goldens in the layout of the reference fixtures (golden.json beside
     float32 logits files, computed in float32 from the saved bf16 weights,
     eager attention): 48 tokens, 16 tokens at positions 3000.., the last 8
     of 300 tokens, a greedy continuation; and the greedy answers of fixed
     prompts.

Usage: python3 train/train.py --corpus DIR --out DIR [--minutes M] [--seed S]
"""
import argparse
import gzip
import json
import math
import os
import random
import time

import torch
import torch.nn.functional as F
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM

SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
BOS, EOT, END = 0, 1, 5
# Llama 3's pre-tokenizer split (the regex its tokenizer.json carries).
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)
SYSTEMS = ["You are a helpful assistant.", "You are a dictionary. Answer with definitions.",
           "Answer briefly and clearly.", "You explain English words."]
PROBES = ["What does \"harbor\" mean?", "Define courage.", "What is the meaning of kettle?",
          "Can you explain the word \"gentle\"?"]


def read_docs(path):
    with (gzip.open(path, "rt", encoding="utf-8") if path.endswith(".gz") else open(path, encoding="utf-8")) as f:
        return [d.strip("\n") for d in f.read().split("\n\x1e\n") if d.strip()]


def read_turns(path):
    with (gzip.open(path, "rt", encoding="utf-8") if path.endswith(".gz") else open(path, encoding="utf-8")) as f:
        return [json.loads(l) for l in f if l.strip()]


def find(corpus, name):
    for ext in ("", ".gz"):
        p = os.path.join(corpus, name + ext)
        if os.path.exists(p):
            return p
    raise SystemExit(f"train.py: {name} not in {corpus}")


def train_tokenizer(docs, vocab):
    tok = Tokenizer(models.BPE(byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=SPECIALS, min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    # the chat markers' surroundings are plain text too: train on documents only
    tok.train_from_iterator(docs, trainer=trainer, length=len(docs))
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
        special_tokens=[("<|begin_of_text|>", BOS)])
    for i, s in enumerate(SPECIALS):
        assert tok.token_to_id(s) == i, (s, tok.token_to_id(s))
    return tok


def render(messages, add_generation_prompt):
    """The chat template, in Python (train.py checks it against transformers' rendering)."""
    out = SPECIALS[BOS]
    for m in messages:
        out += f"<|{m['role']}|>\n{m['content']}<|end|>\n"
    if add_generation_prompt:
        out += "<|assistant|>\n"
    return out


def chat_conversations(tok, turns, rng):
    """Every turn once, in conversations of 1-3 turns, half with a system message: id tensors."""
    order = list(range(len(turns)))
    rng.shuffle(order)
    texts, i = [], 0
    while i < len(order):
        k = rng.choice([1, 1, 2, 3])
        msgs = [{"role": "system", "content": rng.choice(SYSTEMS)}] if rng.random() < 0.5 else []
        for t in order[i:i + k]:
            msgs += [{"role": "user", "content": turns[t]["user"]}, {"role": "assistant", "content": turns[t]["assistant"]}]
        i += k
        texts.append(render(msgs, False))
    return [torch.tensor(e.ids + [EOT], dtype=torch.int32) for e in tok.encode_batch(texts, add_special_tokens=False)]


def doc_stream(tok, docs):
    ids = []
    for enc in tok.encode_batch(docs, add_special_tokens=True):  # BOS from the post-processor
        ids.extend(enc.ids + [EOT])
    return ids


def epoch_rows(doc_t, convs, n_chat, ctx, rng):
    """One epoch: the documents (fixed order) and a fresh random n_chat tokens of
    conversations, cut into rows of ctx+1 tokens, rows shuffled."""
    pick, n = [], 0
    for j in torch.randperm(len(convs), generator=torch.Generator().manual_seed(rng.randrange(1 << 30))).tolist():
        if n >= n_chat:
            break
        pick.append(convs[j])
        n += len(convs[j])
    t = torch.cat([doc_t] + pick)
    m = (len(t) - 1) // ctx
    r = t[: m * ctx + 1].unfold(0, ctx + 1, ctx)  # [m][ctx+1], consecutive rows share their edge token
    return r[torch.randperm(m, generator=torch.Generator().manual_seed(rng.randrange(1 << 30)))]


def rows(stream, ctx, rng):
    """Rows of ctx+1 tokens cut from a stream, shuffled."""
    t = torch.tensor(stream, dtype=torch.int32)
    m = (len(t) - 1) // ctx
    r = t[: m * ctx + 1].unfold(0, ctx + 1, ctx)
    return r[torch.randperm(m, generator=torch.Generator().manual_seed(rng.randrange(1 << 30)))]


@torch.no_grad()
def eval_loss(model, held, ctx, dev, max_rows=64):
    model.eval()
    losses = []
    for i in range(0, min(len(held), max_rows), 16):
        b = held[i:i + 16].to(dev).long()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(b[:, :-1]).logits
        losses.append(F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), b[:, 1:].reshape(-1)).item())
    model.train()
    return sum(losses) / len(losses)


@torch.no_grad()
def perplexity(model, ids, n_ctx, dev):
    """llama.cpp's perplexity: chunks of n_ctx tokens, token 0 := BOS, NLL over the second half."""
    nll, cnt, per_chunk = 0.0, 0, []
    for c in range(len(ids) // n_ctx):
        x = torch.tensor([BOS] + ids[c * n_ctx + 1:(c + 1) * n_ctx], device=dev)[None]
        logits = model(x).logits[0].float()
        first = n_ctx // 2
        lp = F.log_softmax(logits[first - 1:n_ctx - 1], dim=-1)
        tgt = x[0, first:n_ctx]
        s = -lp.gather(1, tgt[:, None]).sum().item()
        per_chunk.append(s / (n_ctx - first))
        nll += s
        cnt += n_ctx - first
    return math.exp(nll / cnt), per_chunk


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=5.0, help="training time budget")
    ap.add_argument("--max-epochs", type=float, default=8.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=1408)
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=32, help="rows per step")
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--chat-share", type=float, default=0.12)
    ap.add_argument("--docs-frac", type=float, default=1.0, help="use this share of the documents (a quick check)")
    args = ap.parse_args()
    t_start = time.time()
    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    dev = "cuda"
    log = {"args": vars(args)}
    os.makedirs(args.out, exist_ok=True)

    docs = read_docs(find(args.corpus, "train.txt"))
    held_docs = read_docs(find(args.corpus, "heldout.txt"))
    turns = read_turns(find(args.corpus, "chat_train.jsonl"))
    if args.docs_frac < 1.0:
        docs = docs[:: int(1 / args.docs_frac)]
        turns = turns[:: int(1 / args.docs_frac)]
    tok = train_tokenizer(docs, args.vocab)
    print(f"tokenizer: {tok.get_vocab_size()} pieces, {time.time() - t_start:.0f} s", flush=True)
    doc_ids = doc_stream(tok, docs)
    held_ids = doc_stream(tok, held_docs)
    n_chat = int(len(doc_ids) * args.chat_share / (1 - args.chat_share))
    log["tokens"] = {"train_docs": len(doc_ids), "heldout": len(held_ids), "chat_per_epoch": n_chat,
                     "train_bytes": sum(len(d.encode()) for d in docs)}
    print(f"tokens: {log['tokens']}", flush=True)
    held = rows(held_ids, args.ctx, random.Random(0))

    cfg = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=args.hidden, intermediate_size=args.ffn,
                      num_hidden_layers=args.layers, num_attention_heads=args.heads,
                      num_key_value_heads=args.kv_heads, head_dim=args.hidden // args.heads,
                      max_position_embeddings=args.ctx, rope_theta=10000.0, rms_norm_eps=1e-5,
                      tie_word_embeddings=True, hidden_act="silu", attention_bias=False, mlp_bias=False,
                      bos_token_id=BOS, eos_token_id=END, pad_token_id=EOT, initializer_range=0.02)
    model = LlamaForCausalLM(cfg).to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    log["params"] = n_params
    print(f"model: {n_params / 1e6:.1f}M parameters", flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=True)
    doc_t = torch.tensor(doc_ids, dtype=torch.int32)
    convs = chat_conversations(tok, turns, rng)
    steps_per_epoch = (len(doc_ids) + n_chat) // (args.ctx * args.batch)
    total = int(steps_per_epoch * args.max_epochs)
    warm = min(200, total // 20)
    history = []
    step, epoch, t0 = 0, 0, time.time()
    budget_s = args.minutes * 60 - (t0 - t_start)  # the budget counts from the start, preparation included
    est_total, t10 = total, t0
    model.train()
    done = False
    print(f"data ready at {t0 - t_start:.0f} s: {steps_per_epoch} steps an epoch, {len(convs)} conversations", flush=True)
    while not done:
        data = epoch_rows(doc_t, convs, n_chat, args.ctx, rng)
        epoch += 1
        for i in range(0, len(data) - args.batch + 1, args.batch):
            if step == 10:
                t10 = time.time()
            if step == 60:  # steps the budget allows, from the pure step time (leaving 60 s for the end)
                per = (time.time() - t10) / 50
                est_total = min(total, int((budget_s - 60 - (time.time() - t0)) / per) + step)
                print(f"{per * 1000:.0f} ms a step: {est_total} steps", flush=True)
            # cosine schedule over the steps the time budget allows
            frac = min(1.0, step / max(1, est_total))
            lr = args.lr * (step / warm if step < warm else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
            for g in opt.param_groups:
                g["lr"] = lr
            b = data[i:i + args.batch].to(dev, non_blocking=True).long()
            with torch.autocast("cuda", dtype=torch.bfloat16):
                logits = model(b[:, :-1]).logits
            loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), b[:, 1:].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            if step % 100 == 0 or step == 1:
                ev = eval_loss(model, held, args.ctx, dev) if step % 200 == 0 else None
                history.append({"step": step, "epoch": epoch, "loss": round(loss.item(), 4), "lr": lr,
                                "heldout_loss": ev, "s": round(time.time() - t0, 1)})
                print(json.dumps(history[-1]), flush=True)
            if step >= est_total or time.time() - t0 > budget_s - 45:
                done = True
                break
    log["steps"], log["epochs"], log["train_s"] = step, epoch, round(time.time() - t0, 1)
    log["history"] = history
    log["heldout_loss"] = eval_loss(model, held, args.ctx, dev, max_rows=len(held))
    print(f"trained {step} steps, {epoch} epochs, held-out loss {log['heldout_loss']:.4f}", flush=True)

    # ---- the Hugging Face folder
    hf = os.path.join(args.out, "agentmem-default")
    model.to(torch.bfloat16).save_pretrained(hf, safe_serialization=True)
    tok.save(os.path.join(hf, "tokenizer.json"))
    with open(os.path.join(hf, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": SPECIALS[BOS], "eos_token": SPECIALS[END],
                   "pad_token": SPECIALS[EOT], "add_bos_token": True, "add_eos_token": False,
                   "clean_up_tokenization_spaces": False, "model_max_length": args.ctx,
                   "chat_template": CHAT_TEMPLATE}, f, indent=1)
    with open(os.path.join(hf, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": BOS, "eos_token_id": [END, EOT], "pad_token_id": EOT}, f, indent=1)

    # ---- references, in float32 from the saved bf16 weights (eager attention)
    from transformers import AutoModelForCausalLM, AutoTokenizer
    ref = AutoModelForCausalLM.from_pretrained(hf, dtype=torch.float32, attn_implementation="eager").to(dev).eval()
    htok = AutoTokenizer.from_pretrained(hf)
    msgs = [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Define courage."}]
    assert htok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) == render(msgs, True)
    gold = {"arch": "LlamaForCausalLM", "vocab_size": cfg.vocab_size,
            "note": "weights stored bf16; logits computed in float32 from the bf16 weights by HF transformers "
                    f"{__import__('transformers').__version__} (eager attention)"}
    text = ("The harbor was quiet in the early morning, and the boats rested on the calm water while "
            "the fishermen prepared their nets for a long day at sea. A gentle wind came from the hills, "
            "carrying the smell of bread from the village, and the first gulls began to call.")
    ids = htok(text)["input_ids"][:48]
    assert len(ids) == 48, len(ids)
    with torch.no_grad():
        lg = ref(torch.tensor([ids], device=dev)).logits[0].float().cpu()
        lg.numpy().tofile(os.path.join(hf, "golden_logits.f32"))
        gold["input_ids"] = ids
        gold["logits"] = {"file": "golden_logits.f32", "shape": list(lg.shape), "dtype": "float32"}
        off = ids[:16]
        pos = list(range(3000, 3016))
        lo = ref(torch.tensor([off], device=dev), position_ids=torch.tensor([pos], device=dev)).logits[0].float().cpu()
        lo.numpy().tofile(os.path.join(hf, "golden_logits_pos3000.f32"))
        gold["offset_positions"] = {"input_ids": off, "position_ids": pos, "file": "golden_logits_pos3000.f32",
                                    "shape": list(lo.shape)}
        long_ids = held_ids[:300]
        ll = ref(torch.tensor([long_ids], device=dev)).logits[0, -8:].float().cpu()
        ll.numpy().tofile(os.path.join(hf, "golden_logits_long_last8.f32"))
        gold["long"] = {"input_ids": long_ids, "file": "golden_logits_long_last8.f32", "shape": list(ll.shape),
                        "positions": list(range(292, 300))}
        prompt = ids[:16]
        gen = ref.generate(torch.tensor([prompt], device=dev), max_new_tokens=24, do_sample=False,
                           eos_token_id=None, pad_token_id=EOT)[0, 16:].tolist()
        gold["greedy"] = {"prompt_ids": prompt, "generated_ids": gen}
        answers = []
        for q in PROBES:
            p = htok.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True, return_tensors="pt")
            p = (p["input_ids"] if hasattr(p, "keys") else p).to(dev)
            out = ref.generate(p, max_new_tokens=40, do_sample=False, eos_token_id=[END, EOT], pad_token_id=EOT)
            answers.append({"user": q, "prompt_ids": p[0].tolist(), "generated_ids": out[0, p.shape[1]:].tolist(),
                            "text": htok.decode(out[0, p.shape[1]:], skip_special_tokens=True)})
            print("probe:", q, "->", answers[-1]["text"], flush=True)
        gold["chat_probes"] = answers
        ppl = {}
        held_text = "\n\n".join(held_docs)
        hids = htok(held_text, add_special_tokens=False)["input_ids"]
        for n_ctx in (512, 2048):
            p, chunks = perplexity(ref, hids, n_ctx, dev)
            ppl[str(n_ctx)] = {"ppl": p, "chunks": len(chunks), "chunk_nll": chunks}
            print(f"reference perplexity, {n_ctx}-token chunks: {p:.4f} over {len(chunks)} chunks", flush=True)
        gold["heldout_perplexity"] = {"text": "heldout.txt documents joined by blank lines, no special tokens",
                                      "tokens": len(hids), "by_ctx": ppl}
    with open(os.path.join(hf, "golden.json"), "w") as f:
        json.dump(gold, f)
    log["total_s"] = round(time.time() - t_start, 1)
    with open(os.path.join(args.out, "train_log.json"), "w") as f:
        json.dump(log, f, indent=1)
    print(f"done in {log['total_s']} s", flush=True)


if __name__ == "__main__":
    main()
