#!/bin/sh
# Soak: SOAK_S seconds (default 15; SOAK_S=60 for the full run) of mixed
# requests; see tests/clients/soak.mjs for the bugs it is for and the RSS
# tolerance.
set -u
. tests/serve_lib.sh
. tests/robust_lib.sh
start_server --cache-dir "$TMP/cache" --ctx 2048
SERVER_PID=$PID AGENTMEM_URL=$URL node tests/clients/soak.mjs || { tail -n 20 "$LOG"; exit 1; }
stop_server
