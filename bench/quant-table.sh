#!/bin/sh
# quant-table.sh - the quantization cost table of docs/quantization.md: for every kaiwu quantize
# target, the file size, bits per weight, perplexity, KL divergence and top-1 agreement against the
# F16 model on a held-out text, and the quantize speed. Prints a Markdown table on stdout.
#
#   BUILD=build sh bench/quant-table.sh [MODEL] [TEXT] [CTX]
# Defaults: tests/data/models/quant-base-f16.gguf (random weights), the held-out text
# tests/data/text/heldout-en-zh.txt, -c 128. KL is exact (--save-top-k 0 keeps the whole
# distribution; the test vocabulary has 768 tokens). Takes a few minutes on 2 cores.
# IQ2_XS needs an importance matrix: it is collected with `kaiwu imatrix` from IMATRIX_TEXT
# (default README.md, a text other than the scored one); the other rows use none.
BUILD=${BUILD:-build}
KAIWU=$BUILD/kaiwu
MODEL=${1:-tests/data/models/quant-base-f16.gguf}
TEXT=${2:-tests/data/text/heldout-en-zh.txt}
CTX=${3:-128}
THREADS=${THREADS:-2}
IMATRIX_TEXT=${IMATRIX_TEXT:-README.md}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n_params=$("$KAIWU" info "$MODEL" | sed -n 's/^ *parameters: *\([0-9]*\).*/\1/p')
"$KAIWU" perplexity -m "$MODEL" -f "$TEXT" -c "$CTX" -t "$THREADS" --save-top-k 0 \
    --save-logits "$tmp/base.logits" >"$tmp/base.txt" 2>"$tmp/base.err" || { cat "$tmp/base.err"; exit 1; }
base_ppl=$(sed -n 's/^ppl: \(.*\)$/\1/p' "$tmp/base.txt")
scored=$(sed -n 's/^tokens scored: //p' "$tmp/base.txt")
"$KAIWU" imatrix -m "$MODEL" -f "$IMATRIX_TEXT" -o "$tmp/im.gguf" -c "$CTX" -t "$THREADS" \
    >/dev/null 2>"$tmp/im.err" || { cat "$tmp/im.err"; exit 1; }

echo "model: $(basename "$MODEL") ($n_params parameters), text: $(basename "$TEXT"), -c $CTX, $scored tokens scored"
echo "F16 perplexity: $base_ppl"
echo
echo "| type | size (bytes) | bits/weight | perplexity | ln(PPL/PPL_F16) | mean KL vs F16 | top-1 agreement | quantize MB/s |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for t in F32 F16 BF16 Q8_0 Q6_K Q5_K_M Q5_K_S Q5_1 Q5_0 Q4_K_M Q4_K_S Q4_1 Q4_0 IQ4_NL IQ4_XS \
    Q3_K_L Q3_K_M IQ3_M IQ3_S Q3_K_S Q2_K IQ2_XS; do
    im=""
    [ "$t" = IQ2_XS ] && im="--imatrix $tmp/im.gguf"
    # shellcheck disable=SC2086 # $im is empty or two words
    "$KAIWU" quantize "$MODEL" "$tmp/q.gguf" "$t" -t "$THREADS" $im 2>"$tmp/q.err" >/dev/null || { cat "$tmp/q.err"; exit 1; }
    speed=$(sed -n 's/.*(\([0-9.]*\) MB\/s of input).*/\1/p' "$tmp/q.err")
    size=$(wc -c <"$tmp/q.gguf" | tr -d ' ')
    bpw=$(awk -v s="$size" -v n="$n_params" 'BEGIN { printf "%.2f", 8 * s / n }')
    "$KAIWU" perplexity -m "$tmp/q.gguf" -f "$TEXT" -c "$CTX" -t "$THREADS" --kl-base "$tmp/base.logits" \
        >"$tmp/p.txt" 2>"$tmp/p.err" || { cat "$tmp/p.err"; exit 1; }
    ppl=$(sed -n 's/^ppl: \(.*\)$/\1/p' "$tmp/p.txt" | sed 's/+\/-/±/')
    dl=$(sed -n 's/^ln(ppl\/base ppl): \(.*\)$/\1/p' "$tmp/p.txt" | sed 's/+\/-/±/')
    kl=$(sed -n 's/^kl mean: \(.*\)$/\1/p' "$tmp/p.txt" | sed 's/+\/-/±/')
    top1=$(sed -n 's/^top1 agreement: \(.*\)$/\1/p' "$tmp/p.txt" | sed 's/+\/-/±/')
    echo "| $t | $size | $bpw | $ppl | $dl | $kl | $top1 | $speed |"
done
