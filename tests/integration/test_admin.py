# SPDX-License-Identifier: GPL-2.0-or-later
"""Administration of a running mount: unmounting with umount(8) while data
is unstored, shutdown on SIGTERM with files open, the log file (log_file=)
reopened on SIGHUP and statistics written on SIGUSR1.

Runs the real obsmount binary with -f against the RGW test server and
checks the bucket with an independent S3 client. Needs root and /dev/fuse.
"""
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import new_bucket_name
from test_fs import MIB, PART_MIB, Mount, client, obsmount_bin

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/fuse"),
    reason="needs root and /dev/fuse")


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def admin(rgw):
    """Start mounts of one fresh bucket; unmount and clean up at the end."""
    c = client(rgw)
    bucket = new_bucket_name("admin")
    c.create_bucket(bucket)
    work = tempfile.mkdtemp(prefix="obsmount-admin-")
    mounts = []

    def start(opts=(), https=True, flags=()):
        sub = os.path.join(work, "m%d" % len(mounts))
        os.makedirs(sub)
        m = Mount(rgw, bucket, sub, https, ["part_size=%d" % PART_MIB] + list(opts),
                  list(flags))
        m.s3 = c
        m.start()
        mounts.append(m)
        return m

    yield start
    try:
        for m in mounts:
            if m.proc is not None and m.proc.poll() is None:
                m.stop()
            elif m.proc is not None:
                subprocess.run(["fusermount3", "-uz", m.dir], check=False,
                               stderr=subprocess.DEVNULL)
    finally:
        c.delete_bucket_recursive(bucket)
        shutil.rmtree(work, ignore_errors=True)


def wait_exit(m, timeout=60):
    """The daemon's exit status; it must exit within @timeout seconds."""
    try:
        rc = m.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        m.proc.kill()
        m.proc.wait()
        subprocess.run(["fusermount3", "-uz", m.dir], check=False)
        raise AssertionError("obsmount did not exit: " + m.read_log())
    m.proc = None
    m.log.close()
    return rc


def assert_clean_log(m, allow=()):
    bad = m.bad_lines(0, allow)
    assert not bad, "daemon logged:\n" + "\n".join(bad)


def mount_source(path):
    """The source column of /proc/mounts for mount point @path."""
    with open("/proc/self/mounts") as f:
        rows = [ln.split() for ln in f]
    got = [r for r in rows if r[1] == path]
    assert len(got) == 1, "%d mounts on %s" % (len(got), path)
    assert got[0][2] == "fuse.obsmount"
    return got[0][0]


def test_source_is_the_bucket(admin, rgw):
    """/proc/mounts names the mount after BUCKET[:/PREFIX], as fstab does, so
    that mount(8) recognises fstab entries as mounted; fsname= overrides."""
    m = admin()
    assert mount_source(m.dir) == m.bucket
    m2 = admin(["fsname=custom"])
    assert mount_source(m2.dir) == "custom"
    os.makedirs(m.path("sub"))
    sub = os.path.join(os.path.dirname(m.dir), "sub")
    os.makedirs(sub)
    m3 = Mount(rgw, m.bucket, sub, True, [], [], prefix=":/sub")
    m3.start()
    try:
        assert mount_source(m3.dir) == m.bucket + ":/sub"
    finally:
        m3.stop()


def test_umount_after_write(admin):
    """umount(8), not fusermount3: the file written just before is complete."""
    m = admin()
    data = os.urandom(PART_MIB * MIB + 4321)  # multipart
    with open(m.path("f.bin"), "wb") as f:
        f.write(data)
    r = subprocess.run(["umount", m.dir], stderr=subprocess.PIPE)
    assert r.returncode == 0, r.stderr
    assert wait_exit(m) == 0
    assert not os.path.ismount(m.dir)
    assert sha(m.s3.get_object(m.bucket, "f.bin").body) == sha(data)
    assert_clean_log(m)


def test_lazy_umount_with_open_file(admin):
    """umount -l with a file open for writing: data written after the
    unmount still reaches the server when the file is closed, and only then
    does the daemon exit."""
    m = admin()
    head = os.urandom(PART_MIB * MIB + 17)
    tail = os.urandom(3 * MIB)
    f = open(m.path("open.bin"), "wb")
    try:
        f.write(head)
        f.flush()
        r = subprocess.run(["umount", "-l", m.dir], stderr=subprocess.PIPE)
        assert r.returncode == 0, r.stderr
        assert not os.path.ismount(m.dir)
        time.sleep(0.5)
        assert m.proc.poll() is None, "daemon exited with a file still open"
        f.write(tail)
    finally:
        f.close()
    assert wait_exit(m) == 0, m.read_log()
    assert sha(m.s3.get_object(m.bucket, "open.bin").body) == sha(head + tail)
    assert_clean_log(m)


@pytest.mark.parametrize("flags", [[], ["-s"]], ids=["mt", "single"])
def test_sigterm_stores_open_files(admin, flags):
    """SIGTERM while files are open and dirty (libfuse never releases them):
    the daemon stores them before it exits."""
    m = admin(flags=flags)
    big = os.urandom(2 * PART_MIB * MIB + 999)  # streamed multipart, parts in flight
    small = b"small file, never closed\n"
    fb = open(m.path("big.bin"), "wb")
    fs = open(m.path("small.txt"), "wb")
    try:
        fb.write(big)
        fb.flush()
        fs.write(small)
        fs.flush()
        m.proc.send_signal(signal.SIGTERM)
        rc = wait_exit(m)
    finally:
        for f in (fb, fs):
            try:
                f.close()
            except OSError:
                pass  # the connection is gone
        subprocess.run(["fusermount3", "-uz", m.dir], check=False,
                       stderr=subprocess.DEVNULL)
    assert rc == 0, m.read_log()
    assert sha(m.s3.get_object(m.bucket, "big.bin").body) == sha(big)
    assert m.s3.get_object(m.bucket, "small.txt").body == small
    assert_clean_log(m)


def wait_for(pred, timeout=10, what="condition"):
    deadline = time.time() + timeout
    while not pred():
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


STATS = {
    "stat cache": ("hits", "misses", "negative_hits", "entries", "evictions", "dropped"),
    "dir cache": ("hits", "misses", "dirs", "entries", "bytes"),
    # "failed", not "errors": a stats line must not look like a problem.
    "transfers": ("bytes_read", "bytes_written", "requests", "retries", "failed"),
}


def parse_stats(text):
    """The last statistics of each kind in @text, as {kind: {name: int}}."""
    out = {}
    for line in text.splitlines():
        mt = re.search(r"notice: stats: ([a-z ]+): (.*)$", line)
        if mt:
            out[mt.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", mt.group(2))}
    return out


def test_log_file_sigusr1_sighup(admin):
    """log_file= gets the daemon's log; SIGUSR1 writes the statistics there;
    after logrotate moves the file away, SIGHUP makes a new one."""
    work = tempfile.mkdtemp(prefix="obsmount-admin-log-")
    try:
        log = os.path.join(work, "obsmount.log")
        m = admin(["log_file=" + log, "log_level=info"])
        wait_for(lambda: "mounted bucket" in read_text(log), what="the mount's log line")
        assert os.stat(log).st_mode & 0o777 == 0o640
        # Nothing of it went to stderr (the -f log).
        assert "mounted bucket" not in m.read_log()

        data = os.urandom(300000)
        with open(m.path("a.bin"), "wb") as f:
            f.write(data)
        for _ in range(3):
            os.stat(m.path("a.bin"))
        assert os.listdir(m.dir) == ["a.bin"]
        with open(m.path("a.bin"), "rb") as f:
            assert f.read() == data
        with pytest.raises(FileNotFoundError):
            os.stat(m.path("missing"))

        m.proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: "transfers" in parse_stats(read_text(log)), what="statistics")
        st = parse_stats(read_text(log))
        for kind, names in STATS.items():
            assert kind in st, read_text(log)
            assert set(names) <= set(st[kind]), (kind, st[kind])
        t = st["transfers"]
        assert t["bytes_written"] == len(data)
        assert t["bytes_read"] == len(data)
        assert t["requests"] >= 2  # at least the upload and the bucket check
        assert t["failed"] == 0
        assert st["stat cache"]["entries"] >= 1
        assert st["stat cache"]["hits"] >= 1
        assert st["dir cache"]["entries"] >= 1 and st["dir cache"]["bytes"] > 0

        # The daemon is alive and the mount works after both signals.
        os.rename(log, log + ".1")
        m.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reopened log_file" in read_text(log), what="a new log file")
        assert m.proc.poll() is None and os.path.ismount(m.dir)
        assert "reopened" not in read_text(log + ".1")
        m.proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: "transfers" in parse_stats(read_text(log)),
                 what="statistics in the new file")
        assert parse_stats(read_text(log))["transfers"]["bytes_written"] == len(data)
        with open(m.path("b.txt"), "wb") as f:
            f.write(b"after the rotation\n")
        assert m.s3.get_object(m.bucket, "b.txt").body == b"after the rotation\n"

        r = subprocess.run(["umount", m.dir], stderr=subprocess.PIPE)
        assert r.returncode == 0, r.stderr
        assert wait_exit(m) == 0
        for text in (read_text(log), read_text(log + ".1"), m.read_log()):
            bad = [ln for ln in text.splitlines()
                   if re.search(r"obsmount (err|warn):|==\d+==", ln)]
            assert not bad, "\n".join(bad)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_log_file_must_be_absolute(rgw):
    r = subprocess.run([obsmount_bin(), "b", "/mnt",
                        "-o", "log_file=relative.log"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 1
    assert b"invalid log_file 'relative.log': expected an absolute path" in r.stderr


def test_sighup_without_log_file_keeps_the_mount(admin):
    """libfuse would unmount on SIGHUP; ours only reopens a log_file."""
    m = admin()
    m.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert m.proc.poll() is None and os.path.ismount(m.dir)
    with open(m.path("after-hup.txt"), "wb") as f:
        f.write(b"still mounted\n")
    assert m.s3.get_object(m.bucket, "after-hup.txt").body == b"still mounted\n"
    m.proc.send_signal(signal.SIGUSR1)
    wait_for(lambda: "transfers" in parse_stats(m.read_log()), what="statistics on stderr")
    assert parse_stats(m.read_log())["transfers"]["bytes_written"] == len(b"still mounted\n")
    assert_clean_log(m)
