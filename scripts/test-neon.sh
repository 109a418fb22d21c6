#!/bin/sh
# test-neon.sh - cross-compiles the kernel test for aarch64 (NEON dotprod kernels) and runs it
# under qemu-user. Needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user: when they are
# missing it says so in one line and fails; it never installs anything (scripts/install-deps.sh
# does).
#
#   sh scripts/test-neon.sh        (or: make test-neon)
#   NEON_CC=... NEON_QEMU=...      other cross compiler / emulator
#
# Builds into build-neon/: the library sources the test needs (base, gguf, tensor, the reference
# and NEON kernels; no x86 kernel files) compiled static with -march=armv8.2-a+dotprod only for
# src/tensor/kernels/arm_neon, so the dispatcher's run-time check is exercised too.
set -eu
cd "$(dirname "$0")/.."
CC=${NEON_CC:-aarch64-linux-gnu-gcc}
QEMU=${NEON_QEMU:-qemu-aarch64}
for tool in "$CC" "$QEMU"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "test-neon: $tool is missing - run 'sh scripts/install-deps.sh' (gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user)" >&2
        exit 1
    fi
done
OUT=build-neon
mkdir -p "$OUT"
CFLAGS="-std=c17 -O2 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wvla -D_GNU_SOURCE -Iinclude -Isrc -Itests -pthread"
SRCS="$(ls src/base/*.c src/gguf/*.c src/tensor/*.c src/tensor/kernels/*.c src/tensor/kernels/ref/*.c) tests/test_common.c tests/unit/test_kernels.c"
OBJS=""
for s in $SRCS; do
    o="$OUT/$(echo "$s" | tr '/' '_' | sed 's/\.c$/.o/')"
    $CC $CFLAGS -c "$s" -o "$o"
    OBJS="$OBJS $o"
done
for s in src/tensor/kernels/arm_neon/*.c; do
    o="$OUT/$(echo "$s" | tr '/' '_' | sed 's/\.c$/.o/')"
    $CC $CFLAGS -march=armv8.2-a+dotprod -c "$s" -o "$o"
    OBJS="$OBJS $o"
done
$CC -static -pthread -o "$OUT/test_kernels" $OBJS -lm
echo "test-neon: running $OUT/test_kernels under $QEMU -cpu max"
$QEMU -cpu max "$OUT/test_kernels"
