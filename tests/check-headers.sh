#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Every header compiles on its own (include what you use).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cflags="-std=gnu11 -Wall -Wextra -Werror -fsyntax-only -DFUSE_USE_VERSION=31 -I$top/src
 $(pkg-config --cflags fuse3 libcurl libssl libcrypto libxml-2.0)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# config.h is only needed for feature macros; an empty one will do here.
: >"$tmp/config.h"
fail=0
for h in $(cd "$top/src" && find . -name '*.h' | sed 's|^\./||' | sort); do
	printf '#include "config.h"\n#include "%s"\n' "$h" >"$tmp/t.c"
	# shellcheck disable=SC2086
	if ! cc $cflags -I"$tmp" -c "$tmp/t.c" -o /dev/null 2>"$tmp/err"; then
		echo "header does not compile on its own: src/$h"
		cat "$tmp/err"
		fail=1
	fi
done
exit $fail
