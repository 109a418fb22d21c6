#!/bin/sh
# golden_paths.sh - the golden tests (tests/conformance/test_golden.c) on the other code paths:
# the reference kernels (KAIWU_ISA=ref), the AVX2 kernels on an AVX-512 machine
# (KAIWU_ISA=avx2; src/base/cpu.c), 1 and 3 threads instead of the default 2, and the KV cache
# types besides the default F16 (KAIWU_GOLDEN_CACHE: F32 against the strict tolerances, Q8_0 on
# each kernel path). `make test` runs the full set once on the default path with the F16 cache;
# here subsets keep the added time to a few minutes: the llama2 family in every weight type (each
# has its own kernels; the portable C kernels on the English case, AVX2 on both), and the English
# case of every architecture on each thread count and, with a Q8_0 cache, on the AVX2 and default
# paths (the slow portable C path: three of them, GQA, q/k norms, soft-capping and windows).
# Each run's "N passed, N failed" line is summed; ends with the total in the same form.
BUILD=${BUILD:-build}
GOLDEN=$BUILD/tests/conformance/test_golden
QUANT_CASES=
QUANT_EN=
for t in f32 f16 bf16 q8_0 q6_k q5_k q5_1 q5_0 q4_k q4_1 q4_0 q3_k q2_k; do
    QUANT_CASES="$QUANT_CASES${QUANT_CASES:+,}tiny-llama2-$t/"
    QUANT_EN="$QUANT_EN${QUANT_EN:+,}tiny-llama2-$t/en.json"
done
ARCH_CASES=tiny-llama3-f16/en.json,tiny-qwen2-f16/en.json,tiny-qwen3-f16/en.json,tiny-gemma2.en.json,tiny-gemma3.en.json,tiny-phi3.en.json,tiny-phi3-longrope.en.json,tiny-chatglm.en.json,tiny-glm4.en.json,tiny-minicpm.en.json
pass=0
fail=0
log=$(mktemp)

if [ ! -x "$GOLDEN" ]; then
    echo "FAIL golden_paths.sh: $GOLDEN is not built"
    echo "0 passed, 1 failed"
    exit 1
fi

# one_run LABEL ENV... : runs test_golden with the given environment, adds its counts
one_run() {
    label=$1
    shift
    start=$(date +%s)
    env "$@" "$GOLDEN" >"$log" 2>&1
    rc=$?
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "FAIL golden_paths.sh: $label crashed (exit $rc):"
        tail -n 20 "$log"
        fail=$((fail + 1))
        return
    fi
    p=${line%% passed*}
    f=${line#*, }
    f=${f%% failed*}
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
    if [ "$f" -gt 0 ]; then
        echo "FAIL golden_paths.sh: $label: $f failed"
        grep -E '^(FAIL|  in )' "$log" | head -n 20
    fi
    echo "  $label: $p passed, $f failed ($(($(date +%s) - start)) s)"
    pass=$((pass + p))
    fail=$((fail + f))
}

one_run "KAIWU_ISA=ref, llama2 in every weight type (en)" KAIWU_ISA=ref KAIWU_GOLDEN_FILTER=$QUANT_EN
one_run "KAIWU_ISA=avx2, llama2 in every weight type" KAIWU_ISA=avx2 KAIWU_GOLDEN_FILTER=$QUANT_CASES
one_run "1 thread, F32 cache, every architecture (en) and llama2 F32" KAIWU_GOLDEN_THREADS=1 \
    KAIWU_GOLDEN_CACHE=f32 KAIWU_GOLDEN_FILTER=$ARCH_CASES,tiny-llama2-f32/
one_run "3 threads, Q8_0 cache, every architecture (en)" KAIWU_GOLDEN_THREADS=3 \
    KAIWU_GOLDEN_CACHE=q8_0 KAIWU_GOLDEN_FILTER=$ARCH_CASES,tiny-llama2-f32/en.json
one_run "KAIWU_ISA=ref, Q8_0 cache, llama2 F32, qwen3, gemma2 (en)" KAIWU_ISA=ref \
    KAIWU_GOLDEN_CACHE=q8_0 \
    KAIWU_GOLDEN_FILTER=tiny-llama2-f32/en.json,tiny-qwen3-f16/en.json,tiny-gemma2.en.json
one_run "KAIWU_ISA=avx2, Q8_0 cache, every architecture (en)" KAIWU_ISA=avx2 \
    KAIWU_GOLDEN_CACHE=q8_0 KAIWU_GOLDEN_FILTER=$ARCH_CASES,tiny-llama2-f32/en.json
rm -f "$log"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
