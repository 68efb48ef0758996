#!/bin/bash
# Build (or reuse) a Debian root holding Ceph (mon, osd, radosgw) used by the
# S3 test server.  The root is cached at $OBSMOUNT_RGW_ROOT
# (default /var/tmp/obsmount-rgw-root) and reused when complete.
#
# Usage: setup-root.sh [--force]
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

force=0
for a in "$@"; do
    case $a in
        --force) force=1 ;;
        -h|--help) sed -n '2,6p' "$0" >&2; exit 0 ;;
        *) die "unknown argument: $a" ;;
    esac
done

need_root
OBS_ROOT=$(root_path)
take_lock

if [ "$force" = 0 ] && root_complete; then
    log "root $OBS_ROOT is complete, reusing it"
    exit 0
fi

for t in debootstrap chroot mount; do
    command -v "$t" >/dev/null || die "$t not found (apt-get install debootstrap)"
done

# Find the Debian mirror the host uses for bookworm main.
find_mirror() {
    local f
    # one-line format
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '
            /^[ \t]*#/ { next }
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                uri = $(i); suite = $(i + 1)
                if (suite != "bookworm") next
                for (j = i + 2; j <= NF; j++) if ($j == "main") { print uri; exit }
            }' "$f"
    done
    # deb822 format
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && suites ~ /(^| )bookworm( |$)/ &&
                    comps ~ /(^| )main( |$)/ && enabled != "no") {
                    n = split(uris, u, " "); if (n > 0) print u[1]
                }
                types = suites = comps = uris = ""; enabled = "yes"
            }
            BEGIN { enabled = "yes" }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            {
                key = tolower($1); sub(/:$/, "", key)
                val = $0; sub(/^[^:]*:[ \t]*/, "", val)
                if (key == "types") types = val
                else if (key == "suites") suites = val
                else if (key == "components") comps = val
                else if (key == "uris") uris = val
                else if (key == "enabled") enabled = tolower(val)
            }
            END { flush() }' "$f"
    done
}

mirror=${OBSMOUNT_RGW_MIRROR:-}
if [ -z "$mirror" ]; then
    mirror=$(find_mirror | head -n1 || true)
fi
if [ -z "$mirror" ]; then
    mirror=http://deb.debian.org/debian
    log "no bookworm main mirror found in apt sources, falling back to $mirror"
fi
mirror=${mirror%/}
log "mirror: $mirror, suite: $OBS_SUITE"

script=/usr/share/debootstrap/scripts/sid
[ -f "$script" ] || die "$script missing (debootstrap too old?)"

# Never delete anything while something is mounted inside the old root.
chroot_umount_all
if [ -n "$(root_users)" ]; then
    die "refusing to rebuild $OBS_ROOT: processes run inside it: $(root_users | tr '\n' ' ')"
fi
if [ -n "$(mounts_below "$OBS_ROOT")" ]; then
    die "refusing to rebuild $OBS_ROOT: still mounted: $(mounts_below "$OBS_ROOT" | tr '\n' ' ')"
fi
if [ -e "$OBS_ROOT" ]; then
    log "removing incomplete/old root $OBS_ROOT"
    rm -rf --one-file-system -- "$OBS_ROOT"
fi

cleanup() {
    chroot_umount_all
}
trap cleanup EXIT

t0=$(date +%s)
log "debootstrap --variant=minbase $OBS_SUITE from $mirror (about a minute)"
debootstrap --variant=minbase "$OBS_SUITE" "$OBS_ROOT" "$mirror" "$script" \
    > "$OBS_ROOT.debootstrap.log" 2>&1 || {
    tail -n 30 "$OBS_ROOT.debootstrap.log" >&2
    die "debootstrap failed (log: $OBS_ROOT.debootstrap.log)"
}
rm -f -- "$OBS_ROOT.debootstrap.log"
t1=$(date +%s)
log "debootstrap done in $((t1 - t0)) s"

# apt configuration inside the root
cat > "$OBS_ROOT/etc/apt/apt.conf.d/99obsmount" <<'EOF'
Acquire::Check-Valid-Until "false";
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Dpkg::Options { "--force-confdef"; "--force-confold"; };
EOF
printf 'deb %s %s main\n' "$mirror" "$OBS_SUITE" > "$OBS_ROOT/etc/apt/sources.list"
# Never start services inside the root.
printf '#!/bin/sh\nexit 101\n' > "$OBS_ROOT/usr/sbin/policy-rc.d"
chmod 755 "$OBS_ROOT/usr/sbin/policy-rc.d"
in_root dpkg-divert --local --rename --add /usr/bin/systemctl >/dev/null
ln -sf /bin/true "$OBS_ROOT/usr/bin/systemctl"
# Resolver for apt inside the root.
cp -L /etc/resolv.conf "$OBS_ROOT/etc/resolv.conf" 2>/dev/null || true

mkdir -p -- "$OBS_RUN"
chroot_mount proc /proc
chroot_mount bind /dev /dev
chroot_mount sysfs /sys

log "apt-get update in root"
in_root apt-get update -q >&2 || die "apt-get update in root failed"
missing=
for p in $OBS_PACKAGES; do
    if ! in_root apt-cache show --no-all-versions "$p" >/dev/null 2>&1; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] || die "packages missing in $OBS_SUITE:$missing"

log "installing:$(printf ' %s' $OBS_PACKAGES) (about a minute)"
# The packages' own scripts print noise that looks like errors (for example
# dpkg-statoverride's): the output goes to a log, shown only on failure.
# shellcheck disable=SC2086
in_root apt-get install -y -q $OBS_PACKAGES > "$OBS_RUN/root-install.log" 2>&1 || {
    tail -n 40 "$OBS_RUN/root-install.log" >&2
    die "apt-get install in root failed (log: $OBS_RUN/root-install.log)"
}
in_root apt-get clean
t2=$(date +%s)
log "packages installed in $((t2 - t1)) s"

# Sanity check: the binaries we run later.
for b in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool openssl curl s3fs; do
    [ -x "$OBS_ROOT/usr/bin/$b" ] || die "/usr/bin/$b missing in root"
done
log "ceph version: $(in_root ceph --version 2>/dev/null || echo unknown)"

chroot_umount_all
trap - EXIT
printf '%s\n' "$OBS_ROOT_VERSION" > "$OBS_ROOT/$OBS_MARKER_NAME"
log "root ready at $OBS_ROOT ($(du -sh --one-file-system "$OBS_ROOT" | cut -f1), total $((t2 - t0)) s)"
