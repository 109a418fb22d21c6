#!/bin/sh
# sync-fixtures.sh - copies the reference data the tests need from ../shared into tests/data,
# keeping shared's layout so that the relative model paths inside the golden manifests resolve.
# Files over 8 MiB are stored xz-compressed; `make test` decompresses them into place.
#   sh scripts/sync-fixtures.sh [SHARED_DIR]
set -eu
src=${1:-../shared}
dst=tests/data
mkdir -p "$dst/golden" "$dst/models" "$dst/tokenizer/vocab" "$dst/tokenizer/cases" "$dst/chat-templates"
cp "$src"/golden/README.md "$src"/golden/FAMILIES.md "$src"/golden/tolerances.json \
   "$src"/golden/dequant-reference.json "$dst/golden/"
cp -r "$src"/golden/cases "$dst/golden/"
for d in "$src"/golden/tiny-*/; do cp -r "$d" "$dst/golden/"; done
cp "$src"/golden/tiny-*.json "$src"/golden/tiny-*.f32 "$dst/golden/"
for f in "$src"/models/*.gguf; do
    b=$(basename "$f")
    if [ "$(stat -c %s "$f")" -gt 8388608 ]; then
        xz -T1 -9 -c "$f" > "$dst/models/$b.xz"
    else
        cp "$f" "$dst/models/$b"
    fi
done
cp "$src"/models/README.md "$src"/models/quant-rmse.json "$dst/models/"
cp "$src"/tokenizer/README.md "$src"/tokenizer/disagreements.jsonl "$dst/tokenizer/"
cp "$src"/tokenizer/vocab/*.gguf "$dst/tokenizer/vocab/"
cp "$src"/tokenizer/cases/*.jsonl "$dst/tokenizer/cases/"
cp -r "$src"/chat-templates/. "$dst/chat-templates/"
chmod -R u+w "$dst"
echo "synced $(find "$dst" -type f | wc -l) files from $src"
