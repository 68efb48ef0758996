#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The main job on a fresh Debian 12 machine, as root: install, build, start
# the local S3 test server, mount a bucket at a local directory and show
# files being written, listed, renamed and read; then the same with SSE-C
# (written, read back, renamed, and refused to a client without the key).
# Leaves the server running; unmounts at the end.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tools/deps.sh"
BUILD_DIR=${BUILD_DIR:-$top/build} "$top/tools/build.sh"
bin=${BUILD_DIR:-$top/build}/obsmount
eval "$("$top/tests/server/start.sh")"
s3c() { /usr/bin/python3 "$top/tests/server/s3c.py" "$@"; }

work=${OBSMOUNT_DEMO_DIR:-/var/tmp/obsmount-demo}
mnt=$work/mnt
mkdir -p "$mnt"

(umask 077; printf "%s:%s\n" "$OBSMOUNT_TEST_ACCESS_KEY" "$OBSMOUNT_TEST_SECRET_KEY" >"$work/passwd")
bucket=demo-$(date +%s)
s3c mb "$bucket"
opts="url=$OBSMOUNT_TEST_HTTP_URL,https_url=$OBSMOUNT_TEST_HTTPS_URL,cafile=$OBSMOUNT_TEST_CA"
opts="$opts,region=$OBSMOUNT_TEST_REGION,passwd_file=$work/passwd"

show() { printf '\n$ %s\n' "$*"; sh -c "$*"; }
cleanup() { fusermount3 -u "$mnt" 2>/dev/null || true; }
trap cleanup EXIT

echo "== mounting bucket $bucket at $mnt"
"$bin" "$bucket" "$mnt" -o "$opts"
show "echo 'hello from obsmount' > $mnt/hello.txt"
show "mkdir -p $mnt/docs && seq 1 100000 > $mnt/docs/numbers.txt"
show "ls -l $mnt $mnt/docs"
show "mv $mnt/docs/numbers.txt $mnt/docs/renamed.txt"
show "cat $mnt/hello.txt; wc -l $mnt/docs/renamed.txt"
echo; echo "== the same objects seen by another S3 client"
s3c ls "$bucket"
fusermount3 -u "$mnt"

if [ -n "${OBSMOUNT_DEMO_NO_SSE:-}" ]; then
	exit 0
fi
echo; echo "== SSE-C: a key file (0600), a mount with sse=c:KEYFILE"
s3c genkey >"$work/keys"
chmod 600 "$work/keys"
"$bin" "$bucket" "$mnt" -o "$opts,sse=c:$work/keys"
show "echo 'secret payload' > $mnt/secret.txt"
show "cat $mnt/secret.txt"
show "mv $mnt/secret.txt $mnt/secret-renamed.txt"
show "cat $mnt/secret-renamed.txt"
fusermount3 -u "$mnt"
echo; echo "== without the key, the server refuses the object:"
if s3c get "$bucket" secret-renamed.txt - 2>&1; then
	echo "ERROR: object readable without the key" >&2
	exit 1
fi
echo "(refused, as it should be)"
