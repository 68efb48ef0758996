#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Run the pytest suites that need the S3 test server (and FUSE). The server
# is started by the suites' fixtures (tests/server/start.sh) and reused.
set -eu
srcdir=${OBSMOUNT_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
py=${PYTHON3:-/usr/bin/python3}
if [ "$(id -u)" != 0 ] || [ ! -e /dev/fuse ]; then
	if [ "${CI:-}" = true ]; then
		echo "integration tests need root and /dev/fuse, and CI must not skip them" >&2
		exit 1
	fi
	echo "SKIP: integration tests need root and /dev/fuse" >&2
	exit 77
fi
cd "$srcdir/tests"
set -- server proxy s3layer integration
dirs=""
for d in "$@"; do
	[ -d "$d" ] && dirs="$dirs $d"
done
# shellcheck disable=SC2086
exec "$py" -m pytest -p no:cacheprovider -q -rfEs ${PYTEST_ARGS:-} $dirs
