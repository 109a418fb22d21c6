#!/bin/sh
# default_model.sh - the model kaiwu run / chat / serve use when no -m is given (cli_default_model
# in tools/kaiwu/cli_opts.c): $KAIWU_MODEL first (used as is: a missing file is an error, never a
# silent fallback), else <dir of the executable>/../models/kaiwu-shi.gguf, else
# ./models/kaiwu-shi.gguf, else an error naming every path tried and the fix (make model, -m).
#
# Hermetic: the CLI is copied into scratch trees (the executable's own location is what counts,
# so the repo's models/kaiwu-shi.gguf, once committed, does not leak in), with different tiny test
# models standing in for the shipped one, so each case proves which file was loaded by comparing
# greedy output with an explicit -m run of that file.

TEST_NAME=default_model.sh
. tests/check.sh
require_kaiwu
QWEN=$(pwd)/$DATA/models/tiny-qwen3-f16.gguf
LLAMA=$(pwd)/$DATA/models/tiny-llama3-f16.gguf
K=$(pwd)/$KAIWU
unset KAIWU_MODEL

# A kaiwu with a models/ folder beside its bin/ (exe-relative), one with none, and a working
# directory holding ./models/kaiwu-shi.gguf.
mkdir -p "$tmp/withmodel/bin" "$tmp/withmodel/models" "$tmp/bare/bin" "$tmp/cwd/models" \
    "$tmp/empty"
cp "$K" "$tmp/withmodel/bin/kaiwu" && cp "$K" "$tmp/bare/bin/kaiwu"
cp "$LLAMA" "$tmp/withmodel/models/kaiwu-shi.gguf"
cp "$QWEN" "$tmp/cwd/models/kaiwu-shi.gguf"
WITH=$tmp/withmodel/bin/kaiwu
BARE=$tmp/bare/bin/kaiwu
GEN="-n 6 --temp 0 --seed 1"

# want_same DESC EXPECTED_FILE COMMAND...: the command succeeds and prints what EXPECTED_FILE holds.
want_same() {
    desc=$1 exp=$2
    shift 2
    "$@" >"$out" 2>"$err"
    rc=$?
    check "$desc: exits 0 (got $rc; $(head -c 300 "$err"))" [ "$rc" -eq 0 ]
    check "$desc: the output is that of the expected model" cmp -s "$out" "$exp"
}

# Reference outputs with -m.
"$K" run -m "$QWEN" -p "hello" $GEN >"$tmp/qwen.txt" 2>/dev/null
"$K" run -m "$LLAMA" -p "hello" $GEN >"$tmp/llama.txt" 2>/dev/null
check "the two stand-in models answer differently (else the checks below prove nothing)" \
    sh -c "! cmp -s '$tmp/qwen.txt' '$tmp/llama.txt'"

# ------------------------------------------------------------------ the lookup order

cd "$tmp/empty" || exit 1
want_same "exe-relative models/kaiwu-shi.gguf" "$tmp/llama.txt" "$WITH" run -p hello $GEN
want_same "KAIWU_MODEL wins over the exe-relative file" "$tmp/qwen.txt" \
    env KAIWU_MODEL="$QWEN" "$WITH" run -p hello $GEN
want_same "KAIWU_MODEL with a CLI that has no models/ beside it" "$tmp/qwen.txt" \
    env KAIWU_MODEL="$QWEN" "$BARE" run -p hello $GEN
want_same "an explicit -m wins over KAIWU_MODEL" "$tmp/llama.txt" \
    env KAIWU_MODEL="$QWEN" "$BARE" run -m "$LLAMA" -p hello $GEN
want_same "'kaiwu run PROMPT' (a positional prompt, not a model)" "$tmp/llama.txt" \
    "$WITH" run hello $GEN
cd "$tmp/cwd" || exit 1
want_same "./models/kaiwu-shi.gguf in the current directory" "$tmp/qwen.txt" \
    "$BARE" run -p hello $GEN
want_same "the exe-relative file wins over ./models" "$tmp/llama.txt" "$WITH" run -p hello $GEN

# kaiwu chat (one question with -p) uses the same default.
"$K" chat -m "$LLAMA" -p hello $GEN >"$tmp/chat_llama.txt" 2>/dev/null
cd "$tmp/empty" || exit 1
want_same "kaiwu chat -p without -m (exe-relative)" "$tmp/chat_llama.txt" "$WITH" chat -p hello $GEN

# ------------------------------------------------------------------ nothing found

for c in run chat serve; do
    if [ "$c" = serve ]; then
        "$BARE" serve --port 0 >"$out" 2>"$err" </dev/null
    else
        "$BARE" $c -p hello >"$out" 2>"$err" </dev/null
    fi
    rc=$?
    check "$c without any model: exit 1 (got $rc)" [ "$rc" -eq 1 ]
    check "$c without any model: names \$KAIWU_MODEL" grep -q 'KAIWU_MODEL (not set)' "$err"
    check "$c without any model: names the exe-relative path" \
        grep -qF "$tmp/bare/bin/../models/kaiwu-shi.gguf" "$err"
    check "$c without any model: names ./models/kaiwu-shi.gguf" \
        grep -qF './models/kaiwu-shi.gguf' "$err"
    check "$c without any model: says how to fix it (make model, -m)" \
        sh -c "grep -q 'make model' '$err' && grep -q -- '-m MODEL.gguf' '$err'"
done
KAIWU_MODEL=$tmp/nope.gguf "$WITH" run -p hello >"$out" 2>"$err"
rc=$?
check "a KAIWU_MODEL that does not exist: exit 1 (got $rc), no fallback" [ "$rc" -eq 1 ]
check "a KAIWU_MODEL that does not exist: the error names it and the reason" \
    grep -qF "KAIWU_MODEL=$tmp/nope.gguf is not a readable file (No such file" "$err"
check "nothing was generated" [ ! -s "$out" ]
cd - >/dev/null || exit 1

# ------------------------------------------------------------------ --help says so
for c in run chat serve; do
    "$K" $c --help >"$out" 2>&1
    check "kaiwu $c --help describes the default model" \
        sh -c "grep -q 'KAIWU_MODEL' '$out' && grep -q 'models/kaiwu-shi.gguf' '$out' && grep -q 'make model' '$out'"
done
finish
