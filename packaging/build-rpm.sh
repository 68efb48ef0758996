#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Smoke check of packaging/obsmount.spec: build the binary RPM from the
# release tarball with rpmbuild -bb --nodeps (on a Debian machine the
# BuildRequires name RPM packages, so they are not checked) and list it.
#
# usage: packaging/build-rpm.sh [OUTDIR]       (default: build-rpm/out)
#
# The .rpm goes to OUTDIR; its path is the only line on standard output.
# BUILD_DIR is where configure and make dist run (default build-rpm/dist).
# Needs rpmbuild (Debian package rpm) and the build dependencies.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build-rpm/out}
bdir=${BUILD_DIR:-$top/build-rpm/dist}
command -v rpmbuild >/dev/null || { echo "build-rpm: rpmbuild not found" >&2; exit 1; }

cd "$top"
if ! [ -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
	autoreconf -fi >&2
fi
mkdir -p "$bdir" "$out"
out=$(cd "$out" && pwd)
cd "$bdir"
"$top/configure" --disable-integration-tests >&2
rm -f obsmount-*.tar.gz
make dist >&2
set -- obsmount-*.tar.gz
if [ $# != 1 ] || [ ! -f "$1" ]; then
	echo "build-rpm: make dist left no single tarball" >&2
	exit 1
fi
tarball=$bdir/$1
version=${1#obsmount-}
version=${version%.tar.gz}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
mkdir -p "$tmp/SOURCES" "$tmp/SPECS"
cp "$tarball" "$tmp/SOURCES/"
# The spec from the tarball: it must be distributed.
tar -xzf "$tarball" -C "$tmp/SPECS" --strip-components=2 "obsmount-$version/packaging/obsmount.spec"
spec=$tmp/SPECS/obsmount.spec
spec_version=$(rpmspec -q --qf '%{VERSION}\n' "$spec" 2>/dev/null | head -n 1) ||
	spec_version=$(sed -n 's/^Version:[[:space:]]*//p' "$spec")
if [ "$spec_version" != "$version" ]; then
	echo "build-rpm: obsmount.spec is at $spec_version but the tarball is $version" >&2
	exit 1
fi

rpmbuild -bb --nodeps --define "_topdir $tmp" --define 'debug_package %{nil}' \
	--define "_smp_mflags -j$(nproc)" "$spec" >&2

rm -f "$out"/obsmount-*.rpm
set -- "$tmp"/RPMS/*/obsmount-"$version"-*.rpm
[ -f "$1" ] || { echo "build-rpm: no rpm was built" >&2; exit 1; }
mv "$1" "$out"/
rpm -qlp "$out/${1##*/}" >&2
echo "$out/${1##*/}"
