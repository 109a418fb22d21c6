#!/bin/sh
# cli_compat.sh - what llama.cpp and ollama users type, exit statuses and limits:
# `kaiwu run MODEL PROMPT` and a prompt on stdin, -f, -e escapes, --seed -1 / -s, -c 0 (the
# model's context) and a warning above the trained length, --ignore-eos, --chat-template (a
# built-in name, auto, Jinja text), -ngl accepted with a note; Ctrl-C exits 130 (run and chat -p);
# one thread limit (KW_MAX_THREADS = 256) for every command; usage errors exit 2 for every
# command; stdout ends with a newline; messages that say what to do (--allow-requantize, the file
# is truncated, the text is empty).
#
# Plain POSIX sh, tiny models, greedy runs: a few seconds. Run from the repo root:
# BUILD=build sh tests/e2e/cli_compat.sh (tests/run.sh does this).

TEST_NAME=cli_compat.sh
. tests/check.sh
require_kaiwu
L3=$DATA/models/tiny-llama3-f16.gguf
QW=$DATA/models/tiny-qwen3-f16.gguf
G2=$DATA/models/tiny-gemma2-f16.gguf

# last_byte FILE: the file's last byte in hex ("" when empty).
last_byte() { tail -c 1 "$1" | od -An -tx1 | tr -d ' \n'; }
greedy() { "$KAIWU" run --temp 0 -t 1 -n 12 "$@"; }

# ------------------------------------------------------------------ run MODEL PROMPT, stdin, -f

greedy -m "$L3" -p "Once upon a time" >"$tmp/ref" 2>"$err"
greedy "$L3" "Once upon a time" >"$out" 2>"$err"
rc=$?
check "kaiwu run MODEL PROMPT works (exit $rc: $(head -c 200 "$err"))" [ "$rc" -eq 0 ]
check "kaiwu run MODEL PROMPT = kaiwu run -m MODEL -p PROMPT" cmp -s "$out" "$tmp/ref"
printf 'Once upon a time' | greedy "$L3" >"$out" 2>"$err"
check "a prompt on stdin (echo ... | kaiwu run MODEL) is the same" cmp -s "$out" "$tmp/ref"
printf 'Once upon a time' >"$tmp/p.txt"
greedy "$L3" -f "$tmp/p.txt" >"$out" 2>"$err"
check "-f FILE is the same" cmp -s "$out" "$tmp/ref"
check "run's stdout ends with a newline" [ "$(last_byte "$tmp/ref")" = 0a ]
greedy "$L3" "Once" "upon" >"$out" 2>"$err"
rc=$?
check "a third positional argument is a usage error (exit $rc)" [ "$rc" -eq 2 ]
check "which says to quote the prompt" grep -q "quote a prompt" "$err"

# ------------------------------------------------------------------ -e

greedy "$L3" -p "$(printf 'a\tb\nc')" >"$tmp/ref" 2>"$err"
greedy "$L3" -e -p 'a\tb\nc' >"$out" 2>"$err"
check "-e turns \\t and \\n into a tab and a newline" cmp -s "$out" "$tmp/ref"
greedy "$L3" -p 'a\tb\nc' >"$out" 2>"$err"
check "without -e the backslashes stay" sh -c "! cmp -s '$out' '$tmp/ref'"
greedy "$L3" -e -p 'caf\xc3\xa9' >"$out" 2>"$err"
greedy "$L3" -p 'café' >"$tmp/ref" 2>"$err"
check "-e turns \\xNN into bytes" cmp -s "$out" "$tmp/ref"

# ------------------------------------------------------------------ --seed -1, -s

"$KAIWU" run "$L3" "Hi" -n 4 --seed -1 -t 1 >"$out" 2>"$err"
rc=$?
s1=$(sed -n 's/^seed: //p' "$err")
"$KAIWU" run "$L3" "Hi" -n 4 --seed -1 -t 1 >"$out" 2>"$err"
s2=$(sed -n 's/^seed: //p' "$err")
check "--seed -1 is accepted (exit $rc) and draws a random seed ($s1, $s2)" \
    [ "$rc" -eq 0 ] && [ -n "$s1" ] && [ "$s1" != "$s2" ]
"$KAIWU" run "$L3" "Hi" -n 8 --temp 1 -s 7 -t 1 >"$tmp/s1" 2>"$err"
"$KAIWU" run "$L3" "Hi" -n 8 --temp 1 --seed 7 -t 1 >"$tmp/s2" 2>"$err"
check "-s 7 is --seed 7" cmp -s "$tmp/s1" "$tmp/s2"
check "the seed is printed" grep -q "^seed: 7$" "$err"

# ------------------------------------------------------------------ -c 0, above the trained length

"$KAIWU" run "$G2" "Hi" -n 1 -t 1 >"$out" 2>"$err"
check "default context: min(model's 8192, 4096)" grep -q "of 4096 positions used" "$err"
"$KAIWU" run "$G2" "Hi" -n 1 -t 1 -c 0 >"$out" 2>"$err"
check "-c 0 is the model's training context (8192): $(grep KV "$err")" grep -q "of 8192 positions used" "$err"
check "-c 0 does not warn" sh -c "! grep -q '^warning' '$err'"
"$KAIWU" run "$L3" "Hi" -n 1 -t 1 -c 8192 >"$out" 2>"$err"
check "a context above the trained length warns with both numbers" \
    grep -q "^warning: a context of 8192 tokens is above the 4096 the model was trained on" "$err"

# ------------------------------------------------------------------ --ignore-eos

greedy "$QW" "The cat" -n 300 >"$out" 2>"$err"
check "tiny-qwen3 on 'The cat' stops at its end-of-generation token" grep -q "^stop: end of generation" "$err"
greedy "$QW" "The cat" -n 300 --ignore-eos >"$out" 2>"$err"
check "--ignore-eos goes on to the -n limit" grep -q "^generated: 300 tokens" "$err"

# ------------------------------------------------------------------ --chat-template

greedy "$QW" "Hello" --chat-template chatml --verbose >"$out" 2>"$err"
rc=$?
check "run --chat-template chatml works (exit $rc)" [ "$rc" -eq 0 ]
check "the prompt is rendered as a user message" grep -q "^<|im_start|>user$" "$err"
check "with the generation prompt" grep -q "^<|im_start|>assistant$" "$err"
greedy "$L3" "Hello" --chat-template auto >"$out" 2>"$err"
check "run --chat-template auto states the format it chose" \
    grep -q "^note: the model has no chat template: using the built-in 'llama3' format" "$err"
greedy "$QW" "Hello" --chat-template '{{ "Q: " + messages[0].content + "\nA:" }}' --verbose \
    >"$out" 2>"$err"
check "run --chat-template takes Jinja text" grep -q "^Q: Hello$" "$err"
greedy "$QW" "Hello" --chat-template model >"$out" 2>"$err"
rc=$?
check "--chat-template model on a model without one fails (exit $rc)" [ "$rc" -eq 1 ]
check "and says how to name a format" grep -q "hint: name a format with --chat-template NAME" "$err"

# ------------------------------------------------------------------ -ngl

greedy "$L3" "Once upon a time" -ngl 99 >"$out" 2>"$err"
rc=$?
greedy "$L3" "Once upon a time" >"$tmp/ref" 2>/dev/null
check "-ngl 99 is accepted (exit $rc) and changes nothing" [ "$rc" -eq 0 ] && cmp -s "$out" "$tmp/ref"
check "-ngl says kaiwu runs on the CPU" grep -q "^note: -ngl 99 ignored: kaiwu runs on the CPU" "$err"
"$KAIWU" chat "$QW" -p "Hi" -n 2 --n-gpu-layers=33 >"$out" 2>"$err"
check "chat takes --n-gpu-layers=N too (exit $?)" grep -q "ignored: kaiwu runs on the CPU" "$err"
greedy "$L3" "x" -ngl lots >"$out" 2>"$err"
check "-ngl with a non-number is a usage error (exit $?)" grep -q "'lots' is not an integer" "$err"

# ------------------------------------------------------------------ Ctrl-C exits 130

# interrupt COMMAND...: runs it in the background with SIGINT at its default action, sends SIGINT
# once it has printed something (or after 10 s), sets $rc.
interrupt() {
    : >"$out" # the last command's output must not end the wait before this one has started
    env --default-signal=INT "$@" >"$out" 2>"$err" &
    pid=$!
    n=0
    while [ ! -s "$out" ] && [ $n -lt 200 ]; do
        sleep 0.05
        n=$((n + 1))
    done
    sleep 0.2
    kill -INT $pid
    wait $pid
    rc=$?
}
interrupt "$KAIWU" run "$QW" "Tell me" -n -1 --ignore-eos -c 32768 -t 1
check "Ctrl-C during run exits 130 (got $rc)" [ "$rc" -eq 130 ]
check "and still prints the statistics with the reason" grep -q "^stop: interrupted (Ctrl-C)" "$err"
interrupt "$KAIWU" chat "$QW" -p "Tell me" -n -1 --ignore-eos -c 32768 -t 1
check "Ctrl-C during chat -p exits 130 (got $rc)" [ "$rc" -eq 130 ]
check "chat -p says it was interrupted" grep -q "^stop: interrupted (Ctrl-C)" "$err"

# ------------------------------------------------------------------ one thread limit

for c in "run $L3 x" "chat $L3 -p x" "perplexity -m $L3 -f $tmp/p.txt" \
    "imatrix -m $L3 -f $tmp/p.txt -o $tmp/im" "quantize $L3 $tmp/q.gguf Q8_0" "bench -m $L3"; do
    # shellcheck disable=SC2086 # the command words are meant to split
    "$KAIWU" $c -t 257 >"$out" 2>"$err"
    rc=$?
    check "${c%% *} -t 257 is a usage error (exit $rc)" [ "$rc" -eq 2 ]
    check "${c%% *} -t 257 names the limit 256" grep -q "256" "$err"
done
"$KAIWU" run "$L3" "Hi" -n 1 -t 256 >"$out" 2>"$err"
check "-t 256, the limit itself, runs (exit $?)" [ $? -eq 0 ]
"$KAIWU" run --help >"$out"
check "run --help states the thread limit" grep -q -- "-t, --threads N .*1..256" "$out"

# ------------------------------------------------------------------ usage errors exit 2

for c in run chat info tokenize bench quantize imatrix perplexity; do
    "$KAIWU" $c --no-such-option-kw >"$out" 2>"$err" </dev/null
    rc=$?
    check "$c with an unknown option exits 2 (got $rc)" [ "$rc" -eq 2 ]
    check "$c's usage error points to --help" grep -q "kaiwu $c --help" "$err"
    case $c in
        run | chat) continue ;; # without -m they use the default model: tests/e2e/default_model.sh
    esac
    "$KAIWU" $c >"$out" 2>"$err" </dev/null
    rc=$?
    check "$c without its arguments exits 2 (got $rc)" [ "$rc" -eq 2 ]
done

# ------------------------------------------------------------------ stdout ends with a newline

"$KAIWU" chat "$QW" -p "Hi" -n 3 >"$out" 2>"$err"
check "chat -p's stdout ends with a newline" [ "$(last_byte "$out")" = 0a ]
"$KAIWU" chat "$QW" -p "Hi" -n 3 --json >"$out" 2>"$err"
check "chat --json's stdout ends with a newline" [ "$(last_byte "$out")" = 0a ]
"$KAIWU" tokenize -m "$L3" "Hi" >"$out" 2>"$err"
check "tokenize's stdout ends with a newline" [ "$(last_byte "$out")" = 0a ]
"$KAIWU" tokenize -m "$L3" --detok 100 200 >"$out" 2>"$err"
check "tokenize --detok's stdout ends with a newline" [ "$(last_byte "$out")" = 0a ]
"$KAIWU" info "$L3" >"$out" 2>"$err"
check "info's stdout ends with a newline" [ "$(last_byte "$out")" = 0a ]

# ------------------------------------------------------------------ messages that say what to do

"$KAIWU" quantize "$DATA/models/quant-q4_0.gguf" "$tmp/q.gguf" Q8_0 >"$out" 2>"$err"
check "requantizing names --allow-requantize (exit $?)" grep -q -- "--allow-requantize" "$err"
head -c 2000000 "$QW" >"$tmp/cut.gguf"
"$KAIWU" run "$tmp/cut.gguf" "Hi" >"$out" 2>"$err"
check "a truncated model says the file is truncated ($(cat "$err"))" grep -q "the file is truncated" "$err"
head -c 3000 "$QW" >"$tmp/cut2.gguf"
"$KAIWU" info "$tmp/cut2.gguf" >"$out" 2>"$err"
check "a file cut in its metadata says so too ($(cat "$err"))" grep -q "the file is truncated" "$err"
: >"$tmp/empty.txt"
"$KAIWU" perplexity -m "$L3" -f "$tmp/empty.txt" >"$out" 2>"$err"
check "perplexity on an empty text says the text is empty (exit $?)" grep -q "the text is empty" "$err"
"$KAIWU" imatrix -m "$L3" -f "$tmp/empty.txt" -o "$tmp/im" >"$out" 2>"$err"
check "imatrix on an empty text says the text is empty" grep -q "the text is empty" "$err"
"$KAIWU" run "$L3" -f "$tmp/empty.txt" >"$out" 2>"$err"
rc=$?
check "run on an empty prompt file: usage error (exit $rc) saying the text is empty" \
    [ "$rc" -eq 2 ] && grep -q "the text is empty" "$err"

finish
