#!/bin/sh
# install-deps.sh - installs the Debian/Ubuntu packages kaiwu builds and tests with (idempotent:
# only what is missing; says why each package is needed).
#
#   sh scripts/install-deps.sh           everything: building, running, `make test`, `make format`
#   sh scripts/install-deps.sh --build   only what building and running kaiwu needs (`make run`
#                                        calls this when the libraries are missing and it can
#                                        install without a password)
#   sh scripts/install-deps.sh --check   list what is missing, install nothing (exit 1 if any;
#                                        with --build: only the build and run packages)
#
# Needs root or sudo, and apt. On other systems it prints the list and what each is for.
set -eu

# package|why, one a line. Build and run:
build_pkgs='build-essential|the C compiler, make and the C library headers
pkg-config|finds the libraries below for the Makefile
libpcre2-dev|PCRE2: the pre-tokenizer regular expressions (GPT-2, Llama 3, Qwen splits)
libutf8proc-dev|utf8proc: Unicode normalization and character categories in tokenizers
libjansson-dev|jansson: JSON (chat messages, templates, imatrix metadata)
libedit-dev|libedit: line editing and history in interactive kaiwu chat
libmicrohttpd-dev|libmicrohttpd: the HTTP server (kaiwu serve)
libopencc-dev|OpenCC: traditional -> simplified Chinese (kaiwu data prepare)'
# What `make test` and the developer tools add:
test_pkgs='xz-utils|decompresses the test models stored as .xz (tests/data/models)
tmux|drives interactive kaiwu chat in a real terminal (tests/e2e/chat_tmux.sh)
gcc-aarch64-linux-gnu|cross-compiles the ARM NEON kernel test (tests/cross/neon.sh)
libc6-dev-arm64-cross|the aarch64 C library that cross-compile links against
qemu-user|runs the aarch64 NEON kernel test on this machine
clang|libFuzzer targets and the sanitizer builds
libclang-rt-14-dev|the clang runtimes of libFuzzer and ThreadSanitizer (make fuzz, make test-tsan)
clang-format|make format (the tree is kept clang-format clean)
libopenmpi-dev|Open MPI: data-parallel training, mpirun -np N kaiwu train (built in when mpicc is found)
openmpi-bin|mpirun, for the 2-rank training check (tests/e2e/train.sh)
nginx-light|nginx in front of two kaiwu serve, the shipped load-balancer config (tests/e2e/serve_nginx.sh)'

mode=all
check=0
for arg in "$@"; do
    case "$arg" in
    --build) mode=build ;;
    --check) check=1 ;;
    -h | --help)
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "install-deps.sh: unknown option '$arg' (--build, --check, --help)" >&2
        exit 2
        ;;
    esac
done
list=$build_pkgs
[ "$mode" = build ] || list="$build_pkgs
$test_pkgs"

have_dpkg=0
command -v dpkg-query >/dev/null 2>&1 && have_dpkg=1
missing=""
missing_lines=""
nl='
'
IFS_SAVED=$IFS
IFS=$nl
for line in $list; do
    p=${line%%|*}
    why=${line#*|}
    if [ $have_dpkg = 1 ] &&
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        continue
    fi
    missing="$missing $p"
    missing_lines="$missing_lines  $p: $why$nl"
done
IFS=$IFS_SAVED

if [ -z "$missing" ]; then
    echo "install-deps: everything kaiwu needs$([ "$mode" = build ] && echo " to build and run") is installed"
    exit 0
fi
if [ $check = 1 ] || [ $have_dpkg = 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    printf 'install-deps: missing:\n%s' "$missing_lines"
    [ $have_dpkg = 0 ] && echo "install-deps: no dpkg/apt here: install the equivalents with your package manager"
    exit 1
fi
printf 'install-deps: installing:\n%s' "$missing_lines"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-deps: not root and no sudo: run this script as root" >&2
        exit 1
    fi
    SUDO=sudo
fi
# shellcheck disable=SC2086
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
echo "install-deps: done"
