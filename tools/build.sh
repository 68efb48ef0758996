#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Configure and build obsmount in BUILD_DIR (default: build) with the
# warnings-are-errors flags. Extra configure arguments pass through.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bdir=${BUILD_DIR:-$top/build}
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] && [ configure -nt Makefile.am ] ||
	autoreconf -fi >&2
mkdir -p "$bdir"
cd "$bdir"
"$top/configure" --enable-werror "$@" >&2
make -j"$(nproc)" >&2
