#!/usr/bin/env bash
# tests/xbuild.sh EMB KVONLY - stores cross between the embeddings build and
# the pure key-value build: each opens its own stores and refuses the other's
# with SPL_ELAYOUT.  EMB and KVONLY are the two builds' xbuild programs.
set -eu
emb=$1 kv=$2
dir=$(mktemp -d /tmp/spl-xbuild-XXXXXX)
trap 'rm -rf "$dir"' EXIT
"$emb" create "$dir/emb.store"
"$kv" create "$dir/kv.store"
"$emb" open "$dir/emb.store" SPL_OK
"$kv" open "$dir/kv.store" SPL_OK
"$kv" open "$dir/emb.store" SPL_ELAYOUT
"$emb" open "$dir/kv.store" SPL_ELAYOUT
echo "xbuild: both builds refuse each other's stores"
