#!/bin/sh
# run.sh - the bad-input corpus: every malformed file must be refused cleanly, with a reason.
#
#   BUILD=build sh tests/bad-input/run.sh        (tests/run.sh does this)
#
# For each row of corpus/expected.tsv (defect, message fragment, offset or "-") and both
#   $BUILD/kaiwu info FILE      and      $BUILD/kaiwu run -m FILE -p hi -n 1
# (each under timeout 10) it checks: exit status 1 (not 0, not a signal, not 124 = hang), stderr
# contains the fragment (and "offset N" when an offset is given), nothing on stderr looks like a
# sanitizer report. Then: the generator reproduces the committed corpus byte for byte, and `info`
# on valid files exits 0. Ends with "N passed, N failed".
BUILD=${BUILD:-build}
KAIWU="$BUILD/kaiwu"
GEN="$BUILD/tests/bad-input/gen_bad_gguf"
DIR=tests/bad-input/corpus
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

# check_refused LABEL FRAGMENT OFFSET CMD...: runs CMD, checks status 1 and the message.
check_refused() {
    label=$1 frag=$2 off=$3
    shift 3
    timeout 10 "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$rc" -ne 1 ]; then
        bad "$label: exit status $rc (want 1; 124 = timeout, >128 = signal)"
        sed 's/^/    /' "$tmp/err" | head -n 5
        return
    fi
    if grep -Eq 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$tmp/err"; then
        bad "$label: sanitizer report on stderr"
        head -n 20 "$tmp/err" | sed 's/^/    /'
        return
    fi
    if ! grep -qF -- "$frag" "$tmp/err"; then
        bad "$label: stderr lacks \"$frag\""
        sed 's/^/    got: /' "$tmp/err" | head -n 3
        return
    fi
    if [ "$off" != "-" ] && ! grep -qF -- "offset $off" "$tmp/err"; then
        bad "$label: stderr lacks \"offset $off\""
        sed 's/^/    got: /' "$tmp/err" | head -n 3
        return
    fi
    ok
}

if [ ! -f "$DIR/expected.tsv" ]; then
    bad "missing $DIR/expected.tsv"
else
    n_rows=0
    tab=$(printf '\t')
    while IFS="$tab" read -r defect frag off; do
        case "$defect" in '#'*|'') continue ;; esac
        n_rows=$((n_rows + 1))
        f="$DIR/$defect.gguf"
        if [ ! -f "$f" ]; then
            bad "$defect: missing $f"
            continue
        fi
        check_refused "info $defect" "$frag" "$off" "$KAIWU" info "$f"
        check_refused "run $defect" "$frag" "$off" "$KAIWU" run -m "$f" -p hi -n 1
    done <"$DIR/expected.tsv"
    if [ "$n_rows" -ge 40 ]; then ok; else bad "corpus has only $n_rows defects (want at least 40)"; fi
fi

# The committed corpus is exactly what the generator writes.
mkdir -p "$tmp/gen"
if ! "$GEN" "$tmp/gen" >/dev/null 2>"$tmp/gen.err"; then
    bad "generator failed: $(head -n 3 "$tmp/gen.err")"
else
    same=1
    for g in "$tmp/gen"/*; do
        name=${g##*/}
        if ! cmp -s "$g" "$DIR/$name"; then same=0; echo "    differs or missing in $DIR: $name"; fi
    done
    for c in "$DIR"/*; do
        [ -f "$tmp/gen/${c##*/}" ] || { same=0; echo "    not made by the generator: ${c##*/}"; }
    done
    if [ "$same" -eq 1 ]; then ok; else bad "the generator does not reproduce $DIR byte for byte"; fi
fi

# Valid files: info exits 0 with nothing on stderr that looks like an error.
for f in "$DIR/valid-base.gguf" tests/data/models/tiny-llama2-f32.gguf tests/data/models/quant-q4_0.gguf; do
    timeout 10 "$KAIWU" info "$f" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$rc" -eq 0 ] && grep -q '^file: ' "$tmp/out" && grep -q '^tensors (' "$tmp/out"; then
        ok
    else
        bad "info on valid $f: exit $rc"
        head -n 3 "$tmp/err" | sed 's/^/    /'
    fi
done
timeout 10 "$KAIWU" info --help >"$tmp/out" 2>&1
if [ $? -eq 0 ] && grep -q 'usage: kaiwu info' "$tmp/out"; then ok; else bad "info --help"; fi
timeout 10 "$KAIWU" info --bogus "$DIR/valid-base.gguf" >"$tmp/out" 2>&1
if [ $? -eq 2 ]; then ok; else bad "info with an unknown option does not exit 2"; fi
timeout 10 "$KAIWU" info "$tmp/no-such-file.gguf" >"$tmp/out" 2>"$tmp/err"
if [ $? -eq 1 ] && grep -q '^error: cannot open' "$tmp/err"; then ok; else bad "info on a missing file"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
