#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The POSIX suite pjdfstest on a real mount: build it out of tree from
# ../shared/suites/pjdfstest (or $PJDFSTEST_SRC), mount a fresh bucket of
# the test server with allow_other over HTTPS, run every group but chflags
# (BSD only) from inside the mount and print the passing and failing test
# points per group. Points a file never reached (it stopped early) count
# as failing; those marked TODO (known failures of Linux) as passing.
#
#     tests/pjdfstest.sh [GROUP...]
#
# Skips (exit 0, with a message) when the suite is absent. Fails when more
# than $PJDFSTEST_MAX_FAIL points fail (default 100), or when the mount
# breaks. Needs root, /dev/fuse, prove's neighbours (autoconf, automake,
# gcc) and the user nobody (uid 65534) that the suite switches to.
# Environment: OBSMOUNT_BIN (default build/obsmount), PJDFSTEST_SRC,
# PJDFSTEST_MAX_FAIL, PJDFSTEST_KEEP=1 (keep the work directory),
# PJDFSTEST_OPTS (extra -o options), PYTHON3.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
src=${PJDFSTEST_SRC:-$top/../shared/suites/pjdfstest}
bin=${OBSMOUNT_BIN:-$top/build/obsmount}
max_fail=${PJDFSTEST_MAX_FAIL:-100}
py=${PYTHON3:-/usr/bin/python3}

if [ ! -f "$src/pjdfstest.c" ]; then
	echo "SKIP: pjdfstest: no suite at '$src' (set PJDFSTEST_SRC)"
	exit 0
fi
if [ "$(id -u)" != 0 ] || [ ! -e /dev/fuse ]; then
	echo "pjdfstest: needs root and /dev/fuse" >&2
	exit 1
fi
if ! getent passwd 65534 >/dev/null; then
	echo "pjdfstest: needs a user with uid 65534 (nobody)" >&2
	exit 1
fi
if [ ! -x "$bin" ]; then
	echo "pjdfstest: no obsmount binary at '$bin' (set OBSMOUNT_BIN)" >&2
	exit 1
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

work=$(mktemp -d "${TMPDIR:-/tmp}/obsmount-pjdfstest.XXXXXX")
mnt=$work/mnt
bucket=pjd-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
pid=
server_env=$("$top/tests/server/start.sh")
eval "$server_env"

s3() {
	# s3 create|delete: the test bucket, through the tests' own client.
	"$py" - "$1" "$bucket" <<'EOF'
import os
import sys
sys.path.insert(0, os.path.join(os.environ["OBSMOUNT_TOP"], "tests", "server"))
import s3c
c = s3c.client_from_env()
if sys.argv[1] == "create":
    c.create_bucket(sys.argv[2])
else:
    c.delete_bucket_recursive(sys.argv[2])
EOF
}
export OBSMOUNT_TOP=$top

cleanup() {
	if [ -n "$pid" ]; then
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	s3 delete >/dev/null 2>&1 || true
	if [ "${PJDFSTEST_KEEP:-0}" = 1 ]; then
		echo "pjdfstest: work directory kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

echo "pjdfstest: building from '$src'"
cp -a "$src" "$work/pjdfstest"
(cd "$work/pjdfstest" && autoreconf -ifs && ./configure && make pjdfstest) \
	>"$work/build.log" 2>&1 || {
	cat "$work/build.log" >&2
	echo "pjdfstest: build failed" >&2
	exit 1
}
# The suite runs as other users too: they must reach its scripts.
chmod -R go+rX "$work"

s3 create
mkdir -p "$mnt"
printf '%s:%s\n' "$OBSMOUNT_TEST_ACCESS_KEY" "$OBSMOUNT_TEST_SECRET_KEY" >"$work/passwd"
chmod 600 "$work/passwd"
opts="url=$OBSMOUNT_TEST_HTTPS_URL,cafile=$OBSMOUNT_TEST_CA,passwd_file=$work/passwd"
opts="$opts,region=${OBSMOUNT_TEST_REGION:-us-east-1},allow_other"
[ -n "${PJDFSTEST_OPTS:-}" ] && opts="$opts,$PJDFSTEST_OPTS"
"$bin" "$bucket" "$mnt" -f -o "$opts" >"$work/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 200); do
	mountpoint -q "$mnt" && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if ! mountpoint -q "$mnt"; then
	cat "$work/daemon.log" >&2
	echo "pjdfstest: mount failed" >&2
	exit 1
fi
chmod 0755 "$mnt"

if [ $# -gt 0 ]; then
	groups=("$@")
else
	groups=()
	for g in "$work"/pjdfstest/tests/*/; do
		g=$(basename "$g")
		[ "$g" = chflags ] || groups+=("$g")
	done
fi

total_pass=0
total_fail=0
failed_log=$work/failed.txt
: >"$failed_log"
printf '%-16s %6s %6s %6s\n' group pass fail seconds
for g in "${groups[@]}"; do
	gp=0
	gf=0
	t0=$SECONDS
	for t in "$work/pjdfstest/tests/$g"/*.t; do
		out=$(cd "$mnt" && timeout 600 sh "$t" 2>/dev/null) || true
		plan=$(printf '%s\n' "$out" | sed -n 's/^1\.\.\([0-9]*\).*/\1/p' | head -n 1)
		ok=$(printf '%s\n' "$out" | grep -c '^ok ' || true)
		# TAP: a failing point marked TODO is a known failure of the
		# platform (Linux), not of the filesystem.
		todo=$(printf '%s\n' "$out" | grep -c '^not ok .*# TODO' || true)
		bad=$(printf '%s\n' "$out" | grep -c '^not ok ' || true)
		bad=$((bad - todo))
		ok=$((ok + todo))
		# Points the file never printed failed as well.
		if [ -n "$plan" ] && [ "$plan" -gt $((ok + bad)) ]; then
			bad=$((plan - ok))
		fi
		[ -z "$plan" ] && [ $((ok + bad)) = 0 ] && bad=1
		if [ "$bad" -gt 0 ]; then
			printf '%s\n' "$out" | grep '^not ok ' | grep -v '# TODO' | sed "s|^|$g/$(basename "$t"): |" \
				>>"$failed_log" || true
			printf '%s: %s of %s points failed\n' "$g/$(basename "$t")" "$bad" \
				"${plan:-?}" >>"$failed_log"
		fi
		gp=$((gp + ok))
		gf=$((gf + bad))
		if ! mountpoint -q "$mnt"; then
			echo "pjdfstest: the mount went away during '$g/$(basename "$t")'" >&2
			cat "$work/daemon.log" >&2
			exit 1
		fi
	done
	printf '%-16s %6d %6d %6d\n' "$g" "$gp" "$gf" $((SECONDS - t0))
	total_pass=$((total_pass + gp))
	total_fail=$((total_fail + gf))
done
printf '%-16s %6d %6d %6d\n' total "$total_pass" "$total_fail" "$SECONDS"
if [ "$total_fail" -gt 0 ]; then
	echo "pjdfstest: failing points (first 200 lines):"
	head -n 200 "$failed_log"
fi
if [ "$total_fail" -gt "$max_fail" ]; then
	echo "pjdfstest: $total_fail points failed, more than $max_fail" >&2
	exit 1
fi
echo "pjdfstest: $total_fail points failed (at most $max_fail allowed)"
