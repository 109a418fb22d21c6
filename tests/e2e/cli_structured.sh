#!/bin/sh
# cli_structured.sh - the structured-output flags of kaiwu run / chat (issue 17): -j/--json-schema
# (inline JSON, or a file), -jf/--json-schema-file, failing closed (output cut by -n: exit 1 and a
# message; a schema keyword outside the subset refused naming it and its JSON pointer; schema text
# that is not JSON; one constraint at a time), and kaiwu chat --tools / --tool-choice through a
# real chat template (tests/data/chat-templates): tools rendered into the prompt, forced calls
# (required, a named tool) in three formats printed as "[tool call]" lines and as --json
# "tool_calls", several calls in one answer with Chinese arguments, a malformed call kept as text
# with a warning, bad tool options refused.
#
# The tiny test models have random weights: only the constraint makes the output match, so every
# output is checked here (python3 when present, else grep), not by the engine that made it.

TEST_NAME=cli_structured.sh
. tests/check.sh
require_kaiwu
QW=$DATA/models/tiny-qwen3-f16.gguf
TPL=$DATA/chat-templates/templates
have_py() { command -v python3 >/dev/null 2>&1; }

# ------------------------------------------------------------------ help

for c in run chat; do
    "$KAIWU" $c --help >"$out" 2>&1
    for o in -j --json-schema -jf --json-schema-file; do
        check "kaiwu $c --help documents $o" grep -q -- " $o" "$out"
    done
    check "kaiwu $c --help says a constrained output fails closed (exit status 1)" \
        grep -q "incomplete or invalid constrained" "$out"
done
"$KAIWU" chat --help >"$out" 2>&1
for o in --tools --tool-choice; do
    check "kaiwu chat --help documents $o" grep -q -- " $o" "$out"
done

# ------------------------------------------------------------------ --json-schema, run

# An object with an enum of Chinese values and a bounded integer, nothing else.
S='{"type":"object","properties":{"名字":{"enum":["开物","天工"]},"n":{"type":"integer","minimum":1,"maximum":9}},"required":["名字","n"],"additionalProperties":false}'
printf '%s\n' "$S" >"$tmp/s.json"
# valid FILE: the file holds one value of $S.
valid() {
    if have_py; then
        python3 - "$1" <<'PY'
import json, sys
v = json.loads(open(sys.argv[1], encoding="utf-8").read())
assert isinstance(v, dict) and sorted(v) == sorted(["名字", "n"]), v
assert v["名字"] in ("开物", "天工"), v
assert type(v["n"]) is int and 1 <= v["n"] <= 9, v
PY
    else
        tr -d ' \n' <"$1" | grep -qE '^\{("名字":"(开物|天工)","n":[1-9]|"n":[1-9],"名字":"(开物|天工)")\}$'
    fi
}
for seed in 1 2 3; do
    "$KAIWU" run -m "$QW" -p x -n 200 --temp 1 --seed $seed -t 1 -j "$S" >"$out" 2>"$err"
    rc=$?
    if [ $rc -eq 0 ] && valid "$out"; then ok; else bad "seed $seed: -j output '$(cat "$out")' (exit $rc: $(tail -n 1 "$err"))"; fi
done
"$KAIWU" run -m "$QW" -p x -n 200 --temp 1 --seed 1 -t 1 -j "$S" >"$tmp/inline" 2>"$err"
"$KAIWU" run -m "$QW" -p x -n 200 --temp 1 --seed 1 -t 1 --json-schema "$tmp/s.json" >"$tmp/file" 2>"$err"
check "--json-schema FILE (not starting with '{') reads the file: same output as inline" cmp -s "$tmp/inline" "$tmp/file"
"$KAIWU" run -m "$QW" -p x -n 200 --temp 1 --seed 1 -t 1 -jf "$tmp/s.json" >"$tmp/file2" 2>"$err"
check "-jf FILE gives the same output too" cmp -s "$tmp/inline" "$tmp/file2"
# a schema from the test set: the tool-call wrapper (nested objects)
"$KAIWU" run -m "$QW" -p x -n 300 --temp 1 --seed 2 -t 1 -jf "$DATA/schemas/12-tool-call.json" >"$out" 2>"$err"
check "-jf tests/data/schemas/12-tool-call.json: exit 0 ($(tail -n 1 "$err"))" [ $? -eq 0 ]
if have_py; then
    check "and the output is JSON ($(head -c 200 "$out"))" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$out"
fi

# ------------------------------------------------------------------ fail closed

"$KAIWU" run -m "$QW" -p x -n 3 --temp 1 --seed 1 -t 1 -j "$S" >"$out" 2>"$err"
rc=$?
check "run -j cut by -n 3: exit 1 (got $rc)" [ $rc -eq 1 ]
check "run -j cut by -n 3: stderr says the output is incomplete ($(tail -n 1 "$err"))" \
    grep -q "^error: output incomplete: generation stopped (length limit (-n)) before the JSON Schema's value was complete" "$err"
check "run -j cut by -n 3: stdout keeps what was generated, an object begun" grep -q '^{' "$out"
"$KAIWU" chat -m "$QW" -p hi -n 3 --temp 1 --seed 1 -t 1 -j "$S" >"$out" 2>"$err"
rc=$?
check "chat -p -j cut by -n 3: exit 1 (got $rc)" [ $rc -eq 1 ]
check "chat -p -j cut by -n 3: stderr says the reply is incomplete" grep -q "^error: reply incomplete: " "$err"

bad_schema='{"type":"object","properties":{"a":{"type":"string","patternProperties":{"^x":{}}}}}'
for c in run chat; do
    "$KAIWU" $c -m "$QW" -p x -n 8 -t 1 -j "$bad_schema" >"$out" 2>"$err"
    rc=$?
    check "$c: an unsupported schema keyword: exit 1 (got $rc)" [ $rc -eq 1 ]
    check "$c: the error names the keyword and its pointer ($(cat "$err"))" \
        grep -q "unsupported keyword 'patternProperties' at /properties/a" "$err"
    check "$c: nothing was generated" [ ! -s "$out" ]
done
"$KAIWU" run -m "$QW" -p x -n 8 -t 1 -j '{"type":' >"$out" 2>"$err"
rc=$?
check "schema text that is not JSON: exit 1 (got $rc) naming line and column ($(cat "$err"))" \
    sh -c "[ $rc -eq 1 ] && grep -q 'json_schema: .*line 1 column' '$err'"
"$KAIWU" run -m "$QW" -p x -n 8 -t 1 -jf "$tmp/missing.json" >"$out" 2>"$err"
check "a missing schema file is named ($(cat "$err"))" grep -q "missing.json" "$err"
"$KAIWU" run -m "$QW" -p x -n 8 -t 1 -j "$S" --grammar-text 'root ::= "a"' >"$out" 2>"$err"
rc=$?
check "--json-schema with --grammar-text is a usage error (exit $rc)" [ $rc -eq 2 ]
check "which says to give one" grep -q "give one" "$err"

# ------------------------------------------------------------------ --json-schema, chat

"$KAIWU" chat -m "$QW" -p hi -n 200 --temp 1 --seed 3 -t 1 -jf "$tmp/s.json" >"$out" 2>"$err"
rc=$?
check "chat -p -jf: exit 0 (got $rc; $(tail -n 1 "$err"))" [ $rc -eq 0 ]
check "chat -p -jf: the answer is a value of the schema ($(cat "$out"))" valid "$out"
if have_py; then
    "$KAIWU" chat -m "$QW" -p hi -n 200 --temp 1 --seed 4 -t 1 -j "$S" --json >"$out" 2>"$err"
    python3 -c 'import json,sys; open(sys.argv[2],"w").write(json.load(open(sys.argv[1]))["content"])' \
        "$out" "$tmp/content" 2>"$tmp/py.err"
    check "chat --json -j: the message's content is a value of the schema ($(cat "$out"))" valid "$tmp/content"
fi

# ------------------------------------------------------------------ chat --tools

printf '%s\n' '[{"type":"function","function":{"name":"get_weather","description":"天气","parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":8},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city","days"]}}},
{"type":"function","function":{"name":"search","parameters":{"type":"object","properties":{"q":{"type":"string","maxLength":12}},"required":["q"]}}}]' >"$tmp/tools.json"
QWEN25="$(cat "$TPL/Qwen-Qwen2.5-7B-Instruct.jinja")"
tchat() { "$KAIWU" chat -m "$QW" -n 300 --temp 1 -t 1 "$@"; }

# the tools reach the prompt: the template renders them (more prompt tokens, the same question)
tchat --format "$QWEN25" -p hi -n 1 >"$out" 2>"$err"
n0=$(sed -n 's/^prompt: \([0-9]*\) tokens.*/\1/p' "$err")
tchat --format "$QWEN25" -p hi -n 1 --tools "$tmp/tools.json" >"$out" 2>"$err"
n1=$(sed -n 's/^prompt: \([0-9]*\) tokens.*/\1/p' "$err")
check "--tools renders the tools through the template ($n0 prompt tokens without, $n1 with)" \
    [ -n "$n0" ] && [ -n "$n1" ] && [ "$n1" -gt $((n0 + 100)) ]

# forced calls in three formats the templates teach: hermes, qwen3-coder (XML), mistral
for t in Qwen-Qwen2.5-7B-Instruct Qwen-Qwen3-Coder mistralai-Mistral-Nemo-Instruct-2407; do
    for seed in 1 2; do
        tchat --format "$(cat "$TPL/$t.jinja")" -p "北京天气" --tools "$tmp/tools.json" \
            --tool-choice required --seed $seed >"$out" 2>"$err"
        rc=$?
        if [ $rc -eq 0 ] && grep -qE '^\[tool call\] (get_weather|search) \{' "$out" &&
            grep -q "^stop: tool calls" "$err"; then ok; else
            bad "$t seed $seed: --tool-choice required: exit $rc, calls '$(grep '^\[tool call\]' "$out")', $(grep '^stop' "$err")"
        fi
    done
done
if have_py; then
    for seed in 1 2 3; do
        tchat --format "$QWEN25" -p "北京天气" --tools "$tmp/tools.json" --tool-choice get_weather \
            --seed $seed --json >"$out" 2>"$err"
        python3 - "$out" <<'PY' >"$tmp/py.err" 2>&1
import json, sys
m = json.load(open(sys.argv[1], encoding="utf-8"))
calls = m["tool_calls"]
assert len(calls) == 1 and calls[0]["type"] == "function", calls
f = calls[0]["function"]
assert f["name"] == "get_weather", f
a = json.loads(f["arguments"])
assert isinstance(a["city"], str) and len(a["city"]) <= 8, a
assert type(a["days"]) is int and 1 <= a["days"] <= 7, a
PY
        check "seed $seed: --tool-choice get_weather --json: one get_weather call, arguments valid ($(cat "$tmp/py.err"))" [ $? -eq 0 ]
    done
fi

# several calls in one answer, Chinese arguments kept as UTF-8 (the answer fixed by a grammar)
two='root ::= "我查一下。<tool_call>{\"name\": \"search\", \"arguments\": {\"q\": \"开物\"}}</tool_call>\n<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"北京\", \"days\": 2}}</tool_call>"'
tchat --format "$QWEN25" -p hi --tools "$tmp/tools.json" -n 400 --grammar-text "$two" >"$out" 2>"$err"
check "two calls in one answer: exit 0 ($(tail -n 1 "$err"))" [ $? -eq 0 ]
check "the first call is printed with its Chinese argument" grep -qx '\[tool call\] search {"q":"开物"}' "$out"
check "the second call too" grep -qx '\[tool call\] get_weather {"city":"北京","days":2}' "$out"
check "two calls are printed, in order" [ "$(grep -c '^\[tool call\]' "$out")" -eq 2 ]

# a malformed call: stays in the text, with a warning; no call is claimed
mal='root ::= "a <tool_call>{\"name\": \"search\", \"arguments\": {\"q\": 1</tool_call> b"'
tchat --format "$QWEN25" -p hi --tools "$tmp/tools.json" --grammar-text "$mal" --json >"$out" 2>"$err"
check "a malformed call: a warning on stderr ($(grep warning "$err"))" \
    grep -q "^warning: 1 malformed tool call left in the text: malformed hermes tool call" "$err"
check "a malformed call stays in the content" grep -qF '"content": "a <tool_call>{\"name\": \"search\"' "$out"
check "a malformed call is not reported as a call" sh -c "! grep -q tool_calls '$out'"

# bad tool options
tchat --format "$QWEN25" -p hi --tools "$tmp/tools.json" --tool-choice nosuch >"$out" 2>"$err"
rc=$?
check "--tool-choice naming no tool: exit 1 (got $rc) naming it ($(cat "$err"))" \
    sh -c "[ $rc -eq 1 ] && grep -q \"'nosuch'\" '$err'"
tchat --format "$QWEN25" -p hi --tools '[{"type":"function"}]' >"$out" 2>"$err"
check "--tools that are not functions: exit 1 with why ($(cat "$err"))" grep -q "tools\[0\] is not a function" "$err"
tchat --format "$QWEN25" -p hi --tool-choice required >"$out" 2>"$err"
check "--tool-choice without --tools is a usage error (exit $?)" grep -q -- "--tool-choice needs --tools" "$err"

finish
