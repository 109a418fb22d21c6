#!/bin/sh
# quantize.sh - end-to-end tests of `kaiwu quantize`, `kaiwu imatrix` and `kaiwu perplexity`:
# help texts, usage errors, the refusal to overwrite the input, pure Q4_0 against llama-quantize's
# file (cmp of the whole file), a Q4_K_M mix with --verbose and an override, and quick perplexity /
# KL / imatrix runs on quant-base-f16 over the held-out text (a few seconds in all).
#
# Plain POSIX sh. Run from the repo root: BUILD=build sh tests/e2e/quantize.sh (tests/run.sh does
# this). Prints "FAIL quantize.sh: ..." per failed check and ends with "N passed, N failed".

TEST_NAME=quantize.sh
. tests/check.sh
BASE=$DATA/models/quant-base-f16.gguf
TEXT=$DATA/text/heldout-en-zh.txt

require_kaiwu

# ------------------------------------------------------------------ help and usage errors

"$KAIWU" --help >"$out" 2>&1
for c in quantize imatrix perplexity; do
    check "kaiwu --help lists '$c'" grep -q "^  $c " "$out"
done
"$KAIWU" quantize --help >"$out" 2>&1
rc=$?
check "quantize --help exits 0 (got $rc)" [ "$rc" -eq 0 ]
for o in --threads --pure --tensor-type --imatrix --verbose Q4_K_M Q3_K_L Q5_K_S BF16 IQ4_NL IQ4_XS \
    IQ3_S IQ3_M IQ2_XS; do
    check "quantize --help mentions $o" grep -q -- "$o" "$out"
done
"$KAIWU" quantize "$BASE" "$tmp/x.gguf" >"$out" 2>"$err"
rc=$?
check "quantize without TYPE is a usage error (exit $rc)" [ "$rc" -eq 2 ]
"$KAIWU" quantize "$BASE" "$tmp/x.gguf" Q9_K >"$out" 2>"$err"
rc=$?
check "an unknown TYPE is a usage error (exit $rc)" [ "$rc" -eq 2 ]
check "the unknown TYPE is named" grep -q "Q9_K" "$err"
"$KAIWU" perplexity --help >"$out" 2>&1
check "perplexity --help mentions --kl-base" grep -q -- "--kl-base" "$out"
"$KAIWU" imatrix --help >"$out" 2>&1
check "imatrix --help mentions --chunks" grep -q -- "--chunks" "$out"

# ------------------------------------------------------------------ never overwrite the input

cp "$BASE" "$tmp/in.gguf"
"$KAIWU" quantize "$tmp/in.gguf" "$tmp/in.gguf" Q4_0 >"$out" 2>"$err"
rc=$?
check "quantize IN IN fails (exit $rc)" [ "$rc" -eq 1 ]
check "the refusal says why" grep -q "refusing to overwrite" "$err"
ln "$tmp/in.gguf" "$tmp/link.gguf"
"$KAIWU" quantize "$tmp/in.gguf" "$tmp/link.gguf" Q4_0 >"$out" 2>"$err"
rc=$?
check "quantize IN LINK-TO-IN fails (exit $rc)" [ "$rc" -eq 1 ]
check "the input is unchanged" cmp -s "$tmp/in.gguf" "$BASE"

# ------------------------------------------------------------------ exactness and mixes

"$KAIWU" quantize "$BASE" "$tmp/q4_0.gguf" Q4_0 --pure -t 2 >"$out" 2>"$err"
rc=$?
check "pure Q4_0 succeeds (exit $rc)" [ "$rc" -eq 0 ]
check "pure Q4_0 is byte-identical to llama-quantize's file" cmp -s "$tmp/q4_0.gguf" "$DATA/models/quant-q4_0.gguf"
check "the speed is reported in MB/s" grep -q "MB/s" "$err"
check "a progress bar is drawn" grep -q "100%" "$err"

"$KAIWU" quantize "$BASE" "$tmp/q4km.gguf" Q4_K_M --verbose --tensor-type attn_q=Q8_0 >"$out" 2>"$err"
rc=$?
check "Q4_K_M with an override succeeds (exit $rc)" [ "$rc" -eq 0 ]
check "--verbose: output.weight gets Q6_K" grep -Eq "output\.weight .* F16 +-> Q6_K" "$err"
check "--verbose: blk.1.attn_v gets Q6_K" grep -Eq "blk\.1\.attn_v\.weight .* -> Q6_K" "$err"
check "--verbose: the override is applied and noted" grep -Eq "blk\.0\.attn_q\.weight .* -> Q8_0 .*override" "$err"
"$KAIWU" info "$tmp/q4km.gguf" >"$out" 2>&1
check "info shows general.file_type 15 for Q4_K_M" grep -Eq "general.file_type +u32 += 15" "$out"

# ------------------------------------------------------------------ perplexity, KL and imatrix

"$KAIWU" perplexity -m "$BASE" -f "$TEXT" -c 64 --chunks 3 -t 2 --save-logits "$tmp/base.logits" >"$out" 2>"$err"
rc=$?
check "perplexity on the base succeeds (exit $rc)" [ "$rc" -eq 0 ]
check "a running estimate per chunk" grep -q "^\[chunk 3/3\] ppl [0-9.]* +/- [0-9.]*" "$err"
check "the summary gives ppl with an error bar" grep -Eq "^ppl: [0-9.]+ \+/- [0-9.]+$" "$out"
check "93 tokens are scored (3 chunks x 31)" grep -q "^tokens scored: 93$" "$out"
"$KAIWU" perplexity -m "$BASE" -f "$TEXT" -c 64 --chunks 3 -t 2 --kl-base "$tmp/base.logits" >"$out" 2>"$err"
check "the base against itself: KL 0" grep -Eq "^kl mean: 0\.000000 " "$out"
check "the base against itself: top-1 agreement 100%" grep -q "^top1 agreement: 100.000%" "$out"
"$KAIWU" perplexity -m "$tmp/q4_0.gguf" -f "$TEXT" -c 64 --chunks 3 -t 2 --kl-base "$tmp/base.logits" >"$out" 2>"$err"
rc=$?
check "perplexity --kl-base on Q4_0 succeeds (exit $rc)" [ "$rc" -eq 0 ]
kl=$(sed -n 's/^kl mean: \([0-9.]*\) .*/\1/p' "$out")
check "Q4_0 has a positive KL divergence (got '$kl')" awk -v k="$kl" 'BEGIN { exit !(k > 0) }'
check "the summary gives top-1 agreement" grep -Eq "^top1 agreement: [0-9.]+% \+/- [0-9.]+%$" "$out"
"$KAIWU" perplexity -m "$tmp/q4_0.gguf" -f "$TEXT" -c 32 --chunks 3 --kl-base "$tmp/base.logits" >"$out" 2>"$err"
rc=$?
check "a logits file made with another -c is refused (exit $rc)" [ "$rc" -eq 1 ]

"$KAIWU" imatrix -m "$BASE" -f "$TEXT" -o "$tmp/im.gguf" -c 64 --chunks 2 -t 2 >"$out" 2>"$err"
rc=$?
check "imatrix succeeds (exit $rc)" [ "$rc" -eq 0 ]
check "imatrix reports 15 weight matrices" grep -q "15 weight matrices, 2 chunks" "$err"
"$KAIWU" info "$tmp/im.gguf" >"$out" 2>&1
check "the imatrix file has in_sum2 tensors" grep -q "blk.0.ffn_down.weight.in_sum2" "$out"
"$KAIWU" quantize "$BASE" "$tmp/q3.gguf" Q3_K_M --imatrix "$tmp/im.gguf" --verbose >"$out" 2>"$err"
rc=$?
check "quantize --imatrix succeeds (exit $rc)" [ "$rc" -eq 0 ]
check "--verbose marks tensors quantized with the imatrix" grep -q "(imatrix)" "$err"
"$KAIWU" run -m "$tmp/q3.gguf" -p "hello" -n 4 --temp 0 >"$out" 2>"$err"
rc=$?
check "the imatrix-quantized model runs (exit $rc)" [ "$rc" -eq 0 ]

# ------------------------------------------------------------------ i-quants

for T in IQ4_NL IQ4_XS IQ3_S IQ3_M; do
    "$KAIWU" quantize "$BASE" "$tmp/$T.gguf" $T -t 2 --verbose >"$out" 2>"$err"
    rc=$?
    check "$T quantizes (exit $rc)" [ "$rc" -eq 0 ]
    B=$T
    [ "$T" = IQ3_M ] && B=IQ3_S
    check "$T: blk.0.attn_q gets $B" grep -Eq "blk\.0\.attn_q\.weight .* -> $B" "$err"
    "$KAIWU" run -m "$tmp/$T.gguf" -p "hello" -n 4 --temp 0 >"$out" 2>"$err"
    rc=$?
    check "the $T model generates (exit $rc)" [ "$rc" -eq 0 ]
    check "the $T model prints text" [ -s "$out" ]
done
"$KAIWU" info "$tmp/IQ4_XS.gguf" >"$out" 2>&1
check "info shows general.file_type 30 for IQ4_XS" grep -Eq "general.file_type +u32 += 30" "$out"
"$KAIWU" quantize "$BASE" "$tmp/iq2.gguf" IQ2_XS >"$out" 2>"$err"
rc=$?
check "IQ2_XS without --imatrix fails (exit $rc)" [ "$rc" -eq 1 ]
check "the error says to add --imatrix" grep -q -- "add --imatrix FILE" "$err"
check "no output is left behind" [ ! -e "$tmp/iq2.gguf" ]
"$KAIWU" quantize "$BASE" "$tmp/iq2.gguf" IQ2_XS --imatrix "$tmp/im.gguf" --verbose >"$out" 2>"$err"
rc=$?
check "IQ2_XS with --imatrix succeeds (exit $rc)" [ "$rc" -eq 0 ]
check "--verbose: blk.0.ffn_up gets IQ2_XS with the imatrix" grep -Eq "blk\.0\.ffn_up\.weight .* -> IQ2_XS .*\(imatrix\)" "$err"
"$KAIWU" run -m "$tmp/iq2.gguf" -p "hello" -n 4 --temp 0 >"$out" 2>"$err"
rc=$?
check "the IQ2_XS model generates (exit $rc)" [ "$rc" -eq 0 ]
check "the IQ2_XS model prints text" [ -s "$out" ]

finish
