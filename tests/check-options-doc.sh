#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Every option of the fuse_opt table in src/opt.c must be documented in
# man/obsmount.1 and listed by `obsmount --help`.
set -eu
srcdir=${OBSMOUNT_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${OBSMOUNT_BIN:-./obsmount}
table="$srcdir/src/opt.c"
man="$srcdir/man/obsmount.1"

if [ ! -x "$bin" ]; then
	echo "no obsmount binary at '$bin' (set OBSMOUNT_BIN)" >&2
	exit 1
fi
help=$("$bin" --help)
opts=$(sed -n 's/^[[:space:]]*OPT("\([a-z_0-9]*\)[="].*/\1/p' "$table")
if [ -z "$opts" ]; then
	echo "no options found in '$table'" >&2
	exit 1
fi
fail=0
n=0
for o in $opts; do
	n=$((n + 1))
	# A man page entry starts a line: .B name / .BI name= / .BR name=...
	if ! grep -Eq "^\.B[IR]? +$o([= ]|\$)" "$man"; then
		echo "option '$o' is not documented in man/obsmount.1"
		fail=1
	fi
	if ! printf '%s\n' "$help" | grep -Eq -- "-o $o([=| ]|\$)"; then
		echo "option '$o' is missing from 'obsmount --help'"
		fail=1
	fi
done
[ "$fail" = 0 ] && echo "all $n options documented in the man page and --help"
exit $fail
