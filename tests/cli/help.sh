#!/bin/sh
# Every command answers --help on stdout with exit 0; unknown commands are
# usage errors (exit 2).
set -u
A=${AGENTMEM:-build/agentmem}
fail=0
"$A" --help | grep -q "usage: agentmem" || { echo "top-level --help"; fail=1; }
for c in run logits perplexity bench mkmodel convert model tokenize detokenize template cache serve; do
    out=$("$A" "$c" --help 2>/dev/null); rc=$?
    if [ $rc -ne 0 ] || [ -z "$out" ]; then echo "agentmem $c --help: exit $rc"; fail=1; fi
done
"$A" no-such-command >/dev/null 2>&1; [ $? -eq 2 ] || { echo "unknown command must exit 2"; fail=1; }
exit $fail
