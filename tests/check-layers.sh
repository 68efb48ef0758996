#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Dependencies between the files of src/ point one way (style guide, section
# 2): no two files call each other, and an internal header (*_i.h) is
# included only by the files of its own module. Files that make up one
# module together are listed in $modules. The symbol check reads libcore.a
# (argument 1, else ./libcore.a as under make check) and is skipped without it.
set -eu
srcdir=${OBSMOUNT_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
lib=${1:-libcore.a}

# One module per line: its files, without .c; they may share internals.
modules='fs_ops fs_dir fs_defer
sign_v2 sign_v4
http http_direct'

fail=0

# Are $1 and $2 files of one module?
same_module() {
	printf '%s\n' "$modules" | while read -r line; do
		case " $line " in
		*" $1 "*) case " $line " in *" $2 "*) echo yes ;; esac ;;
		esac
	done | grep -q yes
}

# An internal header included by more than one file couples them both ways.
for h in $(cd "$srcdir/src" && find . -name '*_i.h' | sed 's|^\./||' | sort); do
	users=$(cd "$srcdir/src" && grep -l "^#include \"$h\"" -- *.c 2>/dev/null |
		sed 's/\.c$//' | sort)
	# shellcheck disable=SC2086
	pairs=$(printf '%s\n' $users | awk '
		{ u[NR] = $0 }
		END { for (i = 1; i <= NR; i++) for (j = i + 1; j <= NR; j++) print u[i], u[j] }')
	[ -n "$pairs" ] || continue
	while read -r a b; do
		if ! same_module "$a" "$b"; then
			echo "src/$a.c and src/$b.c share the internal header src/$h"
			fail=1
		fi
	done <<EOF
$pairs
EOF
done

# Who calls whom: an edge "a b" when a.o uses a symbol that b.o defines.
if [ -f "$lib" ]; then
	edges=$(nm -A -P "$lib" | awk '
		{
			f = $1
			sub(/^.*\[/, "", f)
			sub(/\]:$/, "", f)
			sub(/\.o$/, "", f)
			if ($3 ~ /^[TDBRC]$/)
				def[$2] = f
			else if ($3 == "U")
				use[++n] = f " " $2
		}
		END {
			for (i = 1; i <= n; i++) {
				split(use[i], u, " ")
				if ((u[2] in def) && def[u[2]] != u[1])
					print u[1], def[u[2]]
			}
		}' | sort -u)
	if [ -z "$edges" ]; then
		echo "no calls between the objects of '$lib'" >&2
		exit 1
	fi
	cycles=$(printf '%s\n' "$edges" | awk '
		{ e[$1 " " $2] = 1 }
		END {
			for (k in e) {
				split(k, a, " ")
				if (a[1] < a[2] && ((a[2] " " a[1]) in e))
					print a[1], a[2]
			}
		}' | sort)
	if [ -n "$cycles" ]; then
		while read -r a b; do
			if ! same_module "$a" "$b"; then
				echo "src/$a.c and src/$b.c call each other"
				fail=1
			fi
		done <<EOF
$cycles
EOF
	fi
else
	echo "no '$lib': calls between files not checked" >&2
fi
exit $fail
