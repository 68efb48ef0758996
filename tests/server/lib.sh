# Shared helpers for the RGW test server scripts.  Sourced, not executed.
# shellcheck shell=bash disable=SC2034
# (the variables here are read by the scripts that source this file)

OBS_ROOT=${OBSMOUNT_RGW_ROOT:-/var/tmp/obsmount-rgw-root}
OBS_RUN=${OBSMOUNT_RGW_RUN:-/var/tmp/obsmount-rgw-run}
OBS_SUITE=${OBSMOUNT_RGW_SUITE:-forky}
OBS_MARKER_NAME=.obsmount-root-complete
# Bump when the package set or the in-root configuration changes, so that
# an older cached root is rebuilt instead of reused.
OBS_ROOT_VERSION=1
OBS_PACKAGES="radosgw ceph-mon ceph-osd ceph-common curl ca-certificates openssl s3fs"

# Inside the root, everything of one cluster lives below this directory.
# It is a bind mount of $OBS_RUN/state so that the run dir is the single
# place holding state, logs and pid files.
OBS_IN_STATE=/obsmount

OBS_ACCESS_KEY=OBSMOUNTTESTACCESS01
OBS_SECRET_KEY=obsmount-test-secret-key-0123456789abcdef
OBS_REGION=us-east-1
OBS_KMS_KEY1=testkey-1
OBS_KMS_KEY2=testkey-2
# 32 random bytes each, base64; fixed so that objects written in one run
# could still be decrypted by a later run using the same keys.
OBS_KMS_KEY1_B64=HUIkvT5MDFZmrybpmUoMHnIUDN09sGS3QTZML/DlpVA=
OBS_KMS_KEY2_B64=izygcBKpjSfZhXwjysMDaK3WBwVgruBLbmwIGHG97h4=

OBS_STRICT_HTTP=${OBSMOUNT_RGW_STRICT_HTTP_PORT:-18080}
OBS_STRICT_HTTPS=${OBSMOUNT_RGW_STRICT_HTTPS_PORT:-18443}
OBS_LAX_HTTP=${OBSMOUNT_RGW_LAX_HTTP_PORT:-18090}
OBS_LAX_HTTPS=${OBSMOUNT_RGW_LAX_HTTPS_PORT:-18453}
OBS_MON_PORT=${OBSMOUNT_RGW_MON_PORT:-6789}

log() { printf '[obsmount-rgw] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

need_root() {
    [ "$(id -u)" = 0 ] || die "must run as root (needs chroot and mount)"
}

# Canonical absolute path of the root (it may not exist yet).
root_path() {
    local d
    d=$(dirname -- "$OBS_ROOT")
    mkdir -p -- "$d"
    printf '%s/%s\n' "$(cd -- "$d" && pwd -P)" "$(basename -- "$OBS_ROOT")"
}

root_complete() {
    [ -f "$OBS_ROOT/$OBS_MARKER_NAME" ] &&
        [ "$(cat "$OBS_ROOT/$OBS_MARKER_NAME" 2>/dev/null)" = "$OBS_ROOT_VERSION" ]
}

# Mount points at or below $1 (deepest first).
mounts_below() {
    local base=$1
    awk -v b="$base" '{
        t = $2; gsub(/\\040/, " ", t)
        if (t == b || index(t, b "/") == 1) print t
    }' /proc/self/mounts | sort -r
}

# Bind/proc mounts we make inside the root; recorded so that stop.sh
# unmounts exactly these and nothing else.
mount_list_file() { printf '%s/mounts\n' "$OBS_RUN"; }

# A root serves one cluster at a time (its state is mounted at a fixed
# place inside).  The run dir of the cluster using it is written here.
owner_file() { printf '%s/.obsmount-owner\n' "$OBS_ROOT"; }
root_owner() { cat -- "$(owner_file)" 2>/dev/null || true; }

# Pids of processes whose root directory is our root.
root_users() {
    local p r
    for p in /proc/[0-9]*; do
        r=$(readlink "$p/root" 2>/dev/null) || continue
        [ "$r" = "$OBS_ROOT" ] && printf '%s\n' "${p#/proc/}"
    done
    return 0
}

# Die unless the root is free for the cluster of our run dir (call after
# our own daemons are stopped), then claim it.
claim_root() {
    local owner users mounts
    owner=$(root_owner)
    users=$(root_users | tr '\n' ' ')
    mounts=$(mounts_below "$OBS_ROOT" | tr '\n' ' ')
    if [ -n "$users$mounts" ] && [ "$owner" != "$OBS_RUN" ]; then
        die "root $OBS_ROOT is in use by another cluster (run dir:" \
            "${owner:-unknown}; pids: ${users:-none}; mounts: ${mounts:-none})." \
            "Stop it, or use another OBSMOUNT_RGW_ROOT (a copy made with" \
            "cp -a works) together with another OBSMOUNT_RGW_RUN and ports."
    fi
    printf '%s\n' "$OBS_RUN" > "$(owner_file)"
}

chroot_mount() {
    # chroot_mount KIND TARGET-IN-ROOT [SOURCE]
    local kind=$1 rel=$2 src=${3:-} tgt
    tgt="$OBS_ROOT$rel"
    mkdir -p -- "$tgt"
    if mountpoint -q -- "$tgt"; then
        die "$tgt is already mounted (root used by someone else?)"
    fi
    mkdir -p -- "$OBS_RUN"
    case $kind in
        proc) mount -t proc proc "$tgt" ;;
        sysfs) mount -t sysfs sysfs "$tgt" ;;
        devpts) mount -t devpts -o newinstance,ptmxmode=0666 devpts "$tgt" ;;
        bind) mount --bind "$src" "$tgt" ;;
        *) die "unknown mount kind $kind" ;;
    esac || die "mounting $tgt failed"
    printf '%s\n' "$tgt" >> "$(mount_list_file)"
}

# Unmount what we recorded (reverse order).  Then, only if the root is
# ours (or nobody's) and no process runs inside it any more, also our
# well-known mount points, in case the record got lost.
chroot_umount_all() {
    local f t owner
    f=$(mount_list_file)
    if [ -f "$f" ]; then
        tac -- "$f" | while IFS= read -r t; do
            [ -n "$t" ] || continue
            if mountpoint -q -- "$t"; then
                umount -- "$t" 2>/dev/null || umount -l -- "$t" ||
                    log "warning: could not unmount $t"
            fi
        done
        rm -f -- "$f"
    fi
    owner=$(root_owner)
    if [ -n "$owner" ] && [ "$owner" != "$OBS_RUN" ]; then
        return 0
    fi
    if [ -n "$(root_users)" ]; then
        return 0
    fi
    for t in "$OBS_ROOT$OBS_IN_STATE" "$OBS_ROOT/dev/pts" "$OBS_ROOT/dev" \
             "$OBS_ROOT/sys" "$OBS_ROOT/proc"; do
        if mountpoint -q -- "$t" 2>/dev/null; then
            umount -- "$t" 2>/dev/null || umount -l -- "$t" ||
                log "warning: could not unmount $t"
        fi
    done
    rm -f -- "$(owner_file)"
}

# Run a command inside the root with a clean environment.
in_root() {
    chroot "$OBS_ROOT" /usr/bin/env -i \
        PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive "$@"
}

# Is pid $1 alive and running program $2 inside our root?  Looks at every
# thread: when a daemon shuts down its main thread may exit first, and then
# /proc/PID/root and /proc/PID/exe of the leader are no longer readable
# although the process still runs.
pid_is_ours() {
    local pid=$1 prog=$2 t r exe
    case $pid in ''|*[!0-9]*) return 1 ;; esac
    [ -d "/proc/$pid" ] || return 1
    for t in /proc/"$pid"/task/*; do
        r=$(readlink "$t/root" 2>/dev/null) || continue
        [ "$r" = "$OBS_ROOT" ] || return 1
        exe=$(readlink "$t/exe" 2>/dev/null) || continue
        case $exe in
            */"$prog"|*/"$prog"" (deleted)") return 0 ;;
        esac
        return 1
    done
    return 1
}

pid_exists() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

pidfile() { printf '%s/pids/%s.pid\n' "$OBS_RUN" "$1"; }

# Stop one recorded daemon: SIGTERM, wait up to $3 seconds, then SIGKILL,
# then wait until the process is really gone.
stop_daemon() {
    local name=$1 prog=$2 wait_s=${3:-25} pf pid i
    pf=$(pidfile "$name")
    [ -f "$pf" ] || return 0
    pid=$(cat -- "$pf")
    if ! pid_is_ours "$pid" "$prog"; then
        rm -f -- "$pf"
        return 0
    fi
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    i=0
    while pid_exists "$pid" && [ "$i" -lt $((wait_s * 5)) ]; do
        sleep 0.2
        i=$((i + 1))
    done
    if pid_exists "$pid"; then
        log "$name did not exit after ${wait_s}s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        i=0
        while pid_exists "$pid" && [ "$i" -lt 100 ]; do
            sleep 0.2
            i=$((i + 1))
        done
        pid_exists "$pid" && log "warning: $name (pid $pid) still exists"
    fi
    rm -f -- "$pf"
}

# Serialize start/stop/gc, also between copies using other roots or run
# dirs: concurrent runs would trample each other's state or race for the
# ports.  Nested calls (start.sh runs stop.sh) inherit the lock.
OBS_LOCK=${OBSMOUNT_RGW_LOCK:-/var/tmp/obsmount-rgw.lock}
take_lock() {
    [ "${OBSMOUNT_RGW_LOCKED:-}" = 1 ] && return 0
    exec 9>"$OBS_LOCK"
    if ! flock -w "${OBSMOUNT_RGW_LOCK_WAIT:-600}" 9; then
        die "another start/stop is still running (lock $OBS_LOCK)"
    fi
    export OBSMOUNT_RGW_LOCKED=1
}

print_exports() {
    local ca="$OBS_RUN/state/tls/cert.pem" v
    for v in \
        "OBSMOUNT_TEST_HTTP_URL=http://127.0.0.1:$OBS_STRICT_HTTP" \
        "OBSMOUNT_TEST_HTTPS_URL=https://127.0.0.1:$OBS_STRICT_HTTPS" \
        "OBSMOUNT_TEST_LAX_HTTP_URL=http://127.0.0.1:$OBS_LAX_HTTP" \
        "OBSMOUNT_TEST_LAX_HTTPS_URL=https://127.0.0.1:$OBS_LAX_HTTPS" \
        "OBSMOUNT_TEST_ACCESS_KEY=$OBS_ACCESS_KEY" \
        "OBSMOUNT_TEST_SECRET_KEY=$OBS_SECRET_KEY" \
        "OBSMOUNT_TEST_CA=$ca" \
        "OBSMOUNT_TEST_REGION=$OBS_REGION" \
        "OBSMOUNT_TEST_KMS_KEY1=$OBS_KMS_KEY1" \
        "OBSMOUNT_TEST_KMS_KEY2=$OBS_KMS_KEY2" \
        "OBSMOUNT_TEST_RGW_ROOT=$OBS_ROOT"; do
        printf 'export %s=%q\n' "${v%%=*}" "${v#*=}"
    done
}
