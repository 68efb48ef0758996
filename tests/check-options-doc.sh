#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Every option of the fuse_opt table in src/opt.c must be documented in
# man/obsmount.1 and listed by `obsmount --help`, and so must every fstab
# word that the table accepts and drops (FUSE_OPT_KEY_DISCARD).
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
words=$(sed -n 's/^[[:space:]]*FUSE_OPT_KEY("\([^"]*\)", FUSE_OPT_KEY_DISCARD).*/\1/p' "$table")
for w in $words; do
	n=$((n + 1))
	# In the man page as a bold word (.B/.BR lines), in --help as a word.
	if ! grep -Eq "^\.BR? +$w( |,|\$)" "$man"; then
		echo "fstab word '$w' is not documented in man/obsmount.1"
		fail=1
	fi
	if ! printf '%s\n' "$help" | grep -Eq -- "(^|[ ,])$w([ ,.]|\$)"; then
		echo "fstab word '$w' is missing from 'obsmount --help'"
		fail=1
	fi
done
[ "$fail" = 0 ] && echo "all $n options and fstab words documented in the man page and --help"
exit $fail
