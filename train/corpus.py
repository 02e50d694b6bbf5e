#!/usr/bin/env python3
"""train/corpus.py — the default model's training text, from Debian packages.

Downloads (apt-get download, no root needed for that) and unpacks four openly
licensed sources, turns each into plain English documents, removes duplicates,
and splits them into a training and a held-out part by a hash of each
document (so the split does not depend on order or on the other sources):

  wordnet-base   WordNet 3.0 glosses and examples      (WordNet 3.0 license)
  dict-gcide     GNU Collaborative International
                 Dictionary of English (Webster 1913)  (GPL-2+)
  fortunes,      fortune(6) sayings, a chosen subset   (BSD-style, public domain
  fortunes-min                                           quotations)
  python3.11-doc the Python documentation, reST source (PSF-2.0)

It also writes chat turns made from the dictionary sources (definitions as
questions and answers), the small share of turn-formatted text the model is
trained with so that it answers in a chat; held-out documents give no turns.

Output (OUT, default train/out/corpus):
  train.txt, heldout.txt   documents separated by a line holding only "\\x1e"
                           (record separator; train.py turns it into EOS)
  chat_train.jsonl         {"user": ..., "assistant": ...} per line
  manifest.json            package versions, sha256 of each .deb, licenses,
                           documents and bytes per source and split

Usage: python3 train/corpus.py [--out DIR] [--debs DIR] [--heldout-pct N]
Only the Python standard library; the same packages give the same files.
"""
import argparse
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys

SEP = "\x1e"

PACKAGES = {
    "wordnet-base": "WordNet 3.0 license (Princeton University; permissive, BSD-like)",
    "dict-gcide": "GPL-2+ (GCIDE, derived from Webster's Revised Unabridged Dictionary 1913 and WordNet)",
    "fortunes": "BSD-style (fortune-mod; the quotations are short excerpts)",
    "fortunes-min": "BSD-style (fortune-mod)",
    "python3.11-doc": "PSF-2.0 (Python Software Foundation License)",
}

# fortune files kept: English prose, no ASCII art, no jargon-only or offensive sets.
FORTUNE_FILES = {
    "art", "computers", "cookie", "definitions", "education", "food", "goedel", "humorists",
    "kids", "law", "linux", "linuxcookie", "love", "magic", "medicine", "miscellaneous",
    "news", "paradoxum", "people", "pets", "platitudes", "politics", "pratchett", "science",
    "songs-poems", "sports", "startrek", "tao", "wisdom", "work",
    "fortunes", "literature", "riddles",  # fortunes-min
}


def fetch(debs, pkg):
    """The .deb of pkg in debs (downloaded once), unpacked beside it; returns (dir, version, sha256)."""
    os.makedirs(debs, exist_ok=True)
    have = [f for f in os.listdir(debs) if f.startswith(pkg + "_") and f.endswith(".deb")]
    if not have:
        subprocess.run(["apt-get", "download", pkg], cwd=debs, check=True, stdout=subprocess.DEVNULL)
        have = [f for f in os.listdir(debs) if f.startswith(pkg + "_") and f.endswith(".deb")]
    if len(have) != 1:
        sys.exit(f"corpus.py: expected one {pkg}_*.deb in {debs}, found {have}")
    deb = os.path.join(debs, have[0])
    root = os.path.join(debs, "x-" + pkg)
    if not os.path.isdir(root):
        subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
    with open(deb, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    version = have[0][len(pkg) + 1:-len("_all.deb")].replace("%3a", ":")
    return root, version, sha


def clean_ws(s):
    return re.sub(r"\s+", " ", s).strip()


# ---- WordNet: one document per synset: "word (also: a, b): gloss. Examples: ..."
POS = {"n": "noun", "v": "verb", "a": "adjective", "s": "adjective", "r": "adverb"}


def wordnet(root):
    docs, pairs = [], []
    base = os.path.join(root, "usr/share/wordnet")
    for part in ("noun", "verb", "adj", "adv"):
        with open(os.path.join(base, "data." + part), encoding="latin-1") as f:
            for line in f:
                if line.startswith("  ") or "|" not in line:
                    continue  # the license header
                head, gloss = line.split("|", 1)
                fields = head.split()
                pos = POS.get(fields[2], "word")
                n = int(fields[3], 16)
                words = [fields[4 + 2 * i].replace("_", " ") for i in range(n)]
                words = [re.sub(r"\([a-z]+\)$", "", w) for w in words]  # adjective markers (p), (a)
                gloss = gloss.strip()
                examples = re.findall(r'"([^"]+)"', gloss)
                definition = clean_ws(re.sub(r';?\s*"[^"]*"', "", gloss)).rstrip(";")
                if not definition:
                    continue
                also = f" (also {', '.join(words[1:])})" if len(words) > 1 else ""
                text = f"{words[0]}{also}, {pos}: {definition}."
                if examples:
                    text += " For example: " + "; ".join(f'"{e}"' for e in examples) + "."
                docs.append(text)
                pairs.append((words[0], pos, definition, examples))
    return docs, pairs


GCIDE_POS = {"n": "noun", "v": "verb", "v. t": "verb", "v. i": "verb", "a": "adjective", "adv": "adverb",
             "prep": "preposition", "conj": "conjunction", "interj": "interjection", "pron": "pronoun"}

# ---- GCIDE (dictd format): entries separated by blank lines, markup removed.
def gcide(root):
    path = os.path.join(root, "usr/share/dictd/gcide.dict.dz")
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        text = f.read()
    docs, pairs = [], []
    entry = []

    def flush():
        if not entry:
            return
        raw = "\n".join(entry)
        entry.clear()
        m = re.match(r"^([^\\\n]+?)\s*\\[^\\]*\\\s*(.*)$", raw, re.S)
        if not m:
            return
        word, body = m.group(1).strip(), m.group(2)
        body = re.sub(r"\\[^\\]*\\", "", body)  # pronunciations
        while re.search(r"\[[^\[\]]*\]", body):  # etymologies (nested), sources, accent codes like [ae]
            body = re.sub(r"\[[^\[\]]*\]", "", body)
        body = re.sub(r"\(\?( or \?)*\)|\(\?\)", "", body)
        body = body.replace("{", "").replace("}", "").replace("*", "").replace('"', "").replace("]", "")
        body = clean_ws(body).lstrip(",; ")
        pm = re.match(r"^(n|v\. t|v\. i|v|a|adv|prep|conj|interj|pron)\.(\s*;?\s*pl\.[^.]*\.)?\s*", body)
        pos = GCIDE_POS.get(pm.group(1)) if pm else None
        if pm:
            body = body[pm.end():]
        if len(body) < 20 or not re.match(r"^[A-Za-z][A-Za-z' -]*$", word):
            return
        docs.append(f"{word}, {pos}: {body}" if pos else f"{word}: {body}")
        # the first numbered or only sense as the answer of a question
        sense = re.split(r"(?:^|\s)\d+\.\s", body)
        first = next((x for x in sense if x.strip()), body)
        first = re.sub(r"\s*--\s*[A-Z].*$", "", first).strip()  # trailing attributions and quotations
        first = re.sub(r"^\([A-Za-z. ]+\)\s*", "", first)  # field labels like (Zool.)
        if 15 <= len(first) <= 300 and first[:1].isalpha():
            pairs.append((word, pos, first.rstrip(".;, "), []))

    for line in text.split("\n"):
        if line.strip() == "":
            # an entry ends at a blank line followed by a new headword, so keep collecting
            entry.append("")
            continue
        if not line.startswith(" ") and "\\" in line and entry and entry[-1] == "":
            flush()
        entry.append(line)
    flush()
    # the first entries are the database's own notices
    return [d for d in docs if not d.startswith("00-")], pairs


# ---- fortunes: "%"-separated, attributions kept.
def fortunes(roots):
    docs = []
    for root in roots:
        base = os.path.join(root, "usr/share/games/fortunes")
        if not os.path.isdir(base):
            continue
        for name in sorted(os.listdir(base)):
            if name not in FORTUNE_FILES:
                continue
            with open(os.path.join(base, name), encoding="utf-8", errors="replace") as f:
                for item in f.read().split("\n%\n"):
                    t = "\n".join(l.strip() for l in item.strip("\n%").split("\n")).strip()
                    if 20 <= len(t) <= 2000 and "\x08" not in t:
                        docs.append(t)
    return docs


# ---- Python documentation (reST sources): one document per section, markup simplified.
def pydoc(root):
    docs = []
    base = None
    for dirpath, _, files in os.walk(root):
        if dirpath.endswith("html/_sources"):
            base = dirpath
            break
    if base is None:
        return docs
    for dirpath, _, files in os.walk(base):
        for fn in sorted(files):
            if not fn.endswith(".rst.txt"):
                continue
            with open(os.path.join(dirpath, fn), encoding="utf-8", errors="replace") as f:
                src = f.read()
            paras, cur, skip = [], [], False
            for line in src.split("\n"):
                if re.match(r"^\s*\.\. ", line):  # directives and comments: drop their block
                    skip = not re.match(r"^\s*\.\. (note|seealso|versionadded|versionchanged|deprecated|warning)::", line)
                    if not skip:
                        rest = re.sub(r"^\s*\.\. [a-z]+::\s*", "", line).strip()
                        if rest:
                            cur.append(rest)
                    continue
                if skip:
                    if line.strip() == "" or line.startswith((" ", "\t")):
                        continue
                    skip = False
                if re.match(r"^([=\-~^\"'`#*+])\1{2,}\s*$", line):
                    continue  # section underlines
                if line.strip() == "":
                    if cur:
                        paras.append(" ".join(cur))
                        cur = []
                    continue
                if line.startswith(("   ", "\t", ">>>", "...")):
                    continue  # code blocks and prompts
                cur.append(line.strip())
            if cur:
                paras.append(" ".join(cur))
            text = []
            for p in paras:
                p = re.sub(r":[a-z:]+:`~?([^`<]*?)(\s*<[^>]*>)?`", r"\1", p)  # :func:`x` -> x
                p = re.sub(r"``([^`]*)``", r"\1", p)
                p = re.sub(r"`([^`<]*?)\s*<[^>]*>`_+", r"\1", p)
                p = p.replace("**", "").replace("::", ":")
                p = clean_ws(p)
                if len(p) >= 40 and sum(c.isalpha() for c in p) > 0.6 * len(p):
                    text.append(p)
            # sections of a page as documents of a few paragraphs
            for i in range(0, len(text), 6):
                docs.append("\n".join(text[i:i + 6]))
    return docs


# Entries a default model should not learn to define or repeat (profanity, slurs): any
# document holding one of these words is left out (whole words, any case).
BLOCK = re.compile(r"\b(" + "|".join([
    "fuck\\w*", "shit\\w*", "cunt\\w*", "cock\\w*sucker", "motherfuck\\w*", "bitch\\w*", "bastard\\w*",
    "nigg\\w*", "negro\\w*", "kike\\w*", "chink\\w*", "spic", "wop", "dago", "gook\\w*", "fag\\w*", "faggot\\w*",
    "dyke\\w*", "tranny", "retard\\w*", "whore\\w*", "slut\\w*", "twat\\w*", "wank\\w*", "jism", "jizz\\w*",
    "pussy", "dick\\w*head", "asshole\\w*", "arsehole\\w*", "cum", "porn\\w*", "rape\\w*", "rapist\\w*",
]) + r")\b", re.I)


def key(doc):
    return hashlib.sha1(clean_ws(doc).lower().encode()).digest()


def chat_pairs(pairs, rng_seed=1):
    """Definitions as questions and answers, in a few phrasings (deterministic)."""
    asks = ["What does \"{w}\" mean?", "Define {w}.", "Can you explain the word \"{w}\"?",
            "What is the meaning of {w}?", "What is {a} {w}?"]
    out = []
    for i, (w, pos, d, ex) in enumerate(pairs):
        if w[:1].isupper() and w[1:] == w[1:].lower():
            w = w.lower()  # the dictionary capitalises every headword
        h = int.from_bytes(hashlib.sha1(f"{rng_seed}:{w}:{i}".encode()).digest()[:4], "little")
        n_asks = len(asks) if pos == "noun" else len(asks) - 1  # "What is a ...?" only for nouns
        a = "an" if w[:1].lower() in "aeiou" else "a"
        q = asks[h % n_asks].format(w=w, a=a)
        d = d[0].upper() + d[1:] if d else d
        if pos is None:
            ans = f"{d}."
        else:
            ans = f"As {'an' if pos[0] in 'aeiou' else 'a'} {pos}, \"{w}\" means: {d}."
        if ex:
            ans += f" For example: \"{ex[0]}\"."
        out.append({"user": q, "assistant": ans})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="train/out/corpus")
    ap.add_argument("--debs", default="train/out/debs")
    ap.add_argument("--heldout-pct", type=int, default=2)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    roots, manifest = {}, {"sources": {}, "heldout_pct": args.heldout_pct}
    for pkg, lic in PACKAGES.items():
        root, version, sha = fetch(args.debs, pkg)
        roots[pkg] = root
        manifest["sources"][pkg] = {"version": version, "sha256": sha, "license": lic}

    wn_docs, wn_pairs = wordnet(roots["wordnet-base"])
    gc_docs, gc_pairs = gcide(roots["dict-gcide"])
    sources = {
        "wordnet-base": wn_docs,
        "dict-gcide": gc_docs,
        "fortunes": fortunes([roots["fortunes"], roots["fortunes-min"]]),
        "python3.11-doc": pydoc(roots["python3.11-doc"]),
    }
    seen = set()
    split = {"train": [], "heldout": []}
    held_keys = set()
    for name, docs in sources.items():
        st = {"documents": 0, "duplicates": 0, "train_bytes": 0, "heldout_bytes": 0}
        for d in docs:
            if BLOCK.search(d):
                st["blocked"] = st.get("blocked", 0) + 1
                continue
            k = key(d)
            if k in seen:
                st["duplicates"] += 1
                continue
            seen.add(k)
            st["documents"] += 1
            part = "heldout" if int.from_bytes(k[:4], "little") % 100 < args.heldout_pct else "train"
            if part == "heldout":
                held_keys.add(k)
            split[part].append(d)
            st[part + "_bytes"] += len(d.encode())
        manifest["sources"][name].update(st)
    for part, docs in split.items():
        with open(os.path.join(args.out, part + ".txt"), "w", encoding="utf-8") as f:
            for d in docs:
                f.write(d.replace(SEP, " ") + "\n" + SEP + "\n")
    # chat turns only from training documents' words (a held-out definition never becomes a turn)
    held_words = set()
    for d in split["heldout"]:
        held_words.add(re.split(r"[,:( ]", d, 1)[0].lower())
    pairs = wn_pairs + gc_pairs
    turns = [t for t, p in zip(chat_pairs(pairs), pairs)
             if p[0].lower() not in held_words and not BLOCK.search(t["user"] + " " + t["assistant"])]
    with open(os.path.join(args.out, "chat_train.jsonl"), "w", encoding="utf-8") as f:
        for t in turns:
            f.write(json.dumps(t, ensure_ascii=False) + "\n")
    manifest["chat_turns"] = len(turns)
    manifest["train_bytes"] = sum(len(d.encode()) + 2 for d in split["train"])
    manifest["heldout_bytes"] = sum(len(d.encode()) + 2 for d in split["heldout"])
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    for name, s in manifest["sources"].items():
        print(f"{name:16} {s.get('documents', 0):8} docs {s.get('duplicates', 0):7} dup "
              f"{s.get('train_bytes', 0) / 1e6:8.1f} MB train {s.get('heldout_bytes', 0) / 1e6:6.2f} MB held out")
    print(f"chat turns {len(turns)}; wrote {args.out}/")


if __name__ == "__main__":
    main()
