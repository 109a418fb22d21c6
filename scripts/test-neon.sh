#!/bin/sh
# test-neon.sh - cross-compiles the kernel test for aarch64 (NEON dotprod kernels) and runs it
# under qemu-user. Installs gcc-aarch64-linux-gnu and qemu-user with apt when they are missing
# (needs root and network; otherwise says what to install and fails).
#
#   sh scripts/test-neon.sh        (or: make test-neon)
#
# Builds into build-neon/: the library sources the test needs (base, gguf, tensor, the reference
# and NEON kernels; no x86 kernel files) compiled static with -march=armv8.2-a+dotprod only for
# src/tensor/kernels/arm_neon, so the dispatcher's run-time check is exercised too.
set -eu
cd "$(dirname "$0")/.."
CC=aarch64-linux-gnu-gcc
QEMU=qemu-aarch64
if ! command -v "$CC" >/dev/null 2>&1 || ! command -v "$QEMU" >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test-neon: installing gcc-aarch64-linux-gnu qemu-user"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null
    else
        echo "test-neon: needs $CC and $QEMU (apt-get install gcc-aarch64-linux-gnu qemu-user)" >&2
        exit 1
    fi
fi
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
