#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# CI check of the Debian package: build it from the release tarball
# (build-deb.sh), install it with apt-get, and check what a user gets: the
# binary and its --version, the man page, the examples, the systemd unit
# and the mount helper that makes "mount -t fuse.obsmount" work.
#
# usage: packaging/ci-deb.sh [OUTDIR]          (default: build-deb/out)
#
# Needs root. The package is removed again at the end unless it was
# installed before or OBSMOUNT_KEEP_DEB=1.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build-deb/out}
export DEBIAN_FRONTEND=noninteractive
start=$SECONDS
failed=0
ok() { echo "ci-deb: ok: $*"; }
bad() {
	echo "ci-deb: FAILED: $*" >&2
	failed=$((failed + 1))
}

deb=$("$top/packaging/build-deb.sh" "$out" | tail -n 1)
echo "ci-deb: built $deb in $((SECONDS - start))s"

installed_before=0
if dpkg-query -W -f='${Status}' obsmount 2>/dev/null | grep 'install ok installed' >/dev/null; then
	installed_before=1
fi
apt-get install -y -q --reinstall "$deb"
cleanup() {
	if [ "$installed_before" = 0 ] && [ "${OBSMOUNT_KEEP_DEB:-0}" != 1 ]; then
		apt-get purge -y -q obsmount >/dev/null || true
	fi
}
trap cleanup EXIT

want=$(dpkg-deb -f "$deb" Version)
have=$(dpkg-query -W -f='${Status} ${Version}' obsmount)
if [ "$have" = "install ok installed $want" ]; then
	ok "installed $want"
else
	bad "dpkg says '$have'"
fi

# mount(8) runs helpers without PATH, so /bin/sh looks in its default
# path: the binary must be in /usr/bin.
if [ -x /usr/bin/obsmount ] && v=$(/usr/bin/obsmount --version) &&
	[ "$(head -n 1 <<<"$v")" = "obsmount ${want%-*}" ]; then
	ok "$(head -n 1 <<<"$v")"
else
	bad "/usr/bin/obsmount --version"
fi

# Some images tell dpkg to drop man pages: check the package, then man.
if [ -f "$top/man/obsmount.1" ]; then
	if ! dpkg-deb -c "$deb" | grep '/usr/share/man/man1/obsmount\.1' >/dev/null; then
		bad "man page: man/obsmount.1 exists but the package does not ship it"
	elif page=$(man -w obsmount 2>/dev/null); then
		ok "man page $page"
	elif dpkg-query -L obsmount | grep '/man1/obsmount\.1' >/dev/null; then
		bad "man -w obsmount finds no page"
	else
		ok "man page in the package (dpkg is set to skip man pages here)"
	fi
else
	echo "ci-deb: note: no man/obsmount.1 in the tree, man page not checked"
fi

ex=/usr/share/doc/obsmount/examples
missing=""
for f in "$top"/packaging/examples/*; do
	n=${f##*/}
	[ -e "$ex/$n" ] || [ -e "$ex/$n.gz" ] || missing="$missing $n"
done
if [ -z "$missing" ]; then
	ok "examples in $ex"
else
	bad "examples missing:$missing"
fi

unit=/lib/systemd/system/obsmount@.service
if [ -f "$unit" ] && dpkg -S "$unit" >/dev/null 2>&1; then
	if command -v systemd-analyze >/dev/null; then
		if systemd-analyze verify --man=no "$unit" 2>&1 | grep .; then
			bad "systemd-analyze verify $unit"
		else
			ok "systemd unit $unit verifies"
		fi
	else
		ok "systemd unit $unit"
	fi
else
	bad "systemd unit $unit not installed by the package"
fi

# mount -t fuse.obsmount: libmount tries /sbin/mount.fuse.obsmount, then
# /sbin/mount.fuse (fuse3's mount.fuse3), which runs "obsmount SOURCE DIR
# -o OPTIONS". fuse3 is a dependency, so its helper must be there.
helper=""
for h in /sbin/mount.fuse.obsmount /sbin/mount.fuse /usr/sbin/mount.fuse; do
	if [ -x "$h" ]; then
		helper=$h
		break
	fi
done
if [ -n "$helper" ] && [ -x /bin/fusermount3 ]; then
	ok "mount helper $helper ($(readlink -f "$helper")), fusermount3"
else
	bad "no mount helper for fuse.obsmount (fuse3 not installed?)"
fi

if [ "$failed" != 0 ]; then
	echo "ci-deb: $failed check(s) failed ($((SECONDS - start))s)" >&2
	exit 1
fi
echo "ci-deb: all checks passed ($((SECONDS - start))s)"
