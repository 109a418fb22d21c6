#!/bin/sh
# source_headers.sh - every C file opens with the header comment the project's style asks for:
# "/* <file name> - what it does", and no header line is a stray word (every src/model/arch/*.c
# had one, "llama4", "qwen34", left over from a generator). Reads files only; a second.

TEST_NAME=source_headers.sh
. tests/check.sh

n=0
for f in $(find src tools include tests/unit tests/conformance tests/fuzz -name '*.[ch]' 2>/dev/null | sort); do
    n=$((n + 1))
    b=$(basename "$f")
    if head -n 1 "$f" | grep -q "^/\* $b - ."; then ok; else bad "$f: the first line is not '/* $b - ...': $(head -n 1 "$f")"; fi
    # the header comment: the lines up to its closing */
    stray=$(sed -n '1,/\*\//p' "$f" | grep -E '^ \* [A-Za-z0-9_]+ ?\*/$')
    if [ -z "$stray" ]; then ok; else bad "$f: a stray word in the header comment: '$stray'"; fi
done
check "the C files were found ($n)" [ "$n" -gt 50 ]
for f in src/model/arch/*.c; do
    name=$(sed -n 's/^ *\.gguf_name = "\(.*\)",$/\1/p' "$f")
    check "$f: the header names the architecture '$name'" sh -c "head -n 1 '$f' | grep -q ' - $name '"
    check "$f: the header says what the description holds" sh -c "sed -n 2p '$f' | grep -q 'RoPE'"
done
finish
