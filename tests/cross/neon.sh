#!/bin/sh
# neon.sh - the ARM NEON (dotprod) kernels against the reference, cross-compiled for aarch64 and
# run under qemu-user (scripts/test-neon.sh). Run once, by the plain build's suite: the cross
# binary is the same whichever x86 build (plain or sanitized) runs the suite, so the sanitized
# pass says so and counts nothing rather than repeating it. Never installs anything.
case "${BUILD:-build}" in
*san*)
    echo "neon: run by the plain build's suite (the aarch64 binary has no sanitizer variant)"
    echo "0 passed, 0 failed"
    exit 0
    ;;
esac
# Missing cross tools are a failure that says what to run, never an install from the test suite.
for tool in "${NEON_CC:-aarch64-linux-gnu-gcc}" "${NEON_QEMU:-qemu-aarch64}"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "FAIL neon: $tool is missing - run 'sh scripts/install-deps.sh'"
        echo "0 passed, 1 failed"
        exit 1
    fi
done
exec sh scripts/test-neon.sh
