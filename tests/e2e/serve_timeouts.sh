#!/bin/sh
# serve_timeouts.sh - `kaiwu serve --timeout 1`: idle connections, idle keep-alive connections,
# trickled headers and trickled bodies are closed by the server after about a second, while a
# request sent in time is answered (tests/tools/serve_timeouts.mjs, raw sockets).
TEST_NAME=serve_timeouts.sh
. tests/check.sh
QWEN=$DATA/models/tiny-qwen3-f16.gguf
require_kaiwu
"$KAIWU" serve -m "$QWEN" --chat-format chatml --port 0 -t 1 -np 1 -c 256 --timeout 1 2>"$tmp/log" &
pid=$!
stop() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
CLEANUP=stop
port=
i=0
while [ $i -lt 100 ] && [ -z "$port" ]; do
    grep -q "ready in" "$tmp/log" && port=$(sed -n 's/.*listening on http:[^ ]*:\([0-9][0-9]*\).*/\1/p' "$tmp/log")
    i=$((i + 1))
    sleep 0.1
done
if [ -z "$port" ]; then
    bad "the server did not start: $(tail -n 2 "$tmp/log")"
    finish
fi
node tests/tools/serve_timeouts.mjs 127.0.0.1 "$port" 1 >"$out" 2>&1
rc=$?
grep '^FAIL' "$out"
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
if [ -n "$line" ]; then
    pass=$((pass + ${line%% passed*}))
    f=${line#*, }
    fail=$((fail + ${f%% failed*}))
else
    bad "serve_timeouts.mjs crashed (exit $rc): $(tail -n 5 "$out")"
fi
finish
