#!/bin/sh
# chat.sh - end-to-end tests of `kaiwu chat` without a terminal: one answer with -p and from
# stdin (tiny-qwen3 through --format chatml: random weights, so gibberish, but the same bytes for
# the same --temp 0 run), --json as a valid message object, the refusal of a model without a
# template when no --format is given (and the list of formats in the message), a model's own
# template (tiny-phi3), usage errors (exit 2) and a conversation longer than the context (exit 1,
# with the numbers). The interactive side is tests/e2e/chat_tmux.sh.
#
# Plain POSIX sh; JSON is checked with python3 (or node) when present, else with grep.
# Prints "FAIL chat.sh: ..." per failed check and ends with "N passed, N failed".

TEST_NAME=chat.sh
. tests/check.sh
QWEN=$DATA/models/tiny-qwen3-f16.gguf
PHI=$DATA/models/tiny-phi3-f16.gguf

require_kaiwu

# ------------------------------------------------------------------ help and usage

"$KAIWU" chat --help >"$out" 2>"$err"
check "kaiwu chat --help exits 0" [ $? -eq 0 ]
for o in -m -p --system --format --json --hide-thinking --no-think --drop-oldest --temp --top-k \
    --top-p --min-p --repeat-penalty --seed -n -c -t; do
    check "kaiwu chat --help documents $o" grep -q -- " $o" "$out"
done
check "kaiwu chat --help lists the built-in formats" grep -q "chatml, llama3, llama2, gemma" "$out"
"$KAIWU" --help >"$out" 2>&1
check "kaiwu --help lists the chat command" grep -q "^  chat " "$out"

KAIWU_MODEL=$tmp/none.gguf "$KAIWU" chat -p hi >"$out" 2>"$err"
check "kaiwu chat without -m and no default model exits 1 (got $?)" [ $? -eq 1 ]
"$KAIWU" chat -m "$QWEN" --format vicuna -p hi >"$out" 2>"$err"
rc=$?
check "an unknown --format exits 2 (got $rc)" [ "$rc" -eq 2 ]
check "an unknown --format is named with the formats" grep -q "'vicuna'.*chatml" "$err"
"$KAIWU" chat -m "$QWEN" --temp hot -p hi >"$out" 2>"$err"
check "a malformed --temp exits 2" [ $? -eq 2 ]

# ------------------------------------------------------------------ model without a template

"$KAIWU" chat -m "$QWEN" -p "Hello" -n 4 --format model >"$out" 2>"$err"
rc=$?
check "tiny-qwen3 (no chat template) with --format model exits 1 (got $rc)" [ "$rc" -eq 1 ]
check "the error says there is no template and lists the formats: $(cat "$err")" \
    grep -q "no chat template.*chatml, llama3, llama2, gemma, phi3, glm4, chatglm4, deepseek, minicpm" "$err"
check "the error says to name one with --format" grep -q "hint: name a chat format with --format NAME" "$err"
check "nothing is printed on stdout then" [ ! -s "$out" ]
# Without --format: the built-in format the vocabulary points to, said on stderr.
"$KAIWU" chat -m "$QWEN" -p "Hello" -n 4 --temp 0 -t 1 >"$out" 2>"$err"
rc=$?
check "tiny-qwen3 (no chat template) falls back and answers (exit $rc)" [ "$rc" -eq 0 ] && [ -s "$out" ]
check "the fallback is stated: chatml, from <|im_start|> ($(grep note "$err"))" \
    grep -q "^note: the model has no chat template: using the built-in 'chatml' format (its vocabulary has <|im_start|>); choose another with --format NAME" "$err"
"$KAIWU" chat -m "$DATA/models/tiny-llama3-f16.gguf" -p "Hello" -n 4 -t 1 >"$out" 2>"$err"
check "tiny-llama3 (no template) gets llama3, from <|start_header_id|>" \
    grep -q "using the built-in 'llama3' format (its vocabulary has <|start_header_id|>)" "$err"
"$KAIWU" chat -m "$DATA/models/tiny-llama2-f32.gguf" -p "Hello" -n 4 -t 1 >"$out" 2>"$err"
check "tiny-llama2 (SentencePiece, no markers) gets llama2 ($(grep note "$err"))" \
    grep -q "using the built-in 'llama2' format" "$err"

# ------------------------------------------------------------------ one answer with -p

run_p() { "$KAIWU" chat -m "$QWEN" --format chatml --temp 0 -n 16 -t 1 "$@"; }
run_p -p "Hello" >"$tmp/a1" 2>"$err"
rc=$?
check "-p with --format chatml exits 0 (got $rc; $(head -c 300 "$err"))" [ "$rc" -eq 0 ]
check "-p prints an answer" [ -s "$tmp/a1" ]
check "-p reports the generated tokens on stderr" grep -q "^generated: [0-9]* tokens" "$err"
check "-p reports why generation stopped" grep -q "^stop: " "$err"
run_p -p "Hello" >"$tmp/a2" 2>"$err"
check "--temp 0 answers the same twice" cmp -s "$tmp/a1" "$tmp/a2"
printf 'Hello\n' | run_p >"$tmp/a3" 2>"$err"
check "a question on stdin gives the same answer as -p" cmp -s "$tmp/a1" "$tmp/a3"
run_p -p "Hello" --system "You are terse." >"$tmp/a4" 2>"$err"
check "--system is accepted (exit $?)" [ -s "$tmp/a4" ]
run_p -p "Hello" --no-think --hide-thinking >"$out" 2>"$err"
check "--no-think and --hide-thinking are accepted (exit $?)" [ $? -eq 0 ]
: | run_p >"$out" 2>"$err"
check "an empty stdin is a usage error (exit 2)" [ $? -eq 2 ]
check "an empty stdin says the text is empty" grep -q "the text is empty" "$err"

# ------------------------------------------------------------------ --json

run_p -p "你好，请介绍一下自己。" --json >"$out" 2>"$err"
rc=$?
check "--json exits 0 (got $rc)" [ "$rc" -eq 0 ]
check "--json prints one line" [ "$(wc -l <"$out" | tr -d ' ')" -eq 1 ]
if command -v python3 >/dev/null 2>&1; then
    python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
assert m["role"] == "assistant", m
assert isinstance(m["content"], str), m
assert "reasoning_content" in m, m
' "$out" 2>"$err"
    check "--json is a valid {role, content, reasoning_content} message ($(cat "$err"))" [ $? -eq 0 ]
elif command -v node >/dev/null 2>&1; then
    node -e 'const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
             if (m.role !== "assistant" || typeof m.content !== "string" || !("reasoning_content" in m)) process.exit(1);' "$out"
    check "--json is a valid {role, content, reasoning_content} message" [ $? -eq 0 ]
else
    check "--json looks like a message object" grep -q '^{"role": "assistant", "content": ".*", "reasoning_content": ' "$out"
fi
check "--json keeps statistics off stdout" sh -c "! grep -q 'tokens/s' '$out'"
# UTF-8 as is: this answer holds non-ASCII characters (U+FFFD among them); none is \uXXXX-escaped.
check "--json writes UTF-8 as is, not \\uXXXX ($(head -c 200 "$out"))" sh -c "! grep -q '\\\\u[0-9a-fA-F]\{4\}' '$out'"
check "--json output holds the raw UTF-8 bytes" sh -c "LC_ALL=C grep -q '[^ -~]' '$out'"

# ------------------------------------------------------------------ a model's own template

"$KAIWU" chat -m "$PHI" --temp 0 -n 8 -t 1 -p "Hello" >"$out" 2>"$err"
rc=$?
check "tiny-phi3 answers through its own template (exit $rc; $(head -c 200 "$err"))" [ "$rc" -eq 0 ]
"$KAIWU" chat -m "$PHI" --temp 0 -n 8 -t 1 -p "Hello" --verbose >"$out" 2>"$err"
check "--verbose names the template used" grep -q "chat format: model template" "$err"
"$KAIWU" chat -m "$DATA/models/tiny-llama2-f32.gguf" --format llama2 --temp 0 -n 8 -t 1 \
    -p "人工智能大模型" >"$out" 2>"$err"
check "--format llama2 on tiny-llama2 answers (exit $?)" [ $? -eq 0 ]

# ------------------------------------------------------------------ context limits

long="Please read this sentence carefully, then read it again, and again, and once more."
run_p -c 32 -p "$long $long" >"$out" 2>"$err"
rc=$?
check "a question longer than -c 32 exits 1 (got $rc)" [ "$rc" -eq 1 ]
check "the context error gives the numbers: $(cat "$err")" \
    grep -q "the conversation is [0-9]* tokens.*more than the context of 32 tokens" "$err"
check "the context error names the ways out" grep -q -- "--drop-oldest" "$err"
run_p -c 32 --drop-oldest -p "$long $long" >"$out" 2>"$err"
check "--drop-oldest cannot drop the question itself: still exit 1" [ $? -eq 1 ]

finish
