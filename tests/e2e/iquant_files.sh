#!/bin/sh
# iquant_files.sh - GGUF files in the i-quant, ternary and MXFP4 types, made by libggml's own
# quantizer (ggml_quantize_chunk, what llama-quantize calls) from tiny-llama2-f32, load and run in
# kaiwu, and kaiwu's logits on each agree with its logits on the same weights dequantized to F32
# by ggml's to_float: mean KL below 0.05 and top-1 agreement at least 85 % over 62 scored
# positions (the only difference left is the Q8_0 / Q8_K activation rounding; for scale, kaiwu's
# IQ4_XS file against the original F32 model is at KL 0.9). Then the other way round: the IQ4_NL,
# IQ4_XS, IQ3_S and IQ2_XS files `kaiwu quantize` writes are read by libggml's GGUF reader and
# to_float, with the same agreement required. tests/ggml-ref/iq_quantize_model.c
# links the llama.cpp build at $LLAMA_CPP (default /work/ext/llama.cpp); without that build this
# test says NOT RUN on stdout and counts nothing.
#
# Plain POSIX sh. Run from the repo root: BUILD=build sh tests/e2e/iquant_files.sh (tests/run.sh
# does this). Prints "FAIL iquant_files.sh: ..." per failed check and ends with "N passed, N failed".

TEST_NAME=iquant_files.sh
. tests/check.sh
LC=${LLAMA_CPP:-/work/ext/llama.cpp}
BASE=$DATA/models/tiny-llama2-f32.gguf
TEXT=$DATA/text/heldout-en-zh.txt

require_kaiwu

if [ ! -f "$LC/build/bin/libggml-base.so" ] || [ ! -f "$LC/ggml/include/gguf.h" ]; then
    echo "NOT RUN iquant_files.sh: no llama.cpp build at $LC (libggml-base.so); set LLAMA_CPP"
    finish
fi
if ! ${CC:-cc} -std=c17 -O1 -I"$LC/ggml/include" -o "$tmp/iqq" tests/ggml-ref/iq_quantize_model.c \
    -L"$LC/build/bin" -lggml-base -Wl,-rpath,"$LC/build/bin" 2>"$err"; then
    bad "tests/ggml-ref/iq_quantize_model.c builds against $LC: $(head -n 3 "$err")"
    finish
fi

for t in iq4_nl iq4_xs iq3_xxs iq3_s iq2_xxs iq2_xs iq2_s iq1_s iq1_m tq1_0 tq2_0 mxfp4; do
    q=$tmp/m-$t.gguf
    if ! "$tmp/iqq" "$BASE" "$q" "$t" >"$out" 2>"$err" || ! "$tmp/iqq" "$q" "$tmp/deq.gguf" f32 >"$out" 2>"$err"; then
        bad "$t: libggml quantizes and dequantizes tiny-llama2: $(head -n 3 "$err")"
        continue
    fi
    T=$(echo "$t" | tr a-z A-Z)
    "$KAIWU" info "$q" >"$out" 2>"$err"
    check "$t: kaiwu info lists $T tensors" grep -q "$T" "$out"
    "$KAIWU" run -m "$q" -p "hello" -n 4 --temp 0 >"$out" 2>"$err"
    rc=$?
    check "$t: kaiwu runs the file (exit $rc: $(head -n 2 "$err"))" [ "$rc" -eq 0 ]
    "$KAIWU" perplexity -m "$tmp/deq.gguf" -f "$TEXT" -c 64 --chunks 2 -t 1 \
        --save-logits "$tmp/deq.logits" >"$out" 2>&1
    "$KAIWU" perplexity -m "$q" -f "$TEXT" -c 64 --chunks 2 -t 1 --kl-base "$tmp/deq.logits" >"$out" 2>&1
    kl=$(sed -n 's/^kl mean: \([0-9.e+-]*\).*/\1/p' "$out")
    top1=$(sed -n 's/^top1 agreement: \([0-9.]*\)%.*/\1/p' "$out")
    echo "$t: kl mean ${kl:-?}, top1 ${top1:-?}% against ggml's dequantized weights"
    check "$t: mean KL ${kl:-?} against ggml's dequantization is below 0.05" \
        awk -v k="${kl:-9}" 'BEGIN { exit !(k < 0.05) }'
    check "$t: top-1 agreement ${top1:-?}% is at least 85%" \
        awk -v k="${top1:-0}" 'BEGIN { exit !(k >= 85) }'
done

# ------------------------------------------------------------------ files kaiwu writes, read by ggml
# kaiwu quantize's i-quant files through libggml's GGUF reader and to_float (what llama.cpp loads
# them with): they must open, and kaiwu's run of its file must match its run of ggml's
# dequantization of it, as for ggml's files above.
"$KAIWU" imatrix -m "$BASE" -f "$TEXT" -o "$tmp/im.gguf" -c 64 --chunks 2 -t 1 >"$out" 2>"$err"
for T in IQ4_NL IQ4_XS IQ3_S IQ2_XS; do
    t=$(echo "$T" | tr A-Z a-z)
    q=$tmp/kw-$t.gguf
    if ! "$KAIWU" quantize "$BASE" "$q" "$T" --pure --imatrix "$tmp/im.gguf" -t 1 >"$out" 2>"$err"; then
        bad "kaiwu quantize $T: $(tail -n 2 "$err")"
        continue
    fi
    if ! "$tmp/iqq" "$q" "$tmp/deq.gguf" f32 >"$out" 2>"$err"; then
        bad "$T: libggml reads and dequantizes kaiwu's file: $(head -n 3 "$err")"
        continue
    fi
    ok
    "$KAIWU" perplexity -m "$tmp/deq.gguf" -f "$TEXT" -c 64 --chunks 2 -t 1 \
        --save-logits "$tmp/deq.logits" >"$out" 2>&1
    "$KAIWU" perplexity -m "$q" -f "$TEXT" -c 64 --chunks 2 -t 1 --kl-base "$tmp/deq.logits" >"$out" 2>&1
    kl=$(sed -n 's/^kl mean: \([0-9.e+-]*\).*/\1/p' "$out")
    top1=$(sed -n 's/^top1 agreement: \([0-9.]*\)%.*/\1/p' "$out")
    echo "kaiwu's $T: kl mean ${kl:-?}, top1 ${top1:-?}% against ggml's dequantization of it"
    check "kaiwu's $T: mean KL ${kl:-?} against ggml's dequantization is below 0.05" \
        awk -v k="${kl:-9}" 'BEGIN { exit !(k < 0.05) }'
    check "kaiwu's $T: top-1 agreement ${top1:-?}% is at least 85%" \
        awk -v k="${top1:-0}" 'BEGIN { exit !(k >= 85) }'
done
finish
