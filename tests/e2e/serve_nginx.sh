#!/bin/sh
# serve_nginx.sh - two `kaiwu serve` on loopback ports behind Debian's nginx, configured with the
# shipped contrib/nginx-kaiwu.conf (only its ports replaced): requests and a stream pass through,
# least_conn spreads them over both backends, and after one backend is killed (SIGKILL, under
# load from four looping clients) every request started after the kill still succeeds. nginx-light is
# installed by scripts/install-deps.sh; without nginx this script checks nothing and says so.
TEST_NAME=serve_nginx.sh
. tests/check.sh
QWEN=$DATA/models/tiny-qwen3-f16.gguf
require_kaiwu
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$NGINX" ]; then
    echo "serve_nginx.sh: nginx is not installed (sh scripts/install-deps.sh); nothing checked"
    finish
fi

start_backend() { # start_backend LOG: prints the port, or nothing
    "$KAIWU" serve -m "$QWEN" --chat-format chatml --port 0 -t 1 -np 2 -c 512 2>"$1" >/dev/null &
    echo $! >"$1.pid"
    i=0
    while [ $i -lt 100 ]; do
        if grep -q "ready in" "$1"; then
            sed -n 's/.*listening on http:[^ ]*:\([0-9][0-9]*\).*/\1/p' "$1" | head -n 1
            return
        fi
        i=$((i + 1))
        sleep 0.1
    done
}
pa=$(start_backend "$tmp/a.log")
pida=$(cat "$tmp/a.log.pid")
pb=$(start_backend "$tmp/b.log")
pidb=$(cat "$tmp/b.log.pid")
ngpid=
cleanup() {
    [ -n "$ngpid" ] && kill "$ngpid" 2>/dev/null && wait "$ngpid" 2>/dev/null
    kill "$pida" "$pidb" 2>/dev/null
    wait "$pida" "$pidb" 2>/dev/null
}
CLEANUP=cleanup
if [ -z "$pa" ] || [ -z "$pb" ]; then
    bad "the two backends did not start: $(tail -n 2 "$tmp/a.log" "$tmp/b.log")"
    finish
fi
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')

# the shipped file inside a minimal main context; as root, workers run as root to use $tmp
mkdir -p "$tmp/ng/logs"
{
    [ "$(id -u)" -eq 0 ] && echo "user root;"
    echo "worker_processes 1; pid $tmp/ng/nginx.pid; error_log $tmp/ng/error.log;"
    echo "events { worker_connections 64; }"
    echo "http { access_log $tmp/ng/access.log; client_body_temp_path $tmp/ng/body;"
    echo "proxy_temp_path $tmp/ng/proxy; fastcgi_temp_path $tmp/ng/f; uwsgi_temp_path $tmp/ng/u;"
    echo "scgi_temp_path $tmp/ng/s;"
    sed -e "s/127.0.0.1:8081/127.0.0.1:$pa/; s/127.0.0.1:8082/127.0.0.1:$pb/" \
        -e "s/listen 127.0.0.1:8080;/listen 127.0.0.1:$port;/" contrib/nginx-kaiwu.conf
    echo "}"
} >"$tmp/ng/nginx.conf"
"$NGINX" -t -p "$tmp/ng" -c "$tmp/ng/nginx.conf" >"$out" 2>&1
check "nginx accepts the shipped configuration: $(tail -n 2 "$out")" [ $? -eq 0 ]
"$NGINX" -p "$tmp/ng" -c "$tmp/ng/nginx.conf" -g 'daemon off;' 2>"$tmp/ng/stderr" &
ngpid=$!
url=http://127.0.0.1:$port
i=0
until curl -s -o /dev/null "$url/health" || [ $i -ge 50 ]; do
    i=$((i + 1))
    sleep 0.1
done

body='{"prompt": "Once upon a time", "max_tokens": 6, "temperature": 0}'
code=$(curl -s -o "$out" -w '%{http_code}' "$url/health")
check "GET /health through nginx: 200 (got $code)" [ "$code" = 200 ]
curl -sN "$url/v1/completions" -d '{"prompt": "a", "max_tokens": 8, "stream": true}' >"$tmp/stream.txt"
check "a stream passes through nginx to its [DONE]" grep -q '^data: \[DONE\]' "$tmp/stream.txt"
check "as several events" [ "$(grep -c '^data: {' "$tmp/stream.txt")" -ge 3 ]

# least_conn: six concurrent requests reach both backends
n=0
while [ $n -lt 6 ]; do
    curl -s -o /dev/null -w '%{http_code}\n' "$url/v1/completions" -d "$body" >"$tmp/c$n" &
    n=$((n + 1))
done
wait_clients() { for f in "$@"; do while [ ! -s "$f" ]; do sleep 0.05; done; done; }
wait_clients "$tmp/c0" "$tmp/c1" "$tmp/c2" "$tmp/c3" "$tmp/c4" "$tmp/c5"
check "six concurrent requests through nginx all succeed ($(cat "$tmp"/c? | tr '\n' ' '))" \
    [ "$(cat "$tmp"/c? | grep -c '^200$')" -eq 6 ]
na=$(grep -c 'POST /v1/completions 200' "$tmp/a.log")
nb=$(grep -c 'POST /v1/completions 200' "$tmp/b.log")
check "least_conn used both backends (a: $na, b: $nb)" [ "$na" -ge 1 ] && [ "$nb" -ge 1 ]

# four clients in a loop; backend b is killed under them. A request that started after the kill
# must succeed (connection refused -> the other backend); one in flight on b may be lost.
client() { # client ID: requests one after another until $tmp/stop, "start-time status" per line
    while [ ! -e "$tmp/stop" ]; do
        t=$(date +%s.%N)
        c=$(curl -s -o /dev/null -m 60 -w '%{http_code}' "$url/v1/completions" -d "$body")
        echo "$t $c" >>"$tmp/load$1"
    done
    echo done >>"$tmp/load$1"
}
for id in 1 2 3 4; do client $id & done
sleep 1
kill -KILL "$pidb"
killed=$(date +%s.%N)
wait "$pidb" 2>/dev/null
pidb=
sleep 2
touch "$tmp/stop"
for id in 1 2 3 4; do while ! grep -q done "$tmp/load$id" 2>/dev/null; do sleep 0.1; done; done
cat "$tmp"/load? | grep -v done >"$tmp/all"
after=$(awk -v k="$killed" '$1 > k' "$tmp/all" | wc -l)
lost=$(awk -v k="$killed" '$1 > k && $2 != 200' "$tmp/all" | wc -l)
before_bad=$(awk -v k="$killed" '$1 <= k && $2 != 200' "$tmp/all" | wc -l)
echo "serve_nginx.sh: $(wc -l <"$tmp/all") requests under load, $after started after the kill, $lost of those failed, $before_bad failed before"
check "requests were sent after the kill ($after)" [ "$after" -ge 4 ]
check "no request started after the kill is lost ($lost of $after failed)" [ "$lost" -eq 0 ]
check "at most the requests in flight at the kill failed ($before_bad, 4 clients)" [ "$before_bad" -le 4 ]
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/completions" -d "$body")
check "the survivor still answers through nginx (got $code)" [ "$code" = 200 ]
finish
