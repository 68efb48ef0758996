#!/bin/bash
# Stop the test cluster started by start.sh: only the processes recorded in
# its pid files, then unmount what start.sh mounted inside the root.
# A no-op when nothing is running.
#
# Usage: stop.sh [--keep-state]   (default: the cluster state is removed;
#                                  it is useless after a stop anyway since
#                                  the OSD keeps its data in memory)
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

keep=0
for a in "$@"; do
    case $a in
        --keep-state) keep=1 ;;
        -h|--help) sed -n '2,8p' "$0" >&2; exit 0 ;;
        *) die "unknown argument: $a" ;;
    esac
done

need_root
OBS_ROOT=$(root_path)  # read by in_root (lib.sh)
export OBS_ROOT
[ -d "$OBS_RUN" ] || exit 0
take_lock

t0=$(date +%s)
rm -f -- "$OBS_RUN/state/ready"
stopped=0
# radosgw needs 12-30 s to exit on SIGTERM (its dedup background thread
# is slow to stop); stop both in parallel.  The cluster state is thrown
# away anyway, so a SIGKILL after the grace time loses nothing.
rgw_wait=${OBSMOUNT_RGW_STOP_WAIT:-25}
for name in rgw.lax rgw.strict; do
    if [ -f "$(pidfile "$name")" ]; then
        stop_daemon "$name" radosgw "$rgw_wait" &
        stopped=1
    fi
done
wait
for d in osd.0:ceph-osd mon.a:ceph-mon; do
    if [ -f "$(pidfile "${d%%:*}")" ]; then
        stop_daemon "${d%%:*}" "${d#*:}" 20
        stopped=1
    fi
done

chroot_umount_all

if [ "$keep" = 0 ] && [ -d "$OBS_RUN/state" ]; then
    if [ -n "$(mounts_below "$OBS_RUN/state")" ]; then
        log "warning: something is mounted below $OBS_RUN/state, keeping it"
    else
        rm -rf --one-file-system -- "$OBS_RUN/state"
    fi
fi
if [ "$stopped" = 1 ]; then
    log "stopped in $(($(date +%s) - t0)) s"
fi
