#!/bin/sh
# outputs.sh - no command overwrites one of its inputs, and an interrupted run leaves no partial
# file: the reproductions of issue 15 (perplexity --save-logits MODEL was a bus error that left the
# model 32 bytes long; imatrix -o and --save-logits over the text exited 0), through the same path,
# a symbolic link and a hard link, for perplexity, imatrix and quantize; then perplexity
# interrupted with SIGINT while writing --save-logits (exit 130, no output, no temporary file, an
# older output kept as it was). chat /save is covered by chat_tmux.sh.
#
# Every input is compared byte for byte with a pristine copy afterwards. Plain POSIX sh; run from
# the repo root: BUILD=build sh tests/e2e/outputs.sh (tests/run.sh does this).

TEST_NAME=outputs.sh
. tests/check.sh
require_kaiwu

cp "$DATA/models/quant-base-f16.gguf" "$tmp/model.gguf"
cp "$DATA/text/heldout-en-zh.txt" "$tmp/text.txt"
cp "$tmp/model.gguf" "$tmp/model.orig"
cp "$tmp/text.txt" "$tmp/text.orig"
ln -s model.gguf "$tmp/model-link.gguf"
ln "$tmp/text.txt" "$tmp/text-hard.txt"
M=$tmp/model.gguf
T=$tmp/text.txt

# inputs_intact LABEL: the model and the text are byte-identical to their copies, nothing temporary
# is left in the directory.
inputs_intact() {
    check "$1: the model is byte-identical afterwards" cmp -s "$M" "$tmp/model.orig"
    check "$1: the text is byte-identical afterwards" cmp -s "$T" "$tmp/text.orig"
    left=$(ls "$tmp" | grep -c '\.tmp\.')
    check "$1: no temporary file is left ($left)" [ "$left" -eq 0 ]
}

# refused LABEL COMMAND...: the command exits 1 and says it refuses to overwrite the input.
refused() {
    label=$1
    shift
    "$@" >"$out" 2>"$err"
    rc=$?
    check "$label: refused with exit 1 (got $rc)" [ "$rc" -eq 1 ]
    check "$label: the message says why" grep -q "refusing to overwrite the input" "$err"
    inputs_intact "$label"
}

# ------------------------------------------------------------------ perplexity --save-logits

refused "perplexity --save-logits MODEL" \
    "$KAIWU" perplexity -m "$M" -f "$T" -c 64 --save-logits "$M"
refused "perplexity --save-logits TEXT" \
    "$KAIWU" perplexity -m "$M" -f "$T" -c 64 --save-logits "$T"
refused "perplexity --save-logits LINK-TO-MODEL" \
    "$KAIWU" perplexity -m "$M" -f "$T" -c 64 --save-logits "$tmp/model-link.gguf"
refused "perplexity --save-logits HARD-LINK-TO-TEXT" \
    "$KAIWU" perplexity -m "$M" -f "$T" -c 64 --save-logits "$tmp/text-hard.txt"
"$KAIWU" perplexity -m "$M" -f "$T" -c 64 --chunks 2 --save-logits "$tmp/base.logits" \
    >"$out" 2>"$err"
rc=$?
check "perplexity --save-logits NEW works (exit $rc)" [ "$rc" -eq 0 ]
refused "perplexity --save-logits KL-BASE" \
    "$KAIWU" perplexity -m "$M" -f "$T" -c 64 --kl-base "$tmp/base.logits" \
    --save-logits "$tmp/base.logits"
inputs_intact "perplexity --save-logits NEW"

# ------------------------------------------------------------------ imatrix -o

refused "imatrix -o MODEL" "$KAIWU" imatrix -m "$M" -f "$T" -c 64 -o "$M"
refused "imatrix -o TEXT" "$KAIWU" imatrix -m "$M" -f "$T" -c 64 -o "$T"
refused "imatrix -o LINK-TO-MODEL" "$KAIWU" imatrix -m "$M" -f "$T" -c 64 -o "$tmp/model-link.gguf"
"$KAIWU" imatrix -m "$M" -f "$T" -c 64 --chunks 2 -o "$tmp/m.imatrix" >"$out" 2>"$err"
rc=$?
check "imatrix -o NEW works (exit $rc)" [ "$rc" -eq 0 ]

# ------------------------------------------------------------------ quantize

refused "quantize MODEL MODEL" "$KAIWU" quantize "$M" "$M" Q4_0
refused "quantize MODEL LINK-TO-MODEL" "$KAIWU" quantize "$M" "$tmp/model-link.gguf" Q4_0
cp "$tmp/m.imatrix" "$tmp/m.imatrix.orig"
refused "quantize --imatrix IM MODEL IM" \
    "$KAIWU" quantize --imatrix "$tmp/m.imatrix" "$M" "$tmp/m.imatrix" Q4_K_M
check "quantize: the imatrix is byte-identical afterwards" cmp -s "$tmp/m.imatrix" "$tmp/m.imatrix.orig"

# ------------------------------------------------------------------ interrupted: nothing partial

# A text long enough that the run is still going when it is interrupted (~2000 chunks of 64).
i=0
while [ $i -lt 40 ]; do cat "$T"; i=$((i + 1)); done >"$tmp/long.txt"

# interrupt OUT: runs perplexity --save-logits OUT with SIGINT at its default action (a background
# job of sh ignores SIGINT otherwise), sends SIGINT once three chunks are done; sets $rc.
interrupt() {
    : >"$err" # the last run's "[chunk 3/" must not end the wait before this run has begun
    env --default-signal=INT "$KAIWU" perplexity -m "$M" -f "$tmp/long.txt" -c 64 -t 1 \
        --save-logits "$1" >"$out" 2>"$err" &
    pid=$!
    n=0
    while ! grep -q '^\[chunk 3/' "$err" && [ $n -lt 300 ]; do
        sleep 0.05
        n=$((n + 1))
    done
    kill -INT $pid
    wait $pid
    rc=$?
}

interrupt "$tmp/new.logits"
check "interrupted perplexity exits 130 (got $rc)" [ "$rc" -eq 130 ]
check "the run was interrupted mid-way, not finished" sh -c "! grep -q '^ppl:' '$out'"
check "an interrupted run leaves no output file" [ ! -e "$tmp/new.logits" ]
inputs_intact "interrupted perplexity"

cp "$tmp/base.logits" "$tmp/old.logits"
interrupt "$tmp/base.logits"
check "interrupted over an old output: exit 130 (got $rc)" [ "$rc" -eq 130 ]
check "the old output is kept as it was" cmp -s "$tmp/base.logits" "$tmp/old.logits"
inputs_intact "interrupted over an old output"

finish
