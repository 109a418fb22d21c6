#!/bin/sh
# grammar.sh - end-to-end tests of the grammar options of kaiwu run / chat: --grammar FILE,
# --grammar-text, --grammar-root, --json (the built-in JSON grammar) on the random-weight tiny
# models (free output is gibberish: only the constraint makes it match), checked with grep (not
# the engine); a malformed grammar is a usage-level error naming line:column; output cut by -n
# before the grammar completes is reported incomplete with exit status 1.

TEST_NAME=grammar.sh
. tests/check.sh
require_kaiwu
MODEL=$DATA/models/tiny-qwen3-f16.gguf

# digits: 10 seeds, every output is 1-3 digits, a '+', 1-3 digits
printf '# sums\nroot ::= num "+" num\nnum  ::= [0-9]{1,3}\n' > "$tmp/sum.gbnf"
for seed in 1 2 3 4 5 6 7 8 9 10; do
    "$KAIWU" run -m "$MODEL" -p "x" -n 16 --temp 1 --seed $seed --grammar "$tmp/sum.gbnf" >"$out" 2>"$err"
    rc=$?
    if [ $rc -eq 0 ] && grep -qxE '[0-9]{1,3}\+[0-9]{1,3}' "$out"; then ok; else bad "seed $seed: --grammar output '$(cat "$out")' (exit $rc)"; fi
done

# --grammar-text with another start rule
"$KAIWU" run -m "$MODEL" -p "x" -n 8 --seed 1 --grammar-text 'top ::= "yes" | "no"' --grammar-root top >"$out" 2>"$err"
check "--grammar-root: output is yes or no ($(cat "$out"))" grep -qxE 'yes|no' "$out"

# a Chinese line of 5 Han characters (the tiny vocabulary spells them in byte pieces)
"$KAIWU" run -m "$MODEL" -p "x" -n 40 --temp 1 --seed 4 --grammar-text 'root ::= [\u4e00-\u9fff]{5}' >"$out" 2>"$err"
n=$(tr -d '\n' < "$out" | wc -m)
check "5 Han characters ($(cat "$out"), $n characters)" sh -c "[ $n -eq 5 ] && ! grep -q '[ -~]' '$out'"

# malformed grammars
"$KAIWU" run -m "$MODEL" -p "x" -n 4 --grammar-text 'root ::= ("a"' >"$out" 2>"$err"
rc=$?
check "unbalanced parens: exit 1 (got $rc)" [ $rc -eq 1 ]
check "unbalanced parens: line:column in the message" grep -q 'line 1, column 10: unbalanced parentheses' "$err"
"$KAIWU" run -m "$MODEL" -p "x" -n 4 --grammar "$tmp/missing.gbnf" >"$out" 2>"$err"
check "a missing grammar file is an error" sh -c "! grep -q . '$out' && grep -q missing.gbnf '$err'"

# --json stopped by -n before the object closes: incomplete, exit 1
"$KAIWU" run -m "$MODEL" -p "x" -n 3 --temp 1 --seed 2 --json >"$out" 2>"$err"
rc=$?
check "--json cut by -n: exit 1 (got $rc)" [ $rc -eq 1 ]
check "--json cut by -n: reported incomplete" grep -q 'output incomplete' "$err"
check "--json output starts an object" grep -q '^{' "$out"

# chat takes the same options
printf 'hello\n' | "$KAIWU" chat -m "$MODEL" -n 8 --seed 1 --grammar-text 'root ::= [0-9]{3}' >"$out" 2>"$err"
check "chat --grammar-text: the reply is 3 digits ($(cat "$out" | tr '\n' ' '))" grep -qE '(^|[^0-9])[0-9]{3}$' "$out"

finish
