#!/bin/sh
# render_model_templates.sh - writes the reference renderings of the chat templates inside the
# test models (tests/data/models/*.gguf with tokenizer.chat_template) for every conversation of
# tests/data/chat-templates/conversations, into tests/data/model-templates/expected/:
# <model>__<conversation>.txt, or .error.txt (the reference's message) when it refuses.
#
# The conformance test dumps each template and its exact render context (bos/eos from the
# model's vocabulary) with KAIWU_CHAT_DUMP; the reference interpreter (@huggingface/jinja 0.5.11,
# tests/tools/render.mjs) renders them. Needs node and `npm install` in tests/tools (network once).
#   make build/tests/conformance/test_chat_templates && sh tests/tools/render_model_templates.sh
set -eu
BUILD=${BUILD:-build}
out=tests/data/model-templates/expected
dump=$(mktemp -d)
trap 'rm -rf "$dump"' EXIT
[ -d tests/tools/node_modules/@huggingface/jinja ] || (cd tests/tools && npm install --no-audit --no-fund)
KAIWU_CHAT_DUMP=$dump "$BUILD/tests/conformance/test_chat_templates" >/dev/null || true
mkdir -p "$out"
rm -f "$out"/*.txt
for ctx in "$dump"/*__*.json; do
    base=$(basename "$ctx" .json)
    model=${base%%__*}
    if node tests/tools/render.mjs "$dump/$model.jinja" "$ctx" >"$out/$base.txt" 2>"$dump/err"; then
        :
    else
        rm -f "$out/$base.txt"
        sed 's/^ERROR: //' "$dump/err" | tr -d '\n' >"$out/$base.error.txt"
    fi
done
ls "$out" | wc -l
