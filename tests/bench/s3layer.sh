#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark of the S3 request layer (not a test): PUT and GET of one object
# through tests/s3tool, single stream and N-way parallel (multipart upload,
# ranged GETs), beside curl moving the same object. Prints MiB/s.
#
#   eval "$(tests/server/start.sh)"
#   tests/bench/s3layer.sh [BUILD_DIR]
#
# Environment: BENCH_MIB (object size, default 256), BENCH_THREADS (8),
# BENCH_PART_MIB (16), BENCH_RUNS (1), BENCH_URL (default the HTTPS URL).
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
src=$(cd -- "$here/../.." && pwd)
build=${1:-}
tool=${OBSMOUNT_S3TOOL:-}
if [ -z "$tool" ]; then
	for c in ${build:+"$build/tests/s3tool"} "$src"/build*/tests/s3tool; do
		if [ -x "$c" ]; then
			tool=$c
			break
		fi
	done
fi
if [ -z "$tool" ] || [ ! -x "$tool" ]; then
	echo "s3layer.sh: build tests/s3tool first" >&2
	exit 2
fi
: "${OBSMOUNT_TEST_HTTPS_URL:?run eval \"\$(tests/server/start.sh)\" first}"

mib=${BENCH_MIB:-256}
threads=${BENCH_THREADS:-8}
part=${BENCH_PART_MIB:-16}
runs=${BENCH_RUNS:-1}
url=${BENCH_URL:-$OBSMOUNT_TEST_HTTPS_URL}
ak=$OBSMOUNT_TEST_ACCESS_KEY
sk=$OBSMOUNT_TEST_SECRET_KEY
region=${OBSMOUNT_TEST_REGION:-us-east-1}
ca=${OBSMOUNT_TEST_CA:-}
bucket=bench-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
work=$(mktemp -d)
root=${OBSMOUNT_TEST_RGW_ROOT:-}
root_work=""

cleanup() {
	python3 "$src/tests/server/s3c.py" --url "$url" rb "$bucket" --force >/dev/null 2>&1 || true
	rm -rf -- "$work"
	[ -z "$root_work" ] || rm -rf -- "${root:?}/$root_work"
}
trap cleanup EXIT

python3 "$src/tests/server/s3c.py" --url "$url" mb "$bucket" >/dev/null
head -c "$((mib * 1024 * 1024))" /dev/urandom > "$work/obj"
bytes=$((mib * 1024 * 1024))

now() { date +%s.%N; }
rate() { awk -v b="$bytes" -v t0="$1" -v t1="$2" 'BEGIN { printf "%.0f", b / 1048576 / (t1 - t0) }'; }

# tool_best OP KEY ARG: run s3tool $runs times, print the best MiB/s it
# reports itself: the transfer only, without mapping the input file or
# first-touching the output buffer (slow in VMs, and not what a mount
# pays: its buffers are the kernel's).
tool_best() {
	local best=0 r
	for _ in $(seq "$runs"); do
		r=$("$tool" "${tool_args[@]}" "$@" 2>&1 >/dev/null |
			sed -n 's/.*: \([0-9.]*\) MiB\/s$/\1/p' | cut -d. -f1)
		[ -n "$r" ] || { echo "s3layer.sh: s3tool $1 failed" >&2; exit 1; }
		[ "$r" -gt "$best" ] && best=$r
	done
	echo "$best"
}

# best_of CMD...: run CMD $runs times, print the best MiB/s (wall time).
best_of() {
	local best=0 r t0 t1
	for _ in $(seq "$runs"); do
		t0=$(now)
		"$@" > /dev/null
		t1=$(now)
		r=$(rate "$t0" "$t1")
		[ "$r" -gt "$best" ] && best=$r
	done
	echo "$best"
}

tool_args=(--url "$url" --bucket "$bucket" --known none --threads "$threads" --part-size "$part")
[ -z "$ca" ] || tool_args+=(--ca "$ca")
verify() {
	"$tool" "${tool_args[@]}" "$1" "$2" "$work/out" 2>/dev/null
	cmp -s "$work/obj" "$work/out" || { echo "s3layer.sh: $2 differs" >&2; exit 1; }
	rm -f -- "$work/out"
}

# curl: SigV4 by curl itself, UNSIGNED-PAYLOAD, one stream.
curl_bin=curl
curl_file=$work/obj
curl_ca=$ca
curl_where="host $(curl --version | head -n1 | cut -d' ' -f1-2)"
if [ -n "$root" ] && [ -x "$root/usr/bin/curl" ] && [ "$(id -u)" = 0 ]; then
	# The newer curl of the server root, run inside it.
	root_work=tmp/bench-$bucket
	mkdir -p -- "$root/$root_work"
	cp -- "$work/obj" "$root/$root_work/obj"
	[ -z "$ca" ] || cp -- "$ca" "$root/$root_work/ca.pem"
	curl_bin="chroot $root curl"
	curl_file=/$root_work/obj
	curl_ca=${ca:+/$root_work/ca.pem}
	curl_where="root $(chroot "$root" curl --version | head -n1 | cut -d' ' -f1-2)"
fi
curl_args=(-sS -f --aws-sigv4 "aws:amz:$region:s3" --user "$ak:$sk"
	-H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
[ -z "$curl_ca" ] || curl_args+=(--cacert "$curl_ca")
c_put() { $curl_bin "${curl_args[@]}" -T "$curl_file" "$url/$bucket/obj-c" -o /dev/null; }
c_get() { $curl_bin "${curl_args[@]}" "$url/$bucket/obj-c" -o /dev/null; }
c_pget() {
	local chunk=$((bytes / threads)) i pids=()
	for i in $(seq 0 $((threads - 1))); do
		local last=$(((i + 1) * chunk - 1))
		[ "$i" -eq $((threads - 1)) ] && last=$((bytes - 1))
		$curl_bin "${curl_args[@]}" -r "$((i * chunk))-$last" "$url/$bucket/obj-c" \
			-o /dev/null &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
}

echo "object ${mib} MiB, endpoint $url, $threads threads, ${part} MiB parts, best of $runs"
echo "curl: $curl_where (wall time of the process); s3tool: its own transfer time"
printf '%-36s %12s %12s\n' workload "s3tool MiB/s" "curl MiB/s"
printf '%-36s %12s %12s\n' "PUT, one stream" "$(tool_best sput obj-1 "$work/obj")" "$(best_of c_put)"
printf '%-36s %12s %12s\n' "GET, one stream" "$(tool_best sget obj-1 /dev/null)" "$(best_of c_get)"
printf '%-36s %12s %12s\n' "PUT, ${threads}-way multipart" "$(tool_best bput obj-n "$work/obj")" "-"
printf '%-36s %12s %12s\n' "GET, ${threads}-way ranges" "$(tool_best bget obj-n /dev/null)" "$(best_of c_pget)"
verify sget obj-1
verify bget obj-n
