#!/bin/sh
# Regenerates tests/data/iquant/dequant-ref.bin from a llama.cpp build (default /work/ext/llama.cpp,
# commit d32676d). Not part of make test; the output is committed.
set -eu
LC=${LLAMA_CPP:-/work/ext/llama.cpp}
out=$(mktemp -d)
cc -std=c17 -O1 -I"$LC/ggml/include" -o "$out/iq_dequant_ref" tests/ggml-ref/iq_dequant_ref.c \
    -L"$LC/build/bin" -lggml-base -Wl,-rpath,"$LC/build/bin"
"$out/iq_dequant_ref" tests/data/iquant/dequant-ref.bin
rm -rf "$out"
