#!/bin/sh
# serve.sh - end-to-end tests of `kaiwu serve` with the official openai npm client
# (tests/tools/serve_test.mjs; installed into tests/tools/node_modules from the committed
# package-lock.json when missing), against a server this script starts on a free loopback port
# (--port 0; tiny-qwen3 through --chat-format chatml, --parallel 2, --max-queue 1, an API key).
# Then: --help, usage errors, and graceful SIGTERM (a request in flight completes, the process
# exits 0, new connections are refused).
TEST_NAME=serve.sh
. tests/check.sh
QWEN=$DATA/models/tiny-qwen3-f16.gguf
require_kaiwu

"$KAIWU" serve --help >"$out" 2>&1
check "kaiwu serve --help exits 0" [ $? -eq 0 ]
for o in -m --host --port --parallel --ctx-size --api-key --alias --max-queue --timeout; do
    check "kaiwu serve --help documents $o" grep -q -- " $o" "$out"
done
KAIWU_MODEL=$tmp/none.gguf "$KAIWU" serve >"$out" 2>&1
check "kaiwu serve without -m and no default model exits 1" [ $? -eq 1 ]
"$KAIWU" serve -m "$QWEN" --port 99999 >"$out" 2>&1
check "a port out of range exits 2" [ $? -eq 2 ]

if [ ! -d tests/tools/node_modules/openai ]; then
    (cd tests/tools && npm ci --no-audit --no-fund >"$tmp/npm.log" 2>&1) ||
        { bad "npm ci in tests/tools failed: $(tail -n 3 "$tmp/npm.log")"; finish; }
fi

log=$tmp/serve.log
start_server() { # start_server LOG ARGS...: sets pid and url
    l=$1
    shift
    "$KAIWU" serve -m "$QWEN" --chat-format chatml --port 0 -t 2 "$@" 2>"$l" &
    pid=$!
    url=
    i=0
    while [ $i -lt 100 ] && [ -z "$url" ]; do
        url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$l")
        grep -q "ready in" "$l" || url=
        i=$((i + 1))
        sleep 0.1
    done
}
stop_server() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; [ -n "$KEEP_LOG" ] && cp "$log" /tmp/serve_e2e.log; }
CLEANUP=stop_server

start_server "$log" -np 2 -c 2048 --api-key sekrit --max-queue 1
check "the server starts and says where it listens" [ -n "$url" ]
if [ -n "$url" ]; then
    node tests/tools/serve_test.mjs "$url" sekrit "$log" >"$out" 2>&1
    rc=$?
    grep '^FAIL' "$out"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    if [ -n "$line" ]; then
        pass=$((pass + ${line%% passed*}))
        f=${line#*, }
        fail=$((fail + ${f%% failed*}))
    else
        bad "serve_test.mjs crashed (exit $rc): $(tail -n 5 "$out")"
    fi
fi
stop_server

# graceful shutdown: a streaming request in flight when SIGTERM comes still completes
start_server "$tmp/grace.log" -np 1 -c 2048
if [ -n "$url" ]; then
    curl -sN "$url/v1/completions" -d '{"prompt": "a", "max_tokens": 1500, "stream": true}' \
        >"$tmp/stream.txt" 2>/dev/null &
    cpid=$!
    sleep 0.3
    kill -TERM "$pid"
    sleep 0.2
    curl -s -m 2 "$url/health" >"$tmp/after.txt" 2>&1
    check "after SIGTERM new connections are refused" [ $? -ne 0 ]
    wait "$cpid"
    check "the request in flight completes after SIGTERM" grep -q '^data: \[DONE\]' "$tmp/stream.txt"
    check "its last event has a finish_reason" grep -q '"finish_reason":"[a-z]' "$tmp/stream.txt"
    wait "$pid"
    rc=$?
    check "the server exits 0 after draining (got $rc)" [ "$rc" -eq 0 ]
    check "it said it was draining" grep -q "no new connections" "$tmp/grace.log"
else
    bad "the server for the SIGTERM test did not start"
fi
pid=
finish
