#!/bin/sh
# fresh_machine.sh - what `make` does on a machine without kaiwu's libraries or test tools, played
# with stand-ins: a pkg-config that finds nothing (PKG_CONFIG=...), a fake installer
# (INSTALL_DEPS=...) that records its call and "installs" by letting the stand-in pkg-config find
# the real libraries, a missing test tool (TEST_TOOLS=...), and a fake apt-get first in PATH.
#
# Checked: the build stops before compiling with ONE line that names what is missing and says to
# run scripts/install-deps.sh (never a compiler or linker error); `make run` installs through the
# installer when it can do so without asking, and otherwise stops with that line; `make test`
# never installs; a failing pkg-config's own message is shown, not hidden; the NEON test says what
# to run and never calls apt-get. Every make is `make -n` at parse time (nothing is compiled, the
# suite is not started recursively), so the whole script takes about a second.

TEST_NAME=fresh_machine.sh
. tests/check.sh

mkdir -p "$tmp/bin" "$tmp/nobin"
real_pc=$(command -v pkg-config)
# A pkg-config that finds nothing until $tmp/installed exists, then is the real one.
cat >"$tmp/bin/fake-pkg-config" <<EOF
#!/bin/sh
[ -f "$tmp/installed" ] && exec "$real_pc" "\$@"
exit 1
EOF
# A pkg-config whose packages exist but whose --cflags fails with a message of its own.
cat >"$tmp/bin/broken-pkg-config" <<EOF
#!/bin/sh
case "\$1" in --exists) exit 0 ;; esac
echo "broken-pkg-config: libpcre2-8.pc: syntax error on line 3" >&2
exit 1
EOF
# The installer stand-in: records that it ran and "installs".
cat >"$tmp/bin/fake-install.sh" <<EOF
#!/bin/sh
echo called >>"$tmp/install-calls"
: >"$tmp/installed"
EOF
# An apt-get that must never be called.
cat >"$tmp/bin/apt-get" <<EOF
#!/bin/sh
echo "\$*" >>"$tmp/apt-calls"
exit 1
EOF
chmod +x "$tmp/bin/"*

# mk ARGS...: make -n in the repo, as a user would type it (no parent make's flags), output in
# $out (stdout and stderr), status in $rc.
mk() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -n "$@" >"$out" 2>&1
    rc=$?
}
# one_line LABEL PATTERN: the build stopped with exactly one line, which matches PATTERN.
one_line() {
    n=$(wc -l <"$out")
    check "$1: stops (exit $rc)" [ "$rc" -ne 0 ]
    check "$1: with exactly one line (got $n: $(head -c 300 "$out"))" [ "$n" -eq 1 ]
    check "$1: the line says what is missing" grep -q "$2" "$out"
    check "$1: the line says to run scripts/install-deps.sh" grep -q "sh scripts/install-deps.sh" "$out"
    check "$1: no compiler or linker ran" sh -c "! grep -qi 'undefined reference\|pcre2\.h\|cc -' '$out'"
}
calls() { [ -f "$tmp/install-calls" ] && wc -l <"$tmp/install-calls" || echo 0; }

FAKE="PKG_CONFIG=$tmp/bin/fake-pkg-config"
INST="INSTALL_DEPS=sh $tmp/bin/fake-install.sh"

# ------------------------------------------------------------------ no libraries

mk all "$FAKE" CAN_INSTALL= "$INST"
one_line "make (no libraries)" "missing libpcre2-8 libutf8proc jansson libedit"
mk run "$FAKE" CAN_INSTALL= "$INST"
one_line "make run (no libraries, cannot install)" "missing libpcre2-8"
check "make run does not call the installer when it cannot install" [ "$(calls)" -eq 0 ]
mk test "$FAKE" CAN_INSTALL=yes "$INST"
one_line "make test (no libraries)" "missing libpcre2-8"
check "make test never calls the installer, even when it could" [ "$(calls)" -eq 0 ]
mk all PKG_CONFIG=no-such-pkg-config-kw CAN_INSTALL= "$INST"
one_line "make (no pkg-config)" "missing no-such-pkg-config-kw"
mk all CC=no-such-cc-kw CAN_INSTALL= "$INST"
one_line "make (no C compiler)" "a-C-compiler(no-such-cc-kw)"

# ------------------------------------------------------------------ make run installs when it can

mk run "$FAKE" CAN_INSTALL=yes "$INST"
check "make run with missing libraries calls the installer once (got $(calls))" [ "$(calls)" -eq 1 ]
check "make run says it is installing, and with what" grep -q "make run: missing libpcre2-8.*installing with sh $tmp/bin/fake-install.sh" "$out"
check "after installing, make run goes on to build and run (exit $rc)" [ "$rc" -eq 0 ]
check "make run then runs the model" grep -q "kaiwu run -m" "$out"
rm -f "$tmp/installed"

# ------------------------------------------------------------------ pkg-config failing is shown

mk all "PKG_CONFIG=$tmp/bin/broken-pkg-config"
check "a failing pkg-config stops the build (exit $rc)" [ "$rc" -ne 0 ]
check "pkg-config's own message is shown, not hidden" grep -q "libpcre2-8.pc: syntax error" "$out"
check "followed by one line saying what failed" grep -q "\-\-cflags .* failed (its message is above)" "$out"

# ------------------------------------------------------------------ test tools

mk test TEST_TOOLS="sh no-such-tool-kw"
one_line "make test (a test tool missing)" "make test needs no-such-tool-kw"
mk all TEST_TOOLS="sh no-such-tool-kw"
check "plain make does not need the test tools (exit $rc)" [ "$rc" -eq 0 ]

# ------------------------------------------------------------------ NEON test never installs

# (as the plain build runs it: the sanitized suite skips the NEON test before looking)
BUILD=build PATH="$tmp/bin:$PATH" NEON_CC=no-such-aarch64-gcc-kw sh tests/cross/neon.sh >"$out" 2>&1
rc=$?
check "neon.sh without the cross compiler fails (exit $rc)" [ "$rc" -ne 0 ]
check "neon.sh says what to run" grep -q "no-such-aarch64-gcc-kw is missing - run 'sh scripts/install-deps.sh'" "$out"
check "neon.sh counts it as a failure" grep -q "^0 passed, 1 failed$" "$out"
PATH="$tmp/bin:$PATH" NEON_QEMU=no-such-qemu-kw sh scripts/test-neon.sh >"$out" 2>&1
rc=$?
check "test-neon.sh without qemu fails in one line (exit $rc, $(wc -l <"$out") lines)" \
    [ "$rc" -ne 0 ] && [ "$(wc -l <"$out")" -eq 1 ]
check "neither called apt-get" [ ! -e "$tmp/apt-calls" ]

# ------------------------------------------------------------------ install-deps.sh

sh scripts/install-deps.sh --help >"$out" 2>&1
check "install-deps.sh --help documents --build and --check" grep -q -- "--build.*--check\|--check" "$out"
for p in libpcre2-dev libutf8proc-dev libjansson-dev libedit-dev tmux qemu-user xz-utils; do
    check "install-deps.sh says why it needs $p" grep -q "$p|.\{10,\}" scripts/install-deps.sh
done
PATH="$tmp/bin:$PATH" sh scripts/install-deps.sh --check >"$out" 2>&1
check "install-deps.sh --check never calls apt-get" [ ! -e "$tmp/apt-calls" ]

finish
