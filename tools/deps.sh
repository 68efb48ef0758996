#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Install, from Debian's packages, everything needed to build obsmount, run
# its tests and its test server. Idempotent; needs root.
set -eu
pkgs="build-essential autoconf automake pkg-config
 libfuse3-dev fuse3 libcurl4-openssl-dev libssl-dev libxml2-dev libcmocka-dev
 python3 python3-pytest debootstrap ca-certificates curl openssl
 valgrind rsync tar xz-utils attr shellcheck clang-format
 dpkg-dev debhelper fakeroot man-db media-types"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "installing:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >&2
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing >&2
fi
[ -e /dev/fuse ] || modprobe fuse 2>/dev/null || true
