# check.sh - what the shell tests (tests/e2e/*.sh) share, sourced, not run. Set TEST_NAME first.
# Gives: BUILD, KAIWU (the CLI under test), DATA (fixtures), a scratch directory $tmp with $out and
# $err, check/ok/bad counting, and finish, which removes $tmp (running $CLEANUP first when set),
# prints "N passed, N failed" for tests/run.sh to sum and exits non-zero when a check failed.
BUILD=${BUILD:-build}
KAIWU=$BUILD/kaiwu
DATA=${KAIWU_TEST_DATA:-tests/data}
pass=0
fail=0
tmp=$(mktemp -d)
out=$tmp/out
err=$tmp/err
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $TEST_NAME: $*"; }
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
    desc=$1
    shift
    if "$@"; then ok; else bad "$desc"; fi
}
finish() {
    [ -n "${CLEANUP:-}" ] && $CLEANUP
    rm -rf "$tmp"
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit $?
}
# Ends the script with one failure when the CLI is not built.
require_kaiwu() {
    if [ ! -x "$KAIWU" ]; then
        bad "$KAIWU is not built"
        finish
    fi
}
