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
if [ "$(id -u)" != 0 ]; then
	echo "ci-deb: needs root (apt-get install, mount)" >&2
	exit 1
fi
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
fstab_line=""
cleanup() {
	fstab_remove
	if [ "$installed_before" = 0 ] && [ "${OBSMOUNT_KEEP_DEB:-0}" != 1 ]; then
		apt-get purge -y -q obsmount >/dev/null || true
	fi
}
# Take our line out of /etc/fstab again, leaving everything else as it is
# (rewritten in place: same inode, owner and mode).
fstab_remove() {
	local rest
	[ -n "$fstab_line" ] || return 0
	rest=$(grep -vxF -e "$fstab_line" /etc/fstab || true)
	printf '%s\n' "$rest" >/etc/fstab
	fstab_line=""
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
	elif ! ls /usr/share/man/man1/obsmount.1* >/dev/null 2>&1; then
		ok "man page in the package (dpkg is set to skip man pages here)"
	elif ! command -v man >/dev/null; then
		ok "man page installed (no man command to look it up)"
	elif page=$(man -w obsmount 2>/dev/null); then
		ok "man page $page"
	else
		bad "man -w obsmount finds no page"
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

# With the S3 test server up (tests/server/start.sh), mount a bucket the
# way an fstab line does, through mount(8) and mount.fuse3, with SSE-C, and
# check that the data lands encrypted. The server is not started here.
mount_check() {
	local exports tmp b mnt data got rc=0
	if [ -z "${OBSMOUNT_TEST_HTTPS_URL:-}" ]; then
		exports=$("$top/tests/server/start.sh" --status 2>/dev/null) || {
			echo "ci-deb: note: S3 test server not running, mount through mount(8) not checked"
			return 0
		}
		eval "$exports"
	fi
	if [ ! -e /dev/fuse ]; then
		echo "ci-deb: note: no /dev/fuse, mount through mount(8) not checked"
		return 0
	fi
	local s3c=(python3 "$top/tests/server/s3c.py" --url "$OBSMOUNT_TEST_HTTPS_URL"
		--access-key "$OBSMOUNT_TEST_ACCESS_KEY" --secret-key "$OBSMOUNT_TEST_SECRET_KEY"
		--ca "$OBSMOUNT_TEST_CA" --region "$OBSMOUNT_TEST_REGION")
	tmp=$(mktemp -d)
	b=ci-deb-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
	mnt=$tmp/mnt
	mkdir "$mnt"
	(
		umask 077
		printf '%s:%s:%s\n' "$b" "$OBSMOUNT_TEST_ACCESS_KEY" "$OBSMOUNT_TEST_SECRET_KEY" \
			>"$tmp/passwd"
		head -c 32 /dev/urandom | base64 >"$tmp/keys"
	)
	data="written through mount -t fuse.obsmount $b"
	if ! "${s3c[@]}" mb "$b" >/dev/null; then
		bad "cannot create bucket $b on the test server"
		rm -rf "$tmp"
		return 0
	fi
	if mount -t fuse.obsmount "$b" "$mnt" -o "_netdev,nofail,x-systemd.requires=network-online.target,url=$OBSMOUNT_TEST_HTTPS_URL,cafile=$OBSMOUNT_TEST_CA,region=$OBSMOUNT_TEST_REGION,passwd_file=$tmp/passwd,sse=c:$tmp/keys" &&
		mountpoint -q "$mnt"; then
		printf '%s\n' "$data" >"$mnt/hello.txt" || rc=1
		[ "$(cat "$mnt/hello.txt" 2>/dev/null)" = "$data" ] || rc=1
		umount "$mnt" || { fusermount3 -u -z "$mnt"; rc=1; }
		got=$("${s3c[@]}" --sse-c-key "$(cat "$tmp/keys")" get "$b" hello.txt - 2>/dev/null) || rc=1
		[ "$got" = "$data" ] || rc=1
		# Without the key the service must refuse: the object is SSE-C.
		if "${s3c[@]}" get "$b" hello.txt - >/dev/null 2>&1; then
			rc=1
		fi
		if [ "$rc" = 0 ]; then
			ok "mount -t fuse.obsmount with fstab options, SSE-C data round trip"
		else
			bad "I/O through mount -t fuse.obsmount $b (SSE-C)"
		fi
	else
		bad "mount -t fuse.obsmount $b"
	fi
	fstab_check
	"${s3c[@]}" rb "$b" --force >/dev/null 2>&1 || true
	rm -rf "$tmp"
}

# The same bucket through a temporary /etc/fstab line: "mount DIR" and
# "umount DIR", as a user of the package does. Uses mount_check's locals.
fstab_check() {
	local fmnt=$tmp/fstab-mnt fdata="written through an fstab entry $b" n rc=0
	mkdir "$fmnt"
	local opts="_netdev,x-systemd.mount-timeout=30,url=$OBSMOUNT_TEST_HTTPS_URL,cafile=$OBSMOUNT_TEST_CA,region=$OBSMOUNT_TEST_REGION,passwd_file=$tmp/passwd,sse=c:$tmp/keys"
	# noauto: not mounted at boot should the line ever be left behind.
	fstab_line="$b $fmnt fuse.obsmount noauto,nofail,$opts 0 0"
	# A last line without its newline would swallow ours.
	if [ -s /etc/fstab ] && [ -n "$(tail -c 1 /etc/fstab)" ]; then
		echo >>/etc/fstab
	fi
	printf '%s\n' "$fstab_line" >>/etc/fstab
	# For mount -a, a table holding only this entry, without noauto.
	printf '%s %s fuse.obsmount %s 0 0\n' "$b" "$fmnt" "$opts" >"$tmp/fstab"
	if mount "$fmnt" && mountpoint -q "$fmnt"; then
		printf '%s\n' "$fdata" >"$fmnt/fstab.txt" || rc=1
		[ "$(cat "$fmnt/fstab.txt" 2>/dev/null)" = "$fdata" ] || rc=1
		# The file of the mount -t check is there too.
		[ "$(cat "$fmnt/hello.txt" 2>/dev/null)" = "$data" ] || rc=1
		# The source column matches fstab, so mount -a leaves it alone
		# instead of mounting it a second time on top.
		[ "$(findmnt -n -o SOURCE --target "$fmnt")" = "$b" ] || rc=1
		mount -a -T "$tmp/fstab" || rc=1
		n=$(awk -v d="$fmnt" '$2 == d' /proc/self/mounts | wc -l)
		[ "$n" = 1 ] || rc=1
		umount "$fmnt" || { fusermount3 -u -z "$fmnt"; rc=1; }
		! mountpoint -q "$fmnt" || rc=1
		got=$("${s3c[@]}" --sse-c-key "$(cat "$tmp/keys")" get "$b" fstab.txt - 2>/dev/null) || rc=1
		[ "$got" = "$fdata" ] || rc=1
		if [ "$rc" = 0 ]; then
			ok "mount and umount through an /etc/fstab line, SSE-C data round trip"
		else
			bad "I/O through the /etc/fstab line for $b"
		fi
	else
		bad "mount $fmnt (an /etc/fstab line)"
	fi
	fstab_remove
	if grep -F "$fmnt" /etc/fstab >/dev/null; then
		bad "the temporary line is still in /etc/fstab"
	fi
}
mount_check

if [ "$failed" != 0 ]; then
	echo "ci-deb: $failed check(s) failed ($((SECONDS - start))s)" >&2
	exit 1
fi
echo "ci-deb: all checks passed ($((SECONDS - start))s)"
