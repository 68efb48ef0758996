#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the Debian binary package from the release tarball, as a user of
# the tarball would: configure in a build directory, make dist, unpack the
# tarball in a temporary directory, use its packaging/debian as debian/
# and run dpkg-buildpackage -us -uc -b.
#
# usage: packaging/build-deb.sh [OUTDIR]       (default: build-deb/out)
#
# The .deb files, .buildinfo and .changes go to OUTDIR; the path of the
# obsmount .deb is the only line written to standard output.
# Environment:
#   BUILD_DIR             where configure and make dist run (build-deb/dist)
#   DEB_BUILD_OPTIONS     default parallel=$(nproc); nocheck skips the tests
# Needs dpkg-dev, debhelper, fakeroot and the Build-Depends of
# packaging/debian/control.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build-deb/out}
bdir=${BUILD_DIR:-$top/build-deb/dist}

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
	echo "build-deb: make dist left no single tarball" >&2
	exit 1
fi
tarball=$bdir/$1
version=${1#obsmount-}
version=${version%.tar.gz}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
tar -xzf "$tarball" -C "$tmp"
src=$tmp/obsmount-$version
[ -d "$src/packaging/debian" ] || {
	echo "build-deb: the tarball has no packaging/debian (EXTRA_DIST in Makefile.am)" >&2
	exit 1
}
cp -a "$src/packaging/debian" "$src/debian"
chmod +x "$src/debian/rules"
cp "$tarball" "$tmp/obsmount_$version.orig.tar.gz"

deb_version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
if [ "${deb_version%-*}" != "$version" ]; then
	echo "build-deb: packaging/debian/changelog is at $deb_version but the tarball" \
		"is $version: add a changelog entry" >&2
	exit 1
fi

DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-parallel=$(nproc)}
export DEB_BUILD_OPTIONS

(cd "$src" && dpkg-buildpackage -us -uc -b) >&2

rm -f "$out"/obsmount_*.deb "$out"/obsmount-dbgsym_*.deb "$out"/obsmount_*.buildinfo \
	"$out"/obsmount_*.changes
for f in "$tmp"/*.deb "$tmp"/*.buildinfo "$tmp"/*.changes; do
	[ -e "$f" ] && mv "$f" "$out"/
done
set -- "$out"/obsmount_"$deb_version"_*.deb
[ -f "$1" ] || { echo "build-deb: no obsmount .deb was built" >&2; exit 1; }
echo "$1"
