#!/bin/sh
# install-deps.sh - installs the Debian packages kaiwu builds and tests with (idempotent).
# Libraries: PCRE2 (pre-tokenizer regexes), utf8proc (Unicode), jansson (JSON), libmicrohttpd
# (HTTP server), libedit (line editing). Tools: pkg-config, xz (compressed fixtures), tmux (chat e2e),
# an aarch64 cross compiler and qemu-user (the NEON kernel test, tests/cross/neon.sh). Open MPI
# (libopenmpi-dev, openmpi-bin: data-parallel `mpirun -np N kaiwu train`; the Makefile builds it in
# when mpicc is found, and tests/e2e/train.sh runs 2 ranks with mpirun).
set -eu
pkgs="build-essential pkg-config clang libpcre2-dev libutf8proc-dev libjansson-dev libmicrohttpd-dev
libedit-dev xz-utils tmux gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libopenmpi-dev
openmpi-bin"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
else
    echo "all build dependencies present"
fi
