#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Scale benchmark (not a test): how obsmount's cost grows with the size of
# the work, beside a raw client where one does the same.  Each row runs at
# several sizes, so the cost per item can be compared between them:
#
#   - `ls -l` of a directory of N objects, cold (fresh mount, drop_caches)
#     and again at once (warm, within dir_ttl);
#   - N files open at once: create and open all, write 4 KiB to each, close
#     all;
#   - one big file: `dd bs=1M conv=fsync` into the mount, then after a
#     remount and drop_caches `cat` back (checksum compared).
#
# For each: seconds, requests the daemon sent (its own counters, logged on
# SIGUSR1), the daemon's CPU time and its peak RSS (VmHWM).  Prints a
# markdown table.
#
#   eval "$(tests/server/start.sh)"
#   tests/bench/scale-bench.sh [BUILD_DIR]
#
# Needs root (FUSE mounts, drop_caches).
#
# Environment:
#   SCALE_LIST     directory sizes to list (default "10000 100000")
#   SCALE_OPEN     numbers of files open at once (default "1000 10000")
#   SCALE_BIG_MIB  size of the big file in MiB (default 10240; it takes
#                  minutes, and the server keeps it in RAM until deleted:
#                  the test server's memstore holds 8 GiB, so there 10240
#                  fails with ENOSPC and at most about 6144 fits)
#   SCALE_ROWS     rows to run (default "list open big")
#   SCALE_BUCKET   use this bucket and keep it: the list directories are
#                  filled only when they hold fewer objects than asked, so a
#                  second run skips the upload of 100,000 objects
#   BENCH_HTTPS=1  talk HTTPS to the server (default plain HTTP)
#   BENCH_TIMEOUT  limit of one step in seconds (default 1800)
#   OBSMOUNT       the obsmount binary (default BUILD_DIR/obsmount)
set -uo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
src=$(cd -- "$here/../.." && pwd)
build=${1:-}

die() { echo "scale-bench.sh: $*" >&2; exit 2; }
log() { echo "[scale-bench] $*" >&2; }

: "${OBSMOUNT_TEST_HTTP_URL:?run eval \"\$(tests/server/start.sh)\" first}"
[ "$(id -u)" = 0 ] || die "needs root"

obsmount=${OBSMOUNT:-}
if [ -z "$obsmount" ]; then
	for c in ${build:+"$build/obsmount"} "$src"/build*/obsmount; do
		if [ -x "$c" ]; then obsmount=$c; break; fi
	done
fi
[ -n "$obsmount" ] && [ -x "$obsmount" ] || die "build obsmount first (or set OBSMOUNT)"

list_sizes=${SCALE_LIST:-10000 100000}
open_sizes=${SCALE_OPEN:-1000 10000}
big_mib=${SCALE_BIG_MIB:-10240}
rows=${SCALE_ROWS:-list open big}
tmo=${BENCH_TIMEOUT:-1800}
ak=$OBSMOUNT_TEST_ACCESS_KEY
sk=$OBSMOUNT_TEST_SECRET_KEY
region=${OBSMOUNT_TEST_REGION:-us-east-1}
ca=${OBSMOUNT_TEST_CA:-}
if [ "${BENCH_HTTPS:-0}" = 1 ]; then url=$OBSMOUNT_TEST_HTTPS_URL; else url=$OBSMOUNT_TEST_HTTP_URL; fi
keep_bucket=0
if [ -n "${SCALE_BUCKET:-}" ]; then
	bucket=$SCALE_BUCKET
	keep_bucket=1
else
	bucket=scalebench-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
fi
max_open=0
for n in $open_sizes; do [ "$n" -gt "$max_open" ] && max_open=$n; done
ulimit -n $((max_open + 1024)) 2>/dev/null || die "cannot raise the open file limit to $((max_open + 1024))"

work=$(mktemp -d)
dpid=""
mnt=$work/mnt
mkdir -p "$mnt"

cleanup() {
	mountpoint -q "$mnt" 2>/dev/null && { fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null; }
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null
	if [ -n "${helper_ok:-}" ]; then
		if [ "$keep_bucket" = 1 ]; then
			timeout 600 python3 "$work/h.py" delprefix "$bucket" open/ >/dev/null 2>&1
			timeout 600 python3 "$work/h.py" delprefix "$bucket" big >/dev/null 2>&1
		else
			timeout 1200 python3 "$work/h.py" rb "$bucket" >/dev/null 2>&1
		fi
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helper
cat >"$work/h.py" <<'EOF'
import html, os, sys, time, threading
sys.path.insert(0, os.environ["S3C_DIR"])
import s3c

def client():
    return s3c.S3Client(os.environ["B_URL"], os.environ["B_AK"],
                        os.environ["B_SK"], region=os.environ["B_REGION"],
                        ca=os.environ.get("B_CA") or None)

def parallel(fn, items, threads=8):
    items = list(items)
    errs = []
    def run(i):
        c = client()
        for it in items[i::threads]:
            try:
                fn(c, it)
            except Exception as e:
                errs.append(e)
    ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in ts: t.start()
    for t in ts: t.join()
    if errs:
        raise errs[0]

def main():
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "mb":
        c = client()
        if c.request("HEAD", a[0]).status != 200:
            c.create_bucket(a[0])
    elif cmd == "rb":
        c = client()
        keys, _ = c.list_objects(a[0])
        parallel(lambda c, k: c.delete_object(a[0], k), keys)
        c.delete_bucket_recursive(a[0])
    elif cmd == "count":            # count BUCKET PREFIX: objects below it
        keys, _ = client().list_objects(a[0], prefix=a[1])
        print(len(keys))
    elif cmd == "fill":             # fill BUCKET DIR N: DIR/ marker + N objects
        b, d, n = a[0], a[1], int(a[2])
        client().put_object(b, d + "/", b"",
                            headers={"Content-Type": "application/x-directory"})
        data = b"x" * 100
        parallel(lambda c, i: c.put_object(b, "%s/f%07d" % (d, i), data), range(n))
    elif cmd == "delprefix":
        c = client()
        keys, _ = c.list_objects(a[0], prefix=a[1])
        parallel(lambda c, k: c.delete_object(a[0], k), keys)
    elif cmd == "rawlist":          # rawlist BUCKET PREFIX N: seconds pages
        c = client()
        pages = 0
        token = None
        n = 0
        t0 = time.time()
        while True:
            q = {"list-type": "2", "prefix": a[1], "delimiter": "/", "max-keys": "1000"}
            if token:
                q["continuation-token"] = token
            r = c.request("GET", a[0], query=q)
            pages += 1
            body = r.body.decode()
            n += body.count("<Key>")
            if "<IsTruncated>true</IsTruncated>" not in body:
                break
            token = html.unescape(body.split("<NextContinuationToken>")[1].split("<")[0])
        dt = time.time() - t0
        if n < int(a[2]):
            sys.exit(1)
        print("%.2f %d" % (dt, pages))
    elif cmd == "rawputs":          # rawputs BUCKET PREFIX N SIZE: seconds
        c = client()
        b, p, n, data = a[0], a[1], int(a[2]), os.urandom(int(a[3]))
        t0 = time.time()
        for i in range(n):
            c.put_object(b, "%s/c%06d" % (p, i), data)
        print("%.2f" % (time.time() - t0))
    elif cmd == "opens":            # opens DIR N SIZE: seconds (all, open, write, close)
        d, n, data = a[0], int(a[1]), os.urandom(int(a[2]))
        t0 = time.time()
        fds = [os.open("%s/c%06d" % (d, i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
               for i in range(n)]
        t1 = time.time()
        for fd in fds:
            os.write(fd, data)
        t2 = time.time()
        for fd in fds:
            os.close(fd)
        t3 = time.time()
        print("%.2f %.2f %.2f %.2f" % (t3 - t0, t1 - t0, t2 - t1, t3 - t2))
    else:
        sys.exit("unknown command " + cmd)

main()
EOF
export S3C_DIR=$src/tests/server B_URL=$url B_AK=$ak B_SK=$sk B_REGION=$region B_CA=$ca
h() { timeout "$tmo" python3 "$work/h.py" "$@"; }
now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
gc() { timeout 600 "$src/tests/server/gc.sh" >/dev/null 2>&1 || log "gc.sh failed"; }

# The byte stream of the big file: fast, incompressible, the same every time.
gen() {
	openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f \
		-iv 00000000000000000000000000000000 </dev/zero 2>/dev/null | head -c $(($1 * 1048576))
}

printf '%s:%s\n' "$ak" "$sk" >"$work/passwd"
chmod 600 "$work/passwd"
case $url in https://*) obs_https="" ;; *) obs_https=",https_url=$OBSMOUNT_TEST_HTTPS_URL" ;; esac

mount_obs() {
	: >"$work/obsmount.log"
	"$obsmount" "$bucket" "$mnt" -f -o "url=$url$obs_https${ca:+,cafile=$ca},region=$region,passwd_file=$work/passwd,part_size=16,parallel=8" \
		>>"$work/obsmount.log" 2>&1 &
	dpid=$!
	for _ in $(seq 200); do
		mountpoint -q "$mnt" && return 0
		kill -0 "$dpid" 2>/dev/null || break
		sleep 0.1
	done
	log "mount failed: $(tail -3 "$work/obsmount.log")"
	return 1
}

umount_obs() {
	fusermount3 -u "$mnt" 2>/dev/null || { sleep 1; fusermount3 -u "$mnt" 2>/dev/null; } ||
		fusermount3 -u -z "$mnt" 2>/dev/null
	for _ in $(seq 600); do
		kill -0 "$dpid" 2>/dev/null || { dpid=""; return 0; }
		sleep 0.1
	done
	log "daemon $dpid did not exit; killing it"
	kill "$dpid" 2>/dev/null
	dpid=""
}

tck=$(getconf CLK_TCK)
# CPU seconds (user + system) the daemon has used so far.
cpu() { awk -v t="$tck" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$dpid/stat" 2>/dev/null || echo 0; }
cpu_since() { calc "round($(cpu) - $1, 2)"; }

hwm_mib() { awk '/^VmHWM/ { printf "%d", $2 / 1024 }' "/proc/$dpid/status" 2>/dev/null || echo "?"; }

# Requests the daemon has sent so far (its SIGUSR1 stats line).
requests() {
	local before n
	before=$(grep -c 'stats: transfers:' "$work/obsmount.log")
	kill -USR1 "$dpid" 2>/dev/null || { echo "?"; return; }
	for _ in $(seq 50); do
		n=$(grep -c 'stats: transfers:' "$work/obsmount.log")
		[ "$n" -gt "$before" ] && break
		sleep 0.1
	done
	grep 'stats: transfers:' "$work/obsmount.log" | tail -1 | sed -n 's/.* requests=\([0-9]*\).*/\1/p'
}

# Results: R[row] = markdown cells
declare -a table=()
row() { table+=("| $* |"); log "$*"; }
per() { calc "round(($1) * 1e6 / $2)" 2>/dev/null || echo "?"; }   # seconds per item, in µs

h mb "$bucket" || die "cannot create bucket $bucket at $url"
helper_ok=1
log "bucket $bucket at $url"

# ---------------------------------------------------------------- ls -l
bench_list() {
	local n d have raw pages t0 t1 q0 q1 q2 c0 c1 c2 lines cold warm rc rw
	for n in $list_sizes; do
		d=list$n
		have=$(h count "$bucket" "$d/f") || have=0
		if [ "$have" -lt "$n" ]; then
			log "filling $d/ with $n objects (8 threads)"
			t0=$(now)
			h fill "$bucket" "$d" "$n" || { row "\`ls -l\` $n | fill failed | | | | |"; continue; }
			log "filled in $(calc "round($(now) - $t0)") s"
		fi
		if read -r raw pages < <(h rawlist "$bucket" "$d/" "$n"); then :; else raw=fail pages="?"; fi
		drop_caches
		mount_obs || { row "\`ls -l\` $n | mount failed | | | | |"; continue; }
		q0=$(requests)
		c0=$(cpu)
		t0=$(now)
		lines=$(timeout "$tmo" ls -l "$mnt/$d" | wc -l)
		t1=$(now)
		c1=$(cpu)
		q1=$(requests)
		cold=$(calc "round($t1 - $t0, 2)")
		[ "$lines" -eq $((n + 1)) ] || cold="fail ($lines lines)"
		rc=$(hwm_mib)
		c1=$(cpu)
		t0=$(now)
		lines=$(timeout "$tmo" ls -l "$mnt/$d" | wc -l)
		t1=$(now)
		c2=$(cpu)
		q2=$(requests)
		warm=$(calc "round($t1 - $t0, 2)")
		[ "$lines" -eq $((n + 1)) ] || warm="fail ($lines lines)"
		rw=$(hwm_mib)
		umount_obs
		row "\`ls -l\` of $n objects, cold | $cold s ($(per "$cold" "$n") µs/entry) | $((q1 - q0)) | $(calc "round($c1 - $c0, 2)") | $rc | s3c: $raw s, $pages LIST"
		row "the same again at once (warm) | $warm s ($(per "$warm" "$n") µs/entry) | $((q2 - q1)) | $(calc "round($c2 - $c1, 2)") | $rw | –"
	done
}

# ---------------------------------------------------------------- open files
bench_open() {
	local n t q0 q1 c0 rss out all o w c raw
	for n in $open_sizes; do
		h delprefix "$bucket" open/ >/dev/null
		drop_caches
		mount_obs || { row "$n files open at once | mount failed | | | | |"; continue; }
		mkdir "$mnt/open"
		q0=$(requests)
		c0=$(cpu)
		if out=$(timeout "$tmo" python3 "$work/h.py" opens "$mnt/open" "$n" 4096); then
			read -r all o w c <<<"$out"
			t="$all s ($(per "$all" "$n") µs/file; open $o, write $w, close $c)"
		else
			t=fail
		fi
		c0=$(cpu_since "$c0")
		q1=$(requests)
		rss=$(hwm_mib)
		umount_obs
		raw=$(h rawputs "$bucket" open-raw "$n" 4096) || raw=fail
		h delprefix "$bucket" open-raw/ >/dev/null
		row "$n files open at once, 4 KiB written to each, all closed | $t | $((q1 - q0)) | $c0 | $rss | s3c: $raw s for $n PUTs"
	done
	h delprefix "$bucket" open/ >/dev/null
}

# ---------------------------------------------------------------- big file
bench_big() {
	local want got t0 t1 q0 q1 c0 rss t
	log "checksum of the $big_mib MiB stream"
	want=$(gen "$big_mib" | sha256sum | cut -d' ' -f1)
	drop_caches
	if mount_obs; then
		q0=$(requests)
		c0=$(cpu)
		t0=$(now)
		gen "$big_mib" | timeout "$tmo" dd of="$mnt/big" bs=1M iflag=fullblock conv=fsync status=none
		if [ "${PIPESTATUS[1]}" = 0 ]; then
			t1=$(now)
			t="$(calc "round($t1 - $t0, 1)") s ($(calc "round($big_mib / ($t1 - $t0))") MiB/s)"
		else
			t=fail
		fi
		c0=$(cpu_since "$c0")
		q1=$(requests)
		rss=$(hwm_mib)
		umount_obs
		row "write $big_mib MiB (\`dd bs=1M conv=fsync\`) | $t | $((q1 - q0)) | $c0 | $rss | –"
	fi
	drop_caches
	if mount_obs; then
		q0=$(requests)
		c0=$(cpu)
		t0=$(now)
		if got=$(timeout "$tmo" cat "$mnt/big" | sha256sum | cut -d' ' -f1); then
			t1=$(now)
			t="$(calc "round($t1 - $t0, 1)") s ($(calc "round($big_mib / ($t1 - $t0))") MiB/s)"
			[ "$got" = "$want" ] || t="fail (sha256)"
		else
			t=fail
		fi
		c0=$(cpu_since "$c0")
		q1=$(requests)
		rss=$(hwm_mib)
		umount_obs
		row "read it back after remount and drop_caches | $t | $((q1 - q0)) | $c0 | $rss | –"
	fi
	h delprefix "$bucket" big >/dev/null
	gc      # the server keeps deleted data in RAM until collected
}

for r in $rows; do
	case $r in
	list) bench_list ;;
	open) bench_open ;;
	big) bench_big ;;
	*) die "unknown row: $r" ;;
	esac
done

echo "| workload | obsmount | requests | daemon CPU, s | daemon VmHWM, MiB | raw client |"
echo "|---|---|---|---|---|---|"
for l in "${table[@]}"; do echo "$l"; done
