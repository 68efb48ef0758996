#!/bin/bash
# Run RGW garbage collection now, so that the memory of deleted or
# overwritten objects is given back (the OSD keeps all data in RAM).
#
# Usage: gc.sh
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

need_root
OBS_ROOT=$(root_path)  # read by in_root (lib.sh)
export OBS_ROOT
take_lock
[ -f "$OBS_RUN/state/ready" ] || die "server is not running (tests/server/start.sh)"
in_root timeout 600 radosgw-admin -c "$OBS_IN_STATE/ceph.conf" \
    gc process --include-all >&2 || die "radosgw-admin gc process failed"
