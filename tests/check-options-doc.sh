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
# need WHAT NAME MAN_RE HELP_RE: NAME must match MAN_RE in the man page and
# HELP_RE in --help.
need() {
	n=$((n + 1))
	if ! grep -Eq "$3" "$man"; then
		echo "$1 '$2' is not documented in man/obsmount.1"
		fail=1
	fi
	if ! printf '%s\n' "$help" | grep -Eq -- "$4"; then
		echo "$1 '$2' is missing from 'obsmount --help'"
		fail=1
	fi
}
for o in $opts; do
	# A man page entry starts a line: .B name / .BI name= / .BR name=...
	need option "$o" "^\.B[IR]? +$o([= ]|\$)" "-o $o([=| ]|\$)"
done
words=$(sed -n 's/^[[:space:]]*FUSE_OPT_KEY("\([^"]*\)", FUSE_OPT_KEY_DISCARD).*/\1/p' "$table")
for w in $words; do
	# In the man page as a bold word (.B/.BR lines), in --help as a word.
	need "fstab word" "$w" "^\.BR? +$w( |,|\$)" "(^|[ ,])$w([ ,.]|\$)"
done
[ "$fail" = 0 ] && echo "all $n options and fstab words documented in the man page and --help"
exit $fail
