#!/bin/sh
# Disconnects free their sequences within a second: see
# tests/clients/disconnect.mjs for the bug it is for.
set -u
. tests/serve_lib.sh
. tests/robust_lib.sh
start_server --cache-dir "$TMP/cache" --ctx 4096
AGENTMEM_URL=$URL node tests/clients/disconnect.mjs || { tail -n 20 "$LOG"; exit 1; }
stop_server
