#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# File system benchmark (not a test): obsmount beside s3fs 1.97 (run
# chrooted from the test server's Debian root), the host's s3fs (1.90 on
# Debian 12) and a raw client (curl --aws-sigv4, one stream, and s3c.py),
# all against the same test server in one run.  Prints a markdown table.
#
#   eval "$(tests/server/start.sh)"
#   tests/bench/fs-bench.sh [BUILD_DIR]
#
# Needs root (FUSE mounts, chroot, drop_caches).
#
# Environment:
#   BENCH_SIZE_MIB   size of the big file (default 1024)
#   BENCH_FILES      number of 4 KiB creates (default 1000)
#   BENCH_LIST       objects in the listed directory (default 10000)
#   BENCH_HTTPS=1    talk HTTPS to the server (default plain HTTP)
#   BENCH_TOOLS      columns to run (default "raw obsmount s3fs197 s3fs190")
#   BENCH_RSYNC_SRC  a tree of small files to rsync into the mount
#                    (default /usr/include/linux: 763 files on Debian 12)
#   BENCH_TIMEOUT    limit of one step in seconds (default 420); a step that
#                    fails or runs out of time gets "fail" in its cell
#   OBSMOUNT         the obsmount binary (default BUILD_DIR/obsmount)
#   BENCH_SCALE=1    then run scale-bench.sh too (100,000-object listing,
#                    10,000 open files, a 10 GiB file; its own SCALE_* knobs)
set -uo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
src=$(cd -- "$here/../.." && pwd)
build=${1:-}

die() { echo "fs-bench.sh: $*" >&2; exit 2; }
log() { echo "[fs-bench] $*" >&2; }

: "${OBSMOUNT_TEST_HTTP_URL:?run eval \"\$(tests/server/start.sh)\" first}"
[ "$(id -u)" = 0 ] || die "needs root"

obsmount=${OBSMOUNT:-}
if [ -z "$obsmount" ]; then
	for c in ${build:+"$build/obsmount"} "$src"/build*/obsmount; do
		if [ -x "$c" ]; then obsmount=$c; break; fi
	done
fi

size_mib=${BENCH_SIZE_MIB:-1024}
nfiles=${BENCH_FILES:-1000}
nlist=${BENCH_LIST:-10000}
tmo=${BENCH_TIMEOUT:-420}
rsync_src=${BENCH_RSYNC_SRC:-/usr/include/linux}
rsync_files=$(find "$rsync_src" -type f 2>/dev/null | wc -l)
tools=${BENCH_TOOLS:-raw obsmount s3fs197 s3fs190}
ak=$OBSMOUNT_TEST_ACCESS_KEY
sk=$OBSMOUNT_TEST_SECRET_KEY
region=${OBSMOUNT_TEST_REGION:-us-east-1}
ca=${OBSMOUNT_TEST_CA:-}
root=${OBSMOUNT_TEST_RGW_ROOT:-}
if [ "${BENCH_HTTPS:-0}" = 1 ]; then
	url=$OBSMOUNT_TEST_HTTPS_URL
	s3fs_tls=",no_check_certificate,ssl_verify_hostname=0"
else
	url=$OBSMOUNT_TEST_HTTP_URL
	s3fs_tls=""
fi
size=$((size_mib * 1048576))
bucket=fsbench-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')

for t in $tools; do
	case $t in
	obsmount) [ -n "$obsmount" ] && [ -x "$obsmount" ] || die "build obsmount first (or set OBSMOUNT)" ;;
	s3fs197|raw) [ -n "$root" ] && [ -x "$root/usr/bin/s3fs" ] && [ -x "$root/usr/bin/curl" ] ||
		die "OBSMOUNT_TEST_RGW_ROOT has no s3fs/curl" ;;
	s3fs190) command -v s3fs >/dev/null || die "no s3fs on the host (apt-get install s3fs)" ;;
	*) die "unknown tool: $t" ;;
	esac
done

work=$(mktemp -d)
shm=$(mktemp -d -p /dev/shm fsbench.XXXXXX)
rwork=""
if [ -n "$root" ]; then
	rwork=$(mktemp -d -p "$root/tmp" fsbench.XXXXXX)
	rin=${rwork#"$root"}            # the same directory seen inside the root
fi
pids=()
mnts=()

cleanup() {
	local m p
	for m in "${mnts[@]}"; do
		mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null; }
	done
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	[ -n "${helper_ok:-}" ] && timeout 300 python3 "$work/h.py" rb "$bucket" >/dev/null 2>&1
	rm -rf "$work" "$shm"
	[ -n "$rwork" ] && rm -rf --one-file-system "$rwork"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helper
cat >"$work/h.py" <<'EOF'
import os, sys, time, threading
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
        client().create_bucket(a[0])
    elif cmd == "rb":
        c = client()
        keys, _ = c.list_objects(a[0])
        parallel(lambda c, k: c.delete_object(a[0], k), keys)
        c.delete_bucket_recursive(a[0])
    elif cmd == "fill":             # fill BUCKET DIR N: DIR/ marker + N objects
        b, d, n = a[0], a[1], int(a[2])
        client().put_object(b, d + "/", b"",
                            headers={"Content-Type": "application/x-directory"})
        data = b"x" * 100
        parallel(lambda c, i: c.put_object(b, "%s/f%05d" % (d, i), data),
                 range(n))
    elif cmd == "delprefix":
        c = client()
        keys, _ = c.list_objects(a[0], prefix=a[1])
        parallel(lambda c, k: c.delete_object(a[0], k), keys)
    elif cmd == "waitsize":         # waitsize BUCKET KEY SIZE TIMEOUT
        c = client()
        end = time.time() + float(a[3])
        while time.time() < end:
            r = c.request("HEAD", a[0], a[1])
            if r.ok and int(r.header("content-length", -1)) == int(a[2]):
                print("%.6f" % time.time())
                return
            time.sleep(0.02)
        sys.exit(1)
    elif cmd == "waitcount":        # waitcount BUCKET PREFIX N TIMEOUT
        c = client()
        end = time.time() + float(a[3])
        while time.time() < end:
            keys, _ = c.list_objects(a[0], prefix=a[1])
            if len(keys) >= int(a[2]):
                print("%.6f" % time.time())
                return
            time.sleep(0.05)
        sys.exit(1)
    elif cmd == "gone":             # gone BUCKET KEY: exit 0 if absent
        sys.exit(0 if client().request("HEAD", a[0], a[1]).status == 404 else 1)
    elif cmd == "creates":          # creates DIR N SIZE: print start time
        d, n, data = a[0], int(a[1]), os.urandom(int(a[2]))
        t0 = time.time()
        for i in range(n):
            fd = os.open("%s/c%05d" % (d, i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, data)
            os.close(fd)
        print("%.6f" % t0)
    elif cmd == "rawcreates":       # rawcreates BUCKET PREFIX N SIZE: files/s
        c = client()
        b, p, n, data = a[0], a[1], int(a[2]), os.urandom(int(a[3]))
        t0 = time.time()
        for i in range(n):
            c.put_object(b, "%s/c%05d" % (p, i), data)
        print("%.1f" % (n / (time.time() - t0)))
    elif cmd == "rawlist":          # rawlist BUCKET PREFIX N: seconds
        c = client()
        t0 = time.time()
        keys, _ = c.list_objects(a[0], prefix=a[1])
        dt = time.time() - t0
        if len(keys) < int(a[2]):
            sys.exit(1)
        print("%.2f" % dt)
    elif cmd == "rawmv":            # rawmv BUCKET SRC DST: seconds
        c = client()
        t0 = time.time()
        c.copy_object(a[0], a[1], a[0], a[2])
        c.delete_object(a[0], a[1])
        print("%.2f" % (time.time() - t0))
    else:
        sys.exit("unknown command " + cmd)

main()
EOF
export S3C_DIR=$src/tests/server B_URL=$url B_AK=$ak B_SK=$sk B_REGION=$region B_CA=$ca
h() { timeout "$tmo" python3 "$work/h.py" "$@"; }
now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }   # arithmetic on floats
gc() { timeout 600 "$src/tests/server/gc.sh" >/dev/null 2>&1 || log "gc.sh failed"; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# Results: R[workload.tool]
declare -A R
put() { R[$1.$2]=$3; log "$2 $1: $3"; }

# ---------------------------------------------------------------- setup
h mb "$bucket" || die "cannot create bucket $bucket at $url"
helper_ok=1
log "bucket $bucket at $url; big file $size_mib MiB, $nfiles creates, listing $nlist"
head -c "$size" /dev/urandom >"$shm/src" || die "cannot write /dev/shm"
src_sum=$(sha256sum <"$shm/src" | cut -d' ' -f1)
log "filling list/ with $nlist objects (8 threads)"
t0=$(now)
h fill "$bucket" list "$nlist" || die "fill failed"
log "filled in $(calc "round($(now) - $t0, 1)") s"
printf '%s:%s\n' "$ak" "$sk" >"$work/passwd"
chmod 600 "$work/passwd"
if [ -n "$rwork" ]; then
	cp "$work/passwd" "$rwork/passwd"
	chmod 600 "$rwork/passwd"
	[ -n "$ca" ] && cp "$ca" "$rwork/ca.pem"
fi

# ---------------------------------------------------------------- mounts
# https_url= only beside a plain url=
case $url in https://*) obs_https="" ;; *) obs_https=",https_url=$OBSMOUNT_TEST_HTTPS_URL" ;; esac

# mount_tool TOOL: mount the bucket, set $mnt and $dpid (the daemon).
mount_tool() {
	local t=$1
	case $t in
	obsmount)
		mnt=$work/mnt-obsmount
		mkdir -p "$mnt"
		"$obsmount" "$bucket" "$mnt" -f -o "url=$url$obs_https${ca:+,cafile=$ca},region=$region,passwd_file=$work/passwd,part_size=16,parallel=8" \
			>>"$work/obsmount.log" 2>&1 &
		dpid=$! ;;
	s3fs197)
		mnt=$rwork/mnt
		mkdir -p "$mnt"
		chroot "$root" s3fs "$bucket" "$rin/mnt" -f -o "max_thread_count=16,multipart_size=16,streamupload,multipart_copy_size=5120,use_path_request_style,url=$url,passwd_file=$rin/passwd,endpoint=$region$s3fs_tls" \
			>>"$work/s3fs197.log" 2>&1 &
		dpid=$! ;;
	s3fs190)
		mnt=$work/mnt-s3fs190
		mkdir -p "$mnt"
		s3fs "$bucket" "$mnt" -f -o "parallel_count=8,multipart_size=16,multireq_max=32,enable_noobj_cache,use_path_request_style,url=$url,passwd_file=$work/passwd,endpoint=$region$s3fs_tls" \
			>>"$work/s3fs190.log" 2>&1 &
		dpid=$! ;;
	esac
	pids+=("$dpid")
	mnts+=("$mnt")
	for _ in $(seq 200); do
		mountpoint -q "$mnt" && return 0
		kill -0 "$dpid" 2>/dev/null || break
		sleep 0.1
	done
	log "$t: mount failed"
	return 1
}

umount_tool() {
	fusermount3 -u "$mnt" 2>/dev/null || { sleep 1; fusermount3 -u "$mnt" 2>/dev/null; } ||
		fusermount3 -u -z "$mnt" 2>/dev/null
	for _ in $(seq 300); do
		kill -0 "$dpid" 2>/dev/null || return 0
		sleep 0.1
	done
	log "daemon $dpid did not exit; killing it"
	kill "$dpid" 2>/dev/null
}

hwm_mib() { awk '/^VmHWM/ { printf "%d", $2 / 1024 }' "/proc/$dpid/status" 2>/dev/null || echo "?"; }
# CPU seconds (user + system) the daemon has used so far
cpu_s() {
	local f
	f=$(cut -d')' -f2- "/proc/$dpid/stat" 2>/dev/null) || { echo "?"; return; }
	# shellcheck disable=SC2086
	set -- $f
	calc "(${12} + ${13}) / $(getconf CLK_TCK)"
}
# CPU seconds per GiB of the big file between two cpu_s readings
cpu_gib() {
	case "$1$2" in *'?'*) echo "?"; return ;; esac
	calc "round(($2 - $1) * 1024 / $size_mib, 2)"
}
mibs() { calc "round($size_mib / ($2 - $1))"; }

# ---------------------------------------------------------------- raw
bench_raw() {
	local t0 t1 out
	local -a c=(chroot "$root" curl -sS --fail --aws-sigv4 "aws:amz:$region:s3"
		--user "$ak:$sk" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')
	[ "${BENCH_HTTPS:-0}" = 1 ] && c+=(--cacert "$rin/ca.pem")
	# The data file is opened outside the root and handed over as fd 3.
	t0=$(now)
	if timeout "$tmo" "${c[@]}" -o /dev/null -T /proc/self/fd/3 "$url/$bucket/raw-big" 3<"$shm/src" &&
		h waitsize "$bucket" raw-big "$size" 5 >/dev/null; then
		put write raw "curl $(mibs "$t0" "$(now)")"
	else
		put write raw fail
	fi
	drop_caches
	t0=$(now)
	if timeout "$tmo" "${c[@]}" -o /dev/null "$url/$bucket/raw-big"; then
		put read raw "curl $(mibs "$t0" "$(now)")"
	else
		put read raw fail
	fi
	# over TLS 1.3, curl leaves the suite order to its library (AES-256-GCM
	# first); obsmount offers AES-128-GCM first: the raw GET that way too
	if [ "${BENCH_HTTPS:-0}" = 1 ]; then
		drop_caches
		t0=$(now)
		if timeout "$tmo" "${c[@]}" --tls13-ciphers TLS_AES_128_GCM_SHA256 \
			-o /dev/null "$url/$bucket/raw-big"; then
			put read raw "${R[read.raw]}; AES-128-GCM $(mibs "$t0" "$(now)")"
		fi
	fi
	out=$(h rawcreates "$bucket" raw-c "$nfiles" 4096) && put creates raw "s3c $out" || put creates raw fail
	out=$(h rawlist "$bucket" list/ "$nlist") && put list raw "s3c $out" || put list raw fail
	out=$(h rawmv "$bucket" raw-big raw-big.mv) && put mv raw "s3c $out" || put mv raw fail
	put rss raw "–"
	put cpu raw "–"
	h delprefix "$bucket" raw-big
	h delprefix "$bucket" raw-c/
}

# ---------------------------------------------------------------- mounts
bench_fs() {
	local t=$1 t0 t1 w r n sum c0 cw=fail cr=fail
	# 1. write the big file, then the small creates, on one mount
	drop_caches
	if mount_tool "$t"; then
		c0=$(cpu_s)
		t0=$(now)
		if timeout "$tmo" dd if="$shm/src" of="$mnt/big" bs=1M conv=fsync status=none &&
			t1=$(h waitsize "$bucket" big "$size" 60); then
			put write "$t" "$(mibs "$t0" "$t1")"
			cw=$(cpu_gib "$c0" "$(cpu_s)")
		else
			put write "$t" fail
		fi
		w=$(hwm_mib)
		if timeout 60 mkdir "$mnt/c"; then
			if t0=$(timeout "$tmo" python3 "$work/h.py" creates "$mnt/c" "$nfiles" 4096) &&
				t1=$(h waitcount "$bucket" c/c "$nfiles" 60); then
				put creates "$t" "$(calc "round($nfiles / ($t1 - $t0), 1)")"
			else
				put creates "$t" fail
			fi
		else
			put creates "$t" fail
		fi
		umount_tool
	else
		put write "$t" fail; put creates "$t" fail; w=fail
	fi
	# 2. read it back after a remount and drop_caches, then rename it
	drop_caches
	if mount_tool "$t"; then
		c0=$(cpu_s)
		t0=$(now)
		# to /dev/null like the raw client's GET; the bytes are checked after,
		# from a second read outside the time and the CPU counted
		if timeout "$tmo" cat "$mnt/big" >/dev/null; then
			t1=$(now)
			cr=$(cpu_gib "$c0" "$(cpu_s)")
			sum=$(timeout "$tmo" sha256sum <"$mnt/big" | cut -d' ' -f1)
			if [ "$sum" = "$src_sum" ]; then
				put read "$t" "$(mibs "$t0" "$t1")"
			else
				put read "$t" "fail (sha256)"
			fi
		else
			put read "$t" fail
		fi
		r=$(hwm_mib)
		t0=$(now)
		if timeout "$tmo" mv "$mnt/big" "$mnt/big.mv" && t1=$(now) &&
			h waitsize "$bucket" big.mv "$size" 10 >/dev/null && h gone "$bucket" big; then
			put mv "$t" "$(calc "round($t1 - $t0, 2)")"
		else
			put mv "$t" fail
		fi
		umount_tool
	else
		put read "$t" fail; put mv "$t" fail; r=fail
	fi
	put rss "$t" "$w / $r"
	put cpu "$t" "$cw / $cr"
	h delprefix "$bucket" big
	h delprefix "$bucket" c/
	gc      # the server keeps deleted data in RAM until collected
	# 3. ls -l of the big directory on a fresh mount
	drop_caches
	if mount_tool "$t"; then
		t0=$(now)
		if n=$(timeout "$tmo" ls -l "$mnt/list" | wc -l) && t1=$(now) &&
			[ "$n" -eq $((nlist + 1)) ]; then
			put list "$t" "$(calc "round($t1 - $t0, 2)")"
		else
			put list "$t" "fail (${n:-?} lines)"
		fi
		umount_tool
	else
		put list "$t" fail
	fi
	# 4. rsync -a of a tree of small files, then again with nothing changed
	if [ -d "$rsync_src" ] && command -v rsync >/dev/null && mount_tool "$t"; then
		t0=$(now)
		if timeout "$tmo" rsync -a "$rsync_src/" "$mnt/tree/"; then
			t1=$(now)
			put rsync "$t" "$(calc "round($t1 - $t0, 1)")"
			t0=$(now)
			if timeout "$tmo" rsync -a "$rsync_src/" "$mnt/tree/"; then
				t1=$(now)
				put rsync2 "$t" "$(calc "round($t1 - $t0, 1)")"
			else
				put rsync2 "$t" fail
			fi
		else
			put rsync "$t" fail
		fi
		umount_tool
		h delprefix "$bucket" tree/
		gc
	else
		put rsync "$t" "–"
	fi
}

for t in $tools; do
	log "=== $t"
	if [ "$t" = raw ]; then bench_raw; gc; else bench_fs "$t"; fi
done

# ---------------------------------------------------------------- table
declare -A title=([raw]="raw client" [obsmount]="obsmount" [s3fs197]="s3fs 1.97" [s3fs190]="s3fs 1.90")
rows="write read creates list mv rsync rsync2 rss cpu"
declare -A label=(
	[write]="write $size_mib MiB (\`dd bs=1M conv=fsync\`, until HEAD shows it), MiB/s"
	[read]="read $size_mib MiB after remount and drop_caches, MiB/s"
	[creates]="$nfiles × 4 KiB creates, one process, until listed, files/s"
	[list]="\`ls -l\` of a $nlist-object directory, cold, s"
	[mv]="\`mv\` of the $size_mib MiB file, s"
	[rsync]="\`rsync -a\` of $rsync_files files ($rsync_src), s"
	[rsync2]="the same \`rsync -a\` again, nothing changed, s"
	[rss]="daemon peak RSS (VmHWM), write / read, MiB"
	[cpu]="daemon CPU (user + system) for the big file, write / read, s per GiB")
line="| workload |"; sep="|---|"
for t in $tools; do line+=" ${title[$t]} |"; sep+="---|"; done
echo "$line"; echo "$sep"
for r in $rows; do
	line="| ${label[$r]} |"
	for t in $tools; do line+=" ${R[$r.$t]:-–} |"; done
	echo "$line"
done

if [ "${BENCH_SCALE:-0}" = 1 ]; then
	echo
	OBSMOUNT=$obsmount "$here/scale-bench.sh" "$build"
fi
