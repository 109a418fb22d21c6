#!/bin/sh
# chat_tmux.sh - drives interactive `kaiwu chat` in a real terminal (tmux: new-session, send-keys,
# capture-pane): two turns (the second reusing the KV cache of the first), Ctrl-C at the prompt
# and during a long generation (the answer stops, the program stays and answers the next turn),
# /save then /reset then /load (the saved JSON holds the messages, the partial answer included,
# and saving again after /load gives the same file), multi-line input, /set, an unknown command,
# /exit with status 0; Chinese and accented input reaching the model (also under LC_ALL=C),
# /save refusing to overwrite the model, ollama's /? /clear /bye; then a small context: the explicit error, and
# --drop-oldest dropping turns with a notice; Ctrl-D quits.
#
# Model: tiny-qwen3 through --format chatml (random weights: gibberish that rarely ends, so a
# generation with -n 5000 is still running when Ctrl-C is sent). Uses a private tmux server
# (-L) so no other session is touched. Skips (0 passed, 0 failed) only when tmux is missing.

TEST_NAME=chat_tmux.sh
. tests/check.sh
QWEN=$DATA/models/tiny-qwen3-f16.gguf

if ! command -v tmux >/dev/null 2>&1; then
    echo "SKIP chat_tmux.sh: tmux is not installed (scripts/install-deps.sh installs it)"
    finish
fi
sock=kaiwu-chat-test-$$
# tmux itself runs in a UTF-8 locale so that it passes typed UTF-8 on; each chat gets the
# environment its test gives it ($CHAT_ENV).
T() { LC_ALL=C.UTF-8 tmux -L "$sock" "$@"; }
# The panes' shells may still write their .rc file as the server dies: give them a moment before
# finish removes $tmp.
stop_tmux() { T kill-server 2>/dev/null; sleep 0.3; }
CLEANUP=stop_tmux
require_kaiwu

# The screen so far (history included, wrapped lines joined).
screen() { T capture-pane -p -J -S -1000 -t "$1" 2>/dev/null; }
# wait_for SESSION PATTERN COUNT SECONDS: until PATTERN matches at least COUNT lines.
wait_for() {
    i=0
    while [ "$i" -lt $(($4 * 10)) ]; do
        [ "$(screen "$1" | grep -c -- "$2")" -ge "$3" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
# Types a line and presses Enter.
say() { T send-keys -t "$1" -l -- "$2" && T send-keys -t "$1" Enter; }
start() { # start SESSION ARGS...: kaiwu chat in a 200x50 terminal; its exit status goes to $tmp/SESSION.rc
    s=$1
    shift
    T new-session -d -s "$s" -x 200 -y 50 "env ${CHAT_ENV:-} $KAIWU chat -m ${CHAT_MODEL:-$QWEN} --format chatml -t 1 $*; echo \$? >$tmp/$s.rc; sleep 30"
    wait_for "$s" "^kaiwu chat: " 1 20
}

# ------------------------------------------------------------------ two turns, Ctrl-C, /save /load

# --ignore-eos: the long answer below must still be running when Ctrl-C arrives, however fast
# this machine generates (it runs until the 32768-token context is full: 4096 fill in under
# a second here, 32768 take many seconds)
start a --temp 0 -n 50000 -c 32768 --ignore-eos
check "the interactive chat starts and shows its banner" [ $? -eq 0 ]
T send-keys -t a "half-typed line" C-c
say a "/set n 24"
check "Ctrl-C at the prompt drops the line and keeps the program (/set answers)" wait_for a "^n = 24" 1 10

say a "Hello"
check "turn 1 is answered with its statistics" wait_for a "^\[24 tokens, .* tokens/s" 1 30
say a "How are you today?"
check "turn 2 is answered" wait_for a "^\[24 tokens, .* tokens/s" 2 30
line=$(screen a | grep "^\[24 tokens" | sed -n 2p)
new=$(echo "$line" | sed -n 's/.*prompt: \([0-9]*\) new of \([0-9]*\) tokens.*/\1/p')
all=$(echo "$line" | sed -n 's/.*prompt: \([0-9]*\) new of \([0-9]*\) tokens.*/\2/p')
check "turn 2 evaluates only what the KV cache lacks ($new new of $all tokens)" \
    [ -n "$new" ] && [ -n "$all" ] && [ "$new" -lt "$all" ]

say a "/set n 50000"
wait_for a "^n = 50000" 1 10
say a "Tell me a very long story about dragons."
sleep 1
check "after 1 s the long answer is still being generated" [ "$(screen a | grep -c '^\[.* tokens/s')" -eq 2 ]
T send-keys -t a C-c
check "Ctrl-C stops the answer and says so" wait_for a "stop: interrupted (Ctrl-C)" 1 20
say a "/set n 12"
say a "Are you still there?"
check "the program answers the next turn after Ctrl-C" wait_for a "^\[12 tokens, .* tokens/s" 1 30

say a "/save $tmp/conv.json"
check "/save reports 8 messages" wait_for a "^saved 8 messages to " 1 10
if command -v python3 >/dev/null 2>&1; then
    python3 - "$tmp/conv.json" <<'PY' >"$tmp/py.err" 2>&1
import json, sys
msgs = json.load(open(sys.argv[1]))["messages"]
assert [m["role"] for m in msgs] == ["user", "assistant"] * 4, [m["role"] for m in msgs]
assert msgs[0]["content"] == "Hello" and msgs[4]["content"].startswith("Tell me a very long story")
assert len(msgs[5]["content"]) > 0, "the interrupted answer is kept"
PY
    check "the saved JSON holds the 8 messages, the interrupted answer included ($(cat "$tmp/py.err"))" [ $? -eq 0 ]
else
    check "the saved JSON holds the messages" grep -q '"content": "Tell me a very long story' "$tmp/conv.json"
fi
say a "/reset"
check "/reset clears the conversation" wait_for a "^conversation cleared" 1 10
say a "/save $tmp/empty.json"
check "after /reset the conversation is empty" wait_for a "^saved 0 messages" 1 10
say a "/load $tmp/conv.json"
check "/load restores 8 messages" wait_for a "^loaded 8 messages from " 1 10
say a "/save $tmp/conv2.json"
wait_for a "^saved 8 messages to .*conv2.json" 1 10
check "the loaded conversation saves back identical" cmp -s "$tmp/conv.json" "$tmp/conv2.json"
say a "/load $tmp/nope.json"
check "/load of a missing file is an error and the program goes on" wait_for a "cannot load '.*nope.json'" 1 10

T send-keys -t a -l '"""First line'
T send-keys -t a Enter
T send-keys -t a -l 'second line"""'
T send-keys -t a Enter
check "a \"\"\" block is one question (answered once)" wait_for a "^\[12 tokens, .* tokens/s" 2 30
say a "/frobnicate"
check "an unknown command is named" wait_for a "unknown command '/frobnicate'" 1 10
say a "/help"
check "/help lists /save and /load" wait_for a "/load FILE" 1 10
say a "/exit"
i=0
while [ ! -f "$tmp/a.rc" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
check "/exit quits with status 0 (got $(cat "$tmp/a.rc" 2>/dev/null))" [ "$(cat "$tmp/a.rc" 2>/dev/null)" = 0 ]

# ------------------------------------------------------------------ what is typed reaches the model

# Chinese and accented letters typed at the prompt (libedit dropped every byte above 0x7f when the
# locale was not set: "中文" -> "", "héllo" -> "hllo"), in a UTF-8 environment and under LC_ALL=C;
# /save shows the message the model was given. /save over the model is refused (on a copy).
cp "$QWEN" "$tmp/model.gguf"
for loc in C.UTF-8 C; do
    s=u$(echo $loc | tr -dc 'A-Za-z0-9')
    CHAT_ENV="LC_ALL=$loc" CHAT_MODEL=$tmp/model.gguf start "$s" --temp 0 -n 4
    say "$s" "中文 héllo, 开物"
    wait_for "$s" "^\[4 tokens, .* tokens/s" 1 30
    say "$s" "/save $tmp/$s.json"
    wait_for "$s" "^saved 2 messages" 1 10
    check "LC_ALL=$loc: typed Chinese and accented text reach the model as typed" \
        grep -q '"content": "中文 héllo, 开物"' "$tmp/$s.json"
    say "$s" "/save $tmp/model.gguf"
    check "LC_ALL=$loc: /save over the model is refused" wait_for "$s" "refusing to overwrite the input" 1 10
    check "LC_ALL=$loc: the model is byte-identical after /save was refused" cmp -s "$tmp/model.gguf" "$QWEN"
    # ollama's commands: /? lists the commands, /clear clears, /bye leaves
    say "$s" "/?"
    check "LC_ALL=$loc: /? lists the commands" wait_for "$s" "/save FILE" 1 10
    say "$s" "/clear"
    check "LC_ALL=$loc: /clear clears the conversation" wait_for "$s" "^conversation cleared" 1 10
    say "$s" "/bye"
    i=0
    while [ ! -f "$tmp/$s.rc" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    check "LC_ALL=$loc: /bye quits with status 0" [ "$(cat "$tmp/$s.rc" 2>/dev/null)" = 0 ]
done

# ------------------------------------------------------------------ a conversation too long

start b --temp 0 -n 8 -c 96
say b "/load $tmp/conv.json"
wait_for b "^loaded 8 messages" 1 10
say b "And now?"
check "a conversation longer than the context is refused with the numbers" \
    wait_for b "error: the conversation is [0-9]* tokens.*more than the context of 96 tokens" 1 20
T send-keys -t b C-d
i=0
while [ ! -f "$tmp/b.rc" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
check "Ctrl-D quits with status 0" [ "$(cat "$tmp/b.rc" 2>/dev/null)" = 0 ]

start c --temp 0 -n 8 -c 96 --drop-oldest
say c "/load $tmp/conv.json"
wait_for c "^loaded 8 messages" 1 10
say c "/system Be brief."
say c "And now?"
check "--drop-oldest drops turns and says how many" wait_for c "^note: dropped the [0-9]* oldest turn" 1 20
check "--drop-oldest then answers" wait_for c "^\[8 tokens, .* tokens/s" 1 30
say c "/save $tmp/dropped.json"
wait_for c "^saved [0-9]* messages" 1 10
check "the system message is kept when turns are dropped" grep -q '"content": "Be brief."' "$tmp/dropped.json"
say c "/reset"
say c "/save $tmp/reset.json"
check "/reset keeps the system message set with /system" wait_for c "^saved 1 messages to .*reset.json" 1 10
say c "/exit"

# ------------------------------------------------------------------ the shipped model, no -m

# `kaiwu chat` without -m opens a conversation with models/kaiwu-shi.gguf (found beside the
# executable: build/../models); a Chinese instruction typed at the prompt reaches it and it
# answers in Han characters. Runs once the model is committed; until then a visible NOT RUN line.
# KAIWU_SHIPPED_MODEL=FILE tries another file (through $KAIWU_MODEL).
SHIPPED=${KAIWU_SHIPPED_MODEL:-models/kaiwu-shi.gguf}
if [ -n "${KAIWU_SHIPPED_MODEL:-}" ]; then menv="KAIWU_MODEL=$SHIPPED"; else menv="-u KAIWU_MODEL"; fi
if [ -f "$SHIPPED" ]; then
    T new-session -d -s k -x 200 -y 50 \
        "env $menv $KAIWU chat -t 2 --seed 1 -n 96; echo \$? >$tmp/k.rc; sleep 30"
    check "kaiwu chat without -m starts on the shipped model" \
        wait_for k "^kaiwu chat: .*kaiwu-shi.gguf" 1 20
    say k "写一首五言绝句，题为《春望》"
    check "the shipped model answers" wait_for k "^\[[0-9]* tokens, .* tokens/s" 1 60
    say k "/save $tmp/shipped.json"
    wait_for k "^saved 2 messages" 1 10
    check "the typed Chinese reached the shipped model" \
        grep -q '"content": "写一首五言绝句，题为《春望》"' "$tmp/shipped.json"
    # Han characters U+4E00..U+9FFF start with the bytes E4..E9 in UTF-8
    han=$(printf '[\344-\351]')
    check "its answer is Chinese" \
        sh -c "grep -A1 '\"assistant\"' '$tmp/shipped.json' | LC_ALL=C grep -q '$han'"
    say k "/exit"
else
    echo "NOT RUN chat_tmux.sh (shipped model part): $SHIPPED is absent (make model builds it)"
fi

finish
