#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Set everything up on a fresh Debian 12 machine (as root) and run every
# test: unit tests and the integration tests against a real Ceph RGW on
# loopback, mounting for real. The server is left running for reuse unless
# OBSMOUNT_STOP_SERVER=1.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tools/deps.sh"
BUILD_DIR=${BUILD_DIR:-$top/build} "$top/tools/build.sh" "$@"
cd "${BUILD_DIR:-$top/build}"
eval "$("$top/tests/server/start.sh")"
export OBSMOUNT_TEST_HTTP_URL
rc=0
make check VERBOSE=1 || rc=$?
if [ "${OBSMOUNT_STOP_SERVER:-0}" = 1 ]; then
	"$top/tests/server/stop.sh" || true
fi
exit $rc
