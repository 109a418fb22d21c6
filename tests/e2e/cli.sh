#!/bin/sh
# cli.sh - end-to-end tests of the kaiwu command: help and usage errors, greedy `kaiwu run` on
# tiny-llama3 against llama.cpp's golden continuation, stop strings, the statistics on stderr,
# the prompt-too-long error, and `kaiwu tokenize` (--ids against the golden prompt tokens,
# --detok round trip, a vocabulary-only file).
#
# Plain POSIX sh + sed/grep/od (no jq, no python). Golden values are read from the golden JSON
# with sed. Run from the repo root: BUILD=build sh tests/e2e/cli.sh (tests/run.sh does this).
# Prints "FAIL cli.sh: ..." per failed check and ends with "N passed, N failed".

TEST_NAME=cli.sh
. tests/check.sh
MODEL=$DATA/models/tiny-llama3-f16.gguf
GOLDEN=$DATA/golden/tiny-llama3-f16/en.json

require_kaiwu

# Bytes of a file as one lowercase hex string.
hex_of() { od -An -v -tx1 "$1" | tr -d ' \n'; }
# The hex of what kaiwu run prints for generated text (hex): stdout ends with a newline, added
# when the text does not end with one.
with_nl() { case "$1" in *0a) [ $((${#1} % 2)) -eq 0 ] && echo "$1" && return ;; esac; echo "${1}0a"; }
# The value of a top-level JSON field of the golden file, as written on its line.
golden_field() { sed -n "s/^  \"$1\": \(.*\),\$/\1/p" "$GOLDEN"; }

# ------------------------------------------------------------------ help and usage errors

"$KAIWU" --help >"$out" 2>"$err"
rc=$?
check "kaiwu --help exits 0 (got $rc)" [ "$rc" -eq 0 ]
for c in run info tokenize; do
    check "kaiwu --help lists the '$c' command" grep -q "^  $c " "$out"
done

"$KAIWU" run --help >"$out" 2>"$err"
rc=$?
check "kaiwu run --help exits 0 (got $rc)" [ "$rc" -eq 0 ]
for o in -m -p -n --temp --top-k --top-p --min-p --seed --stop --repeat-penalty; do
    check "kaiwu run --help documents $o" grep -q -- " $o" "$out"
done
"$KAIWU" tokenize --help >"$out" 2>"$err"
check "kaiwu tokenize --help documents --detok" grep -q -- "--detok" "$out"

"$KAIWU" --version >"$out" 2>"$err"
check "kaiwu --version prints the version" grep -q "^kaiwu [0-9]" "$out"

"$KAIWU" frobnicate >"$out" 2>"$err"
rc=$?
check "an unknown command exits 2 (got $rc)" [ "$rc" -eq 2 ]
check "an unknown command names it" grep -q "unknown command 'frobnicate'" "$err"
check "an unknown command lists the commands" grep -q "run, info, tokenize" "$err"

"$KAIWU" >"$out" 2>"$err"
rc=$?
check "kaiwu without a command exits 2 (got $rc)" [ "$rc" -eq 2 ]

"$KAIWU" run -m "$MODEL" </dev/null >"$out" 2>"$err"
rc=$?
check "kaiwu run without a prompt (stdin empty) exits 2 (got $rc)" [ "$rc" -eq 2 ]
check "kaiwu run without a prompt says the text is empty" grep -q "the text is empty" "$err"
check "a usage error gives a hint" grep -q "kaiwu run --help" "$err"

"$KAIWU" run -m "$MODEL" -p x --temp warm >"$out" 2>"$err"
rc=$?
check "a malformed number exits 2 (got $rc)" [ "$rc" -eq 2 ]
check "a malformed number is named" grep -q -- "--temp: 'warm' is not a number" "$err"

"$KAIWU" run -m "$tmp/no-such-model.gguf" -p x >"$out" 2>"$err"
rc=$?
check "a missing model file exits 1 (got $rc)" [ "$rc" -eq 1 ]
check "a missing model file is reported as an error" grep -q "^error: " "$err"

# ------------------------------------------------------------------ golden greedy continuation

prompt=$(golden_field prompt | sed 's/^"\(.*\)"$/\1/')
prompt_tokens=$(golden_field prompt_tokens | tr -d '[] ')
gen_tokens=$(golden_field gen_tokens | tr -d '[] ')
gen_hex=$(golden_field gen_text_hex | tr -d '"')
n_prompt=$(golden_field n_prompt)
if [ -n "$prompt" ] && [ -n "$gen_hex" ] && [ -n "$prompt_tokens" ] && [ -n "$n_prompt" ]; then
    ok
else
    bad "cannot read prompt, prompt_tokens, n_prompt and gen_text_hex from $GOLDEN"
    finish
fi

# kaiwu stops at an end-of-generation token where llama.cpp's dump went on: compare only the text
# before the first special id (tiny-llama3's specials are 1024..1033, see golden/README.md).
n_gen=0
expect_hex=$gen_hex
stopped_early=no
i=0
for t in $(echo "$gen_tokens" | tr ',' ' '); do
    if [ "$t" -ge 1024 ]; then
        stopped_early=yes
        expect_hex=$(golden_field gen_pieces_hex | tr -d '[]" ' | tr ',' '\n' | head -n "$i" | tr -d '\n')
        break
    fi
    i=$((i + 1))
done
n_gen=$i

"$KAIWU" run -m "$MODEL" -p "$prompt" -n 16 --temp 0 -t 1 >"$out" 2>"$err"
rc=$?
check "kaiwu run on the golden prompt exits 0 (got $rc; stderr: $(head -c 300 "$err"))" [ "$rc" -eq 0 ]
got_hex=$(hex_of "$out")
check "greedy run prints exactly the golden continuation and a newline (want $expect_hex, got $got_hex)" \
    [ "$got_hex" = "$(with_nl "$expect_hex")" ]
check "stderr reports $n_prompt prompt tokens with a speed" grep -q "^prompt: $n_prompt tokens in .*tokens/s" "$err"
check "stderr reports $n_gen generated tokens" grep -q "^generated: $n_gen tokens in " "$err"
check "stderr reports the KV cache size in MiB" grep -q "^KV cache: [0-9.]* MiB" "$err"
check "stderr reports the peak memory" grep -q "^peak memory: [0-9.]* MiB" "$err"
if [ "$stopped_early" = no ]; then
    check "the run stops on the -n limit" grep -q "^stop: length limit" "$err"
else
    check "the run stops on the end-of-generation token" grep -q "^stop: end of generation" "$err"
fi
check "no statistics leak into stdout" sh -c "! grep -q 'tokens/s' '$out'"

# The same through -f, and the same seed twice with sampling on gives the same text.
printf '%s' "$prompt" >"$tmp/prompt.txt"
"$KAIWU" run -m "$MODEL" -f "$tmp/prompt.txt" -n 16 --temp 0 -t 1 >"$out" 2>"$err"
check "the prompt read with -f gives the same continuation" [ "$(hex_of "$out")" = "$(with_nl "$expect_hex")" ]
"$KAIWU" run -m "$MODEL" -p "$prompt" -n 12 --temp 1.5 --seed 42 -t 1 >"$tmp/s1" 2>"$err"
"$KAIWU" run -m "$MODEL" -p "$prompt" -n 12 --temp 1.5 --seed 42 -t 1 >"$tmp/s2" 2>"$err"
check "the same --seed gives the same sampled text" cmp -s "$tmp/s1" "$tmp/s2"
check "the seed is printed on stderr" grep -q "^seed: 42$" "$err"

# ------------------------------------------------------------------ stop strings

# The golden text is "}# */\nindowindow...": stop on a string inside one token, and on one that
# spans tokens (" */\n" + "indow"), which needs the held-back output.
"$KAIWU" run -m "$MODEL" -p "$prompt" -n 16 --temp 0 -t 1 --stop indow >"$out" 2>"$err"
check "--stop indow prints only the text before it" [ "$(hex_of "$out")" = "7d23202a2f0a" ]
check "stdout ending with a newline gets no second one" [ "$(tail -c 2 "$out" | od -An -tx1 | tr -d ' \n')" != "0a0a" ]
check "--stop reports the stop string as the reason" grep -q "^stop: stop string" "$err"
"$KAIWU" run -m "$MODEL" -p "$prompt" -n 16 --temp 0 -t 1 --stop "/
i" >"$out" 2>"$err"
check "a stop string spanning tokens is not printed (got $(hex_of "$out"))" [ "$(hex_of "$out")" = "7d23202a0a" ]
"$KAIWU" run -m "$MODEL" -p "$prompt" -n 16 --temp 0 -t 1 --stop "ow!" >"$out" 2>"$err"
check "a stop string that never completes holds nothing back at the end" [ "$(hex_of "$out")" = "$(with_nl "$expect_hex")" ]

# ------------------------------------------------------------------ context limits

"$KAIWU" run -m "$MODEL" -p "$prompt" -c 5 -t 1 >"$out" 2>"$err"
rc=$?
check "a prompt longer than -c exits 1 (got $rc)" [ "$rc" -eq 1 ]
check "the error names both numbers ($n_prompt tokens, context 5): $(cat "$err")" \
    grep -q "$n_prompt tokens.* 5 tokens" "$err"
"$KAIWU" run -m "$MODEL" -p "$prompt" -c 16 -n -1 --temp 0 -t 1 >"$out" 2>"$err"
rc=$?
check "-n -1 with -c 16 stops cleanly (exit $rc)" [ "$rc" -eq 0 ]
check "-n -1 with -c 16 says the context is full" grep -q "^stop: context full" "$err"
check "-c 16 after a $n_prompt-token prompt prints 16 - $n_prompt + 1 tokens" \
    [ "$(hex_of "$out")" = "$(with_nl "$(golden_field gen_pieces_hex | tr -d '[]" ' | tr ',' '\n' | head -n $((16 - n_prompt + 1)) | tr -d '\n')")" ]

# ------------------------------------------------------------------ tokenize

"$KAIWU" tokenize -m "$MODEL" --ids "$prompt" >"$out" 2>"$err"
rc=$?
check "tokenize --ids exits 0 (got $rc)" [ "$rc" -eq 0 ]
check "tokenize --ids prints the golden prompt tokens [$prompt_tokens] (got $(cat "$out"))" \
    [ "$(tr -d ' \n' <"$out")" = "[$prompt_tokens]" ]
printf '%s' "$prompt" | "$KAIWU" tokenize -m "$MODEL" --ids - >"$out" 2>"$err"
check "tokenize reads TEXT from stdin for '-'" [ "$(tr -d ' \n' <"$out")" = "[$prompt_tokens]" ]

"$KAIWU" tokenize -m "$MODEL" "$prompt" >"$out" 2>"$err"
check "tokenize prints one line per token" [ "$(wc -l <"$out" | tr -d ' ')" -eq "$n_prompt" ]
tab=$(printf '\t')
check "tokenize shows id<TAB>'piece' lines" grep -q "^$(echo "$prompt_tokens" | cut -d, -f2)$tab'I'\$" "$out"

ids=$("$KAIWU" tokenize -m "$MODEL" --ids --no-special "$prompt" | tr -d '[],')
check "tokenize --no-special drops BOS ($(echo "$ids" | wc -w | tr -d ' ') ids)" \
    [ "$(echo "$ids" | wc -w | tr -d ' ')" -eq $((n_prompt - 1)) ]
# shellcheck disable=SC2086 # the ids are meant to split into arguments
"$KAIWU" tokenize -m "$MODEL" --detok $ids >"$out" 2>"$err"
check "--detok round trip gives the prompt back (got '$(cat "$out")')" [ "$(cat "$out")" = "$prompt" ]
"$KAIWU" tokenize -m "$MODEL" --detok 999999 >"$out" 2>"$err"
rc=$?
check "--detok of an id outside the vocabulary exits 1 (got $rc)" [ "$rc" -eq 1 ]

# A vocabulary-only file (no tensors; gpt2 is an architecture kaiwu cannot run): tokenize works
# (the ids of the first case of its case file), run is refused with a message saying why.
VOCAB=$DATA/tokenizer/vocab/gpt-2.gguf
"$KAIWU" tokenize -m "$VOCAB" --ids "ied 4 ½ months" >"$out" 2>"$err"
rc=$?
check "tokenize on a vocabulary-only file exits 0 (got $rc: $(cat "$err"))" [ "$rc" -eq 0 ]
check "tokenize on a vocabulary-only file gives the reference ids (got $(cat "$out"))" \
    [ "$(tr -d ' \n' <"$out")" = "[798,604,25208,1933]" ]
"$KAIWU" tokenize -m "$VOCAB" --detok 798 604 25208 1933 >"$out" 2>"$err"
check "--detok on a vocabulary-only file (got '$(cat "$out")')" [ "$(cat "$out")" = "ied 4 ½ months" ]
"$KAIWU" run -m "$VOCAB" -p "Hello" >"$out" 2>"$err"
rc=$?
check "run on a vocabulary-only file exits 1 (got $rc)" [ "$rc" -eq 1 ]
check "run on a vocabulary-only file says why" grep -q "holds only a vocabulary (no weights)" "$err"
"$KAIWU" info "$VOCAB" >"$out" 2>"$err"
rc=$?
check "info on a vocabulary-only file exits 0 (got $rc)" [ "$rc" -eq 0 ]
check "info on a vocabulary-only file says so" grep -q "a vocabulary only" "$out"

finish
