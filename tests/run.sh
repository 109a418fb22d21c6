#!/bin/sh
# run.sh - runs every test binary and test script, sums their "N passed, N failed" lines and ends
# with the total in the same form. Exit status 1 when anything failed or a binary crashed.
#   BUILD=build sh tests/run.sh        (make test does this)
BUILD=${BUILD:-build}
total_pass=0
total_fail=0
log=$(mktemp)
# Fuzz targets replay their committed corpus (tests/fuzz/replay_main.c; one test per file).
for t in $(find "$BUILD/tests/unit" "$BUILD/tests/conformance" -type f -name 'test_*' ! -name '*.d' ! -name '*.o' 2>/dev/null | sort) \
         $(find "$BUILD/tests/fuzz" -type f -name 'replay_*' ! -name '*.d' ! -name '*.o' 2>/dev/null | sort) \
         $(ls tests/e2e/*.sh tests/bad-input/*.sh tests/cross/*.sh 2>/dev/null | sort); do
    name=${t#"$BUILD"/}
    start=$(date +%s)
    case "$t" in
        *.sh) BUILD="$BUILD" sh "$t" >"$log" 2>&1 ;;
        *) "$t" >"$log" 2>&1 ;;
    esac
    rc=$?
    secs=$(( $(date +%s) - start ))
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        p=0; f=1
        echo "CRASH $name (exit $rc, no summary line):"; tail -n 20 "$log"
    else
        p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "ERROR $name exited $rc"; tail -n 20 "$log"; fi
        [ "$f" -gt 0 ] && grep -E '^(FAIL|  in )' "$log" | head -n 40
    fi
    printf '%-48s %5d passed, %3d failed  (%ds)\n' "$name" "$p" "$f" "$secs"
    grep -E '^NOT RUN ' "$log" | sed 's/^/  /' # a gated test says so, visibly
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
done
rm -f "$log"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
