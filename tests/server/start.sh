#!/bin/bash
# Start a single-node Ceph cluster (one mon, one memstore OSD) with two
# radosgw instances on 127.0.0.1, inside the cached root (see setup-root.sh).
# Prints shell exports on stdout, everything else goes to stderr:
#
#     eval "$(tests/server/start.sh)"
#
# If the server is already running, only the exports are printed.
# start.sh --status: print the exports if running, else exit with status 3.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

status_only=0
for a in "$@"; do
    case $a in
        --status) status_only=1 ;;
        -h|--help) sed -n '2,12p' "$0" >&2; exit 0 ;;
        *) die "unknown argument: $a" ;;
    esac
done

need_root
OBS_ROOT=$(root_path)
take_lock
export OBSMOUNT_RGW_ROOT=$OBS_ROOT OBSMOUNT_RGW_RUN=$OBS_RUN

WAIT_S=${OBSMOUNT_RGW_WAIT:-60}
CONF=$OBS_IN_STATE/ceph.conf
DAEMONS="mon.a:ceph-mon osd.0:ceph-osd rgw.strict:radosgw rgw.lax:radosgw"

port_open() {
    # port_open PORT: something accepts TCP connections on 127.0.0.1:PORT
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

all_running() {
    local d
    for d in $DAEMONS; do
        pid_is_ours "$(cat "$(pidfile "${d%%:*}")" 2>/dev/null)" "${d#*:}" || return 1
    done
    for p in "$OBS_STRICT_HTTP" "$OBS_STRICT_HTTPS" "$OBS_LAX_HTTP" "$OBS_LAX_HTTPS"; do
        port_open "$p" || return 1
    done
    # Same root and ports as this call asks for?  (A cluster started by an
    # older version of this script has no config file.)
    [ -f "$OBS_RUN/state/ready" ] || return 1
    [ ! -f "$OBS_RUN/state/config" ] ||
        [ "$(cat "$OBS_RUN/state/config")" = "$(config_id)" ]
}

# What identifies the cluster a call asks for.
config_id() {
    printf '%s %s %s %s %s %s\n' "$OBS_ROOT" "$OBS_MON_PORT" \
        "$OBS_STRICT_HTTP" "$OBS_STRICT_HTTPS" "$OBS_LAX_HTTP" "$OBS_LAX_HTTPS"
}

if root_complete && all_running; then
    log "already running"
    print_exports
    exit 0
fi
if [ "$status_only" = 1 ]; then
    log "not running"
    exit 3
fi

"$here/setup-root.sh" >&2

# Clean up whatever is left of an earlier, partial run.
"$here/stop.sh" >&2

for p in "$OBS_MON_PORT" "$OBS_STRICT_HTTP" "$OBS_STRICT_HTTPS" "$OBS_LAX_HTTP" "$OBS_LAX_HTTPS"; do
    if port_open "$p"; then
        die "port $p on 127.0.0.1 is already in use by another program"
    fi
done

t_start=$(date +%s)
state=$OBS_RUN/state
# $state is never a mount point itself (only its bind target is).
rm -rf --one-file-system -- "$state"
mkdir -p -- "$state"/{mon/a,osd/0,log,tls,run,rgw/rgw.strict,rgw/rgw.lax} "$OBS_RUN/pids"

failed=1
on_exit() {
    if [ "$failed" = 1 ]; then
        log "start failed; last log lines:"
        for f in "$state"/log/*.log "$state"/log/*.out; do
            [ -f "$f" ] || continue
            printf '==> %s <==\n' "$f" >&2
            tail -n 15 -- "$f" >&2
        done
        "$here/stop.sh" --keep-state >&2 || true
        log "logs kept in $state/log"
    fi
}
trap on_exit EXIT

claim_root
chroot_mount proc /proc
chroot_mount bind /dev /dev
chroot_mount sysfs /sys
chroot_mount bind "$OBS_IN_STATE" "$state"

fsid=$(cat /proc/sys/kernel/random/uuid)
kms_keys="$OBS_KMS_KEY1=$OBS_KMS_KEY1_B64 $OBS_KMS_KEY2=$OBS_KMS_KEY2_B64"
tls=$OBS_IN_STATE/tls

cat > "$state/ceph.conf" <<EOF
[global]
fsid = $fsid
mon initial members = a
mon host = [v1:127.0.0.1:$OBS_MON_PORT]
public addr = 127.0.0.1
ms bind msgr2 = false
ms mon client mode = crc secure
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
keyring = $OBS_IN_STATE/keyring
run dir = $OBS_IN_STATE/run
admin socket = $OBS_IN_STATE/run/\$name.asok
log file = $OBS_IN_STATE/log/\$name.log
log to stderr = false
err to stderr = true
crash dir = $OBS_IN_STATE/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000

[mon]
mon data = $OBS_IN_STATE/mon/\$id
mon data avail warn = 1
mon data avail crit = 0

[osd]
osd data = $OBS_IN_STATE/osd/\$id
osd objectstore = memstore
memstore device bytes = 8589934592
osd fast shutdown = false
# The crush location is set by start.sh before the OSD starts: the OSD's
# own update at start sometimes races with its first monmap and then
# fails with "wrong fsid", which kills the OSD.
osd crush update on start = false
osd class update on start = false

[client]
rgw data = $OBS_IN_STATE/rgw/\$name
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = $kms_keys
rgw gc obj min wait = 10
rgw gc processor period = 10
rgw gc processor max time = 10
rgw enable usage log = false

[client.rgw.strict]
rgw frontends = beast endpoint=127.0.0.1:$OBS_STRICT_HTTP ssl_endpoint=127.0.0.1:$OBS_STRICT_HTTPS ssl_certificate=$tls/cert.pem ssl_private_key=$tls/key.pem
rgw crypt require ssl = true

[client.rgw.lax]
rgw frontends = beast endpoint=127.0.0.1:$OBS_LAX_HTTP ssl_endpoint=127.0.0.1:$OBS_LAX_HTTPS ssl_certificate=$tls/cert.pem ssl_private_key=$tls/key.pem
rgw crypt require ssl = false
EOF
: > "$state/keyring"
mkdir -p -- "$state/crash"

log "creating self-signed certificate"
in_root openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
    -subj /CN=localhost \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -keyout "$tls/key.pem" -out "$tls/cert.pem" \
    > "$state/log/openssl.out" 2>&1 || die "openssl failed"

ceph_cmd() {
    in_root timeout 30 ceph -c "$CONF" --connect-timeout 10 "$@"
}

# start_daemon NAME PROG ARGS...: start in the foreground under setsid,
# record the pid (chroot and env exec, so it is the daemon's pid).
start_daemon() {
    local name=$1 prog=$2 pid
    shift 2
    setsid chroot "$OBS_ROOT" /usr/bin/env -i \
        PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        "/usr/bin/$prog" -f -c "$CONF" "$@" \
        < /dev/null > "$state/log/$name.out" 2>&1 9>&- &
    pid=$!
    printf '%s\n' "$pid" > "$(pidfile "$name")"
    # setsid, chroot and env exec one after the other: wait until the pid
    # is the daemon itself, inside the root.
    local i=0
    until pid_is_ours "$pid" "$prog"; do
        if ! kill -0 "$pid" 2>/dev/null || [ "$i" -ge 100 ]; then
            die "$name did not start"
        fi
        sleep 0.1
        i=$((i + 1))
    done
    log "started $name (pid $pid)"
}

# wait_for DESC SECONDS CMD...: retry CMD until it succeeds (CMD itself
# must keep quiet; its errors are not hidden so that die() is seen).
wait_for() {
    local desc=$1 secs=$2 t_end
    shift 2
    t_end=$(($(date +%s) + secs))
    until "$@"; do
        if [ "$(date +%s)" -ge "$t_end" ]; then
            die "timed out after ${secs}s waiting for $desc"
        fi
        sleep 0.5
    done
}

check_alive() {
    local name=$1 prog=$2
    pid_is_ours "$(cat "$(pidfile "$name")" 2>/dev/null)" "$prog" ||
        die "$name exited unexpectedly"
}

log "creating monitor"
in_root monmaptool --create --clobber --fsid "$fsid" \
    --addv a "[v1:127.0.0.1:$OBS_MON_PORT]" "$OBS_IN_STATE/monmap" \
    > "$state/log/monmaptool.out" 2>&1 || die "monmaptool failed"
in_root ceph-mon -c "$CONF" --mkfs -i a --monmap "$OBS_IN_STATE/monmap" \
    > "$state/log/mon-mkfs.out" 2>&1 || die "ceph-mon --mkfs failed"
start_daemon mon.a ceph-mon -i a
mon_up() { check_alive mon.a ceph-mon && ceph_cmd mon stat >/dev/null 2>&1; }
wait_for "the monitor" "$WAIT_S" mon_up

log "creating OSD"
osd_uuid=$(cat /proc/sys/kernel/random/uuid)
osd_id=$(ceph_cmd osd new "$osd_uuid" 2>"$state/log/osd-new.out") ||
    die "ceph osd new failed"
[ "$osd_id" = 0 ] || die "unexpected osd id '$osd_id'"
in_root ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" \
    > "$state/log/osd-mkfs.out" 2>&1 || die "ceph-osd --mkfs failed"
ceph_cmd osd crush add osd.0 1.0 host=localhost root=default \
    > "$state/log/osd-crush.out" 2>&1 || die "ceph osd crush add failed"
osd_up() {
    check_alive osd.0 ceph-osd &&
        ceph_cmd osd dump 2>/dev/null | grep -E '^osd\.0 up +in ' >/dev/null
}
# Should the OSD still die during its start, try again (twice at most).
for attempt in 1 2 3; do
    start_daemon osd.0 ceph-osd -i 0
    if [ "$attempt" = 3 ]; then
        wait_for "the OSD to come up" "$WAIT_S" osd_up
    elif ! (wait_for "the OSD to come up" "$WAIT_S" osd_up); then
        log "OSD start failed (attempt $attempt), retrying"
        stop_daemon osd.0 ceph-osd 20
        mv -f -- "$state/log/osd.0.out" "$state/log/osd.0.out.$attempt"
        continue
    fi
    break
done

rgw_up() {
    local name=$1 port=$2
    check_alive "$name" radosgw &&
        in_root curl -s -o /dev/null --max-time 3 "http://127.0.0.1:$port/"
}
# Create realm, zone group and zone ourselves so that the zone group's API
# name is the region clients use: a LocationConstraint of $OBS_REGION is
# then accepted and GetBucketLocation answers it (RGW's implicit default
# zone group would be called "default").  V4 signatures are accepted with
# any region either way.
log "creating zone group (api name $OBS_REGION) and zone"
rgw_admin() {
    in_root timeout 60 radosgw-admin -c "$CONF" "$@" \
        >> "$state/log/rgw-admin.out" 2>&1 || die "radosgw-admin $* failed"
}
rgw_admin realm create --rgw-realm obsmount --default
rgw_admin zonegroup create --rgw-zonegroup default --api-name "$OBS_REGION" \
    --master --default
rgw_admin zone create --rgw-zonegroup default --rgw-zone default \
    --master --default
rgw_admin period update --commit

# The first radosgw creates the zone's pools; start the second one only
# when the first answers, to avoid racing on that.
start_daemon rgw.strict radosgw -n client.rgw.strict
wait_for "radosgw (strict) on port $OBS_STRICT_HTTP" "$WAIT_S" rgw_up rgw.strict "$OBS_STRICT_HTTP"
start_daemon rgw.lax radosgw -n client.rgw.lax
wait_for "radosgw (lax) on port $OBS_LAX_HTTP" "$WAIT_S" rgw_up rgw.lax "$OBS_LAX_HTTP"
for p in "$OBS_STRICT_HTTPS" "$OBS_LAX_HTTPS"; do
    wait_for "HTTPS port $p" 20 port_open "$p"
done

log "creating test user"
in_root timeout 60 radosgw-admin -c "$CONF" user create \
    --uid obsmount-test --display-name "obsmount test user" \
    --access-key "$OBS_ACCESS_KEY" --secret-key "$OBS_SECRET_KEY" \
    --max-buckets 10000 > "$state/log/user-create.out" 2>&1 ||
    die "radosgw-admin user create failed"

config_id > "$state/config"
date +%s > "$state/ready"
failed=0
log "ready in $(($(date +%s) - t_start)) s"
print_exports
