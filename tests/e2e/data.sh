#!/bin/sh
# data.sh - end-to-end tests of `kaiwu data prepare`, `kaiwu tokenizer-train` and `kaiwu data sft`
# on the committed corpus fixture (tests/data/poetry): help texts, usage errors, the refusal to
# overwrite an input, the three commands chained as `make model` chains them, and their outputs
# (a second or two in all).
#
# Plain POSIX sh. Run from the repo root: BUILD=build sh tests/e2e/data.sh (tests/run.sh does
# this). Prints "FAIL data.sh: ..." per failed check and ends with "N passed, N failed".

TEST_NAME=data.sh
. tests/check.sh
CORPUS=$DATA/poetry

require_kaiwu

# ------------------------------------------------------------------ help and usage errors

"$KAIWU" --help >"$out" 2>&1
check "kaiwu --help lists data" grep -q "^  data " "$out"
check "kaiwu --help lists tokenizer-train" grep -q "^  tokenizer-train " "$out"
for c in "data prepare" "data sft" "tokenizer-train"; do
    # shellcheck disable=SC2086
    "$KAIWU" $c --help >"$out" 2>&1
    rc=$?
    check "$c --help exits 0 (got $rc)" [ "$rc" -eq 0 ]
    check "$c --help shows an example" grep -q "^example:" "$out"
done
"$KAIWU" data prepare --out "$tmp/d" >"$out" 2>"$err"
rc=$?
check "prepare without --in is a usage error (exit $rc)" [ "$rc" -eq 2 ]
check "the message says what to give" grep -q "give --in DIR" "$err"
"$KAIWU" data prepare --in "$tmp/nothing-here" --out "$tmp/d" >"$out" 2>"$err"
rc=$?
check "prepare of a missing directory fails (exit $rc)" [ "$rc" -eq 1 ]
check "the message names the directory" grep -q "nothing-here" "$err"
"$KAIWU" tokenizer-train --data x.txt --out y.gguf >"$out" 2>"$err"
rc=$?
check "tokenizer-train without --vocab is a usage error (exit $rc)" [ "$rc" -eq 2 ]
"$KAIWU" data frobnicate >"$out" 2>"$err"
rc=$?
check "an unknown data command is a usage error (exit $rc)" [ "$rc" -eq 2 ]

# ------------------------------------------------------------------ the chain

"$KAIWU" data prepare --in "$CORPUS" --out "$tmp/d" --val-fraction 0.3 >"$out" 2>"$err"
rc=$?
check "prepare on the fixture succeeds (exit $rc)" [ "$rc" -eq 0 ]
for f in train.txt val.txt poems.jsonl report.md; do
    check "prepare wrote $f" [ -s "$tmp/d/$f" ]
done
check "prepare prints its counts" grep -q "64 records" "$out"
check "prepare shows progress on stderr" grep -q "read: 12/12" "$err"
check "no temporary file is left" [ -z "$(ls "$tmp/d" | grep '\.tmp$')" ]

"$KAIWU" tokenizer-train --data "$tmp/d/train.txt" --vocab 1024 --out "$tmp/d/vocab.gguf" -q \
    >"$out" 2>"$err"
rc=$?
check "tokenizer-train succeeds (exit $rc)" [ "$rc" -eq 0 ]
check "tokenizer-train checks itself against kaiwu's tokenizer" grep -q "segmented as in training" "$out"
check "tokenizer-train reports tokens per character" grep -q "tokens/char" "$out"
"$KAIWU" info "$tmp/d/vocab.gguf" >"$out" 2>&1
check "the vocabulary is a llama tokenizer" grep -q 'tokenizer.ggml.model.*"llama"' "$out"
check "with a chat template" grep -q "tokenizer.chat_template" "$out"
cp "$tmp/d/train.txt" "$tmp/keep.txt"
"$KAIWU" tokenizer-train --data "$tmp/d/train.txt" --vocab 1024 --out "$tmp/d/train.txt" -q \
    >"$out" 2>"$err"
rc=$?
check "tokenizer-train refuses to overwrite its input (exit $rc)" [ "$rc" -eq 1 ]
check "the input is untouched" cmp -s "$tmp/d/train.txt" "$tmp/keep.txt"

"$KAIWU" data sft --in "$tmp/d" --out "$tmp/d/sft.jsonl" --eval "$tmp/d/eval.jsonl" \
    --eval-min 1 --per-poem 3 >"$out" 2>"$err"
rc=$?
check "data sft succeeds (exit $rc)" [ "$rc" -eq 0 ]
check "sft wrote conversations" grep -q '"role": "assistant"' "$tmp/d/sft.jsonl"
check "sft wrote the evaluation set" grep -q '写一首[五七]言绝句，题为《' "$tmp/d/eval.jsonl"
"$KAIWU" data sft --in "$tmp/d" --out "$tmp/d/sft.jsonl" --eval "$tmp/d/eval.jsonl" \
    >"$out" 2>"$err"
rc=$?
check "a fixture-sized evaluation set is below the default --eval-min 50 (exit $rc)" [ "$rc" -eq 1 ]
check "the message says how to get more" grep -q "val-fraction" "$err"
"$KAIWU" data sft --in "$tmp/d" --out "$tmp/d/poems.jsonl" >"$out" 2>"$err"
rc=$?
check "data sft refuses to overwrite poems.jsonl (exit $rc)" [ "$rc" -eq 1 ]

finish
