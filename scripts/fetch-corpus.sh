#!/bin/sh
# fetch-corpus.sh - fetches the training corpus of kaiwu's own model: the npm package
# chinese-poetry, pinned at 2.0.1 (MIT), checked against the sha512 integrity the registry
# published for it, unpacked to DIR/chinese-poetry/ (the package's own layout: dist/quantangshi,
# dist/songci, ...). DIR defaults to corpus/ (git-ignored: the corpus is never committed).
#
#   scripts/fetch-corpus.sh [DIR]
#
# Idempotent: a DIR that already holds the verified package is left alone. Needs npm (the
# registry is the only place the package comes from), tar, and openssl or sha512sum + xxd.
set -eu

PKG=chinese-poetry
VERSION=2.0.1
# `npm view chinese-poetry@2.0.1 dist.integrity`, recorded once; a tarball that does not hash to
# it is refused.
INTEGRITY="sha512-KtYARvV7CWNtax0na9+Jn6PlhGgSoid7PWyDzXI4KsCEm2odZcqEQyval5koaLygZnM/EQ3lfJ//25K8p3uHNg=="

DIR=${1:-corpus}
DEST="$DIR/$PKG"
STAMP="$DEST/.kaiwu-integrity"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$INTEGRITY" ] && [ -d "$DEST/dist" ]; then
    echo "fetch-corpus: $PKG@$VERSION already in $DEST (verified $INTEGRITY)"
    exit 0
fi

command -v npm >/dev/null 2>&1 || { echo "fetch-corpus: npm is needed (apt-get install npm)" >&2; exit 1; }

sha512_b64() {
    if command -v openssl >/dev/null 2>&1; then
        openssl dgst -sha512 -binary "$1" | base64 | tr -d '\n'
    else
        sha512sum "$1" | cut -d' ' -f1 | xxd -r -p | base64 | tr -d '\n'
    fi
}

mkdir -p "$DIR"
TMP=$(mktemp -d "$DIR/.fetch.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

echo "fetch-corpus: npm pack $PKG@$VERSION"
(cd "$TMP" && npm pack --silent "$PKG@$VERSION" >/dev/null)
TGZ="$TMP/$PKG-$VERSION.tgz"
[ -f "$TGZ" ] || { echo "fetch-corpus: npm pack wrote no $PKG-$VERSION.tgz" >&2; exit 1; }

GOT="sha512-$(sha512_b64 "$TGZ")"
if [ "$GOT" != "$INTEGRITY" ]; then
    echo "fetch-corpus: integrity mismatch for $PKG@$VERSION" >&2
    echo "  expected $INTEGRITY" >&2
    echo "  got      $GOT" >&2
    exit 1
fi
echo "fetch-corpus: integrity ok ($(wc -c <"$TGZ") bytes, $INTEGRITY)"

mkdir -p "$TMP/unpack"
tar -xzf "$TGZ" -C "$TMP/unpack"
[ -d "$TMP/unpack/package/dist" ] || { echo "fetch-corpus: the tarball has no package/dist" >&2; exit 1; }
printf '%s\n' "$INTEGRITY" >"$TMP/unpack/package/.kaiwu-integrity"
rm -rf "$DEST"
mv "$TMP/unpack/package" "$DEST"
echo "fetch-corpus: unpacked to $DEST ($(find "$DEST/dist" -name '*.json' | wc -l) JSON files)"
