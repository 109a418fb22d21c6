# check.sh - the shared check helpers of the shell tests (tests/e2e/*.sh), sourced, not run.
# Set TEST_NAME first. Each check is a sentence; failures print "FAIL <name>: <sentence>"; the
# script ends with report, which prints "N passed, N failed" for tests/run.sh to sum.
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $TEST_NAME: $*"; }
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
    desc=$1
    shift
    if "$@"; then ok; else bad "$desc"; fi
}
# report: prints the counts; returns non-zero when a check failed.
report() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
