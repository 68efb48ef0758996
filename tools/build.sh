#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Configure and build obsmount in BUILD_DIR (default: build) with the
# warnings-are-errors flags. Extra configure arguments pass through.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bdir=${BUILD_DIR:-$top/build}
cd "$top"
if ! [ -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
	autoreconf -fi >&2
fi
mkdir -p "$bdir"
cd "$bdir"
"$top/configure" --enable-werror "$@" >&2
make -j"$(nproc)" >&2
