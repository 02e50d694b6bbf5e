#!/bin/sh
# Slow and stuck clients with a 2 s connection timeout: see
# tests/clients/slow.mjs for the bugs it is for.
set -u
. tests/serve_lib.sh
. tests/robust_lib.sh
start_server --cache-dir "$TMP/cache" --ctx 4096 --parallel 3 --conn-timeout 2
CONN_TIMEOUT=2 AGENTMEM_URL=$URL timeout 90 node tests/clients/slow.mjs || { tail -n 30 "$LOG"; exit 1; }
kill -0 $PID || { echo "server died"; exit 1; }
stop_server
