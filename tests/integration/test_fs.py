# SPDX-License-Identifier: GPL-2.0-or-later
"""The whole filesystem: the real obsmount binary mounted with -f against the
RGW test server, over a matrix of option sets, checked with POSIX calls and
with an independent S3 client (s3c) looking at the bucket directly.

Needs root and /dev/fuse. Any daemon stderr line mentioning an error, a
warning or a sanitizer report fails the test that caused it, unless the
test declares it expected.
"""
import calendar
import ctypes
import errno
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TESTS, "server"))
import s3c  # noqa: E402
from conftest import new_bucket_name  # noqa: E402
from s3proxy import S3Proxy  # noqa: E402

MIB = 1024 * 1024
PART_MIB = 5  # RGW's smallest multipart part
BAD_LINE = re.compile(r"error|warn|sanitizer|==\d+==|leak", re.I)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/fuse"),
    reason="needs root and /dev/fuse")


def obsmount_bin():
    b = os.environ.get("OBSMOUNT_BIN") or os.path.abspath("obsmount")
    assert os.access(b, os.X_OK), "no obsmount binary at %r (set OBSMOUNT_BIN)" % b
    return b


# name -> (use https for url=, extra -o options, extra flags)
CONFIGS = {
    "http-v4": (False, ["part_size=%d" % PART_MIB], []),
    "https-v2-nocache-single": (True, ["sigv=2", "stat_ttl=0", "dir_ttl=0",
                                       "part_size=%d" % PART_MIB], ["-s"]),
    "https-v4-parallel": (True, ["part_size=%d" % PART_MIB, "parallel=3"], []),
}


class Mount:
    """One obsmount process and its mount point."""

    def __init__(self, env, bucket, workdir, https, opts, flags, prefix=""):
        self.env = env
        self.bucket = bucket
        self.dir = os.path.join(workdir, "mnt")
        os.makedirs(self.dir, exist_ok=True)
        self.logpath = os.path.join(workdir, "daemon.log")
        self.pwfile = os.path.join(workdir, "passwd")
        with open(self.pwfile, "w") as f:
            f.write("%s:%s\n" % (env["OBSMOUNT_TEST_ACCESS_KEY"],
                                 env["OBSMOUNT_TEST_SECRET_KEY"]))
        os.chmod(self.pwfile, 0o600)
        url = env["OBSMOUNT_TEST_HTTPS_URL" if https else "OBSMOUNT_TEST_HTTP_URL"]
        o = ["url=" + url, "passwd_file=" + self.pwfile,
             "cafile=" + env["OBSMOUNT_TEST_CA"],
             "region=" + env.get("OBSMOUNT_TEST_REGION", "us-east-1")]
        if not https:
            # Requests on objects of unknown encryption must use TLS.
            o.append("https_url=" + env["OBSMOUNT_TEST_HTTPS_URL"])
        self.argv = [obsmount_bin(), bucket + prefix, self.dir, "-f",
                     "-o", ",".join(o + opts)] + flags
        self.proc = None
        self.log_offset = 0

    def start(self):
        self.log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        while not os.path.ismount(self.dir):
            if self.proc.poll() is not None:
                raise AssertionError("obsmount exited with %d: %s" % (
                    self.proc.returncode, self.read_log()))
            if time.time() > deadline:
                raise AssertionError("mount did not appear: " + self.read_log())
            time.sleep(0.05)

    def stop(self):
        if self.proc is None:
            return
        subprocess.run(["fusermount3", "-u", self.dir], check=False)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            subprocess.run(["fusermount3", "-uz", self.dir], check=False)
            raise AssertionError("obsmount did not exit after unmount")
        self.proc = None
        self.log.close()
        assert rc == 0, "obsmount exited with %d: %s" % (rc, self.read_log())

    def read_log(self, since=0):
        with open(self.logpath, "rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace")

    def bad_lines(self, since=0, allow=()):
        out = []
        for line in self.read_log(since).splitlines():
            if BAD_LINE.search(line) and not any(re.search(a, line) for a in allow):
                out.append(line)
        return out

    def path(self, *parts):
        return os.path.join(self.dir, *parts)


def client(env, https=True, sigv=4):
    return s3c.client_from_env(https=https, sigv=sigv)


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def mnt(request, rgw):
    https, opts, flags = CONFIGS[request.param]
    c = client(rgw)
    bucket = new_bucket_name("fs")
    c.create_bucket(bucket)
    work = tempfile.mkdtemp(prefix="obsmount-fs-")
    m = Mount(rgw, bucket, work, https, opts, flags)
    m.name = request.param
    m.s3 = c
    m.caching = "stat_ttl=0" not in opts
    m.start()
    yield m
    try:
        at_exit = os.path.getsize(m.logpath)
        m.stop()
        # Unmount and exit: leak reports and late errors land here.
        bad = m.bad_lines(at_exit)
        assert not bad, "daemon logged at exit:\n" + "\n".join(bad)
    finally:
        c.delete_bucket_recursive(bucket)
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def d(mnt, request):
    """A fresh directory in the mount for one test; checks the daemon's log."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)[:60]
    start = os.path.getsize(mnt.logpath)
    # Made by another client: the mount has no listing of it cached, so
    # objects the tests put next to the mount's own show up at once.
    mnt.s3.put_object(mnt.bucket, name + "/", b"")
    yield (mnt, name)
    bad = mnt.bad_lines(start)
    assert not bad, "daemon logged:\n" + "\n".join(bad)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def write(p, data, mode="wb"):
    with open(p, mode) as f:
        f.write(data)


def read(p):
    with open(p, "rb") as f:
        return f.read()


def sync_mount(m):
    """fsync the mount's root directory: metadata changes that wait
    (meta_delay=) go out, as before another client is asked."""
    if m.proc is None:
        return
    fd = os.open(m.dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def obj(m, key):
    sync_mount(m)
    return m.s3.get_object(m.bucket, key).body


def head(m, key):
    sync_mount(m)
    return m.s3.head_object(m.bucket, key)


def errno_of(fn, *a):
    try:
        fn(*a)
    except OSError as e:
        return e.errno
    return 0


# ---- files --------------------------------------------------------------

def test_unlink_open_file(d):
    """A file unlinked while open is gone for good: closing it (dirty, with
    writes after the unlink) must not bring the object back."""
    m, t = d
    p = m.path(t, "gone")
    f = open(p, "wb")
    try:
        f.write(b"x" * 1000)
        f.flush()
        os.fsync(f.fileno())
        assert head(m, t + "/gone").ok
        os.unlink(p)
        f.write(b"written after the unlink")
        f.flush()
        os.fsync(f.fileno())
    finally:
        f.close()
    assert not os.path.exists(p)
    assert "gone" not in os.listdir(m.path(t))
    with pytest.raises(s3c.S3Error):
        head(m, t + "/gone")


def test_create_write_read_unlink(d):
    m, t = d
    p = m.path(t, "f.txt")
    write(p, b"hello world\n")
    assert read(p) == b"hello world\n"
    assert os.stat(p).st_size == 12
    assert stat.S_ISREG(os.stat(p).st_mode)
    assert obj(m, t + "/f.txt") == b"hello world\n"
    write(p, b"more\n", "ab")
    assert read(p) == b"hello world\nmore\n"
    write(p, b"new", "wb")
    assert read(p) == b"new"
    assert obj(m, t + "/f.txt") == b"new"
    os.unlink(p)
    assert not os.path.exists(p)
    assert errno_of(os.stat, p) == errno.ENOENT
    with pytest.raises(s3c.S3Error):
        head(m, t + "/f.txt")


@pytest.mark.parametrize("size", [0, 1, 4096, PART_MIB * MIB - 1, PART_MIB * MIB,
                                  PART_MIB * MIB + 1, 3 * PART_MIB * MIB + 12345])
def test_sizes(d, size):
    m, t = d
    data = os.urandom(size)
    p = m.path(t, "s%d" % size)
    write(p, data)
    assert os.stat(p).st_size == size
    got = obj(m, "%s/s%d" % (t, size))
    assert len(got) == size and sha(got) == sha(data)
    assert sha(read(p)) == sha(data)
    # A read at an offset inside the last part.
    if size > 10:
        with open(p, "rb") as f:
            f.seek(size - 7)
            assert f.read() == data[-7:]


def test_overwrite_in_place_and_truncate(d):
    m, t = d
    p = m.path(t, "f")
    data = bytearray(os.urandom(2 * PART_MIB * MIB + 100))
    write(p, bytes(data))
    with open(p, "r+b") as f:
        f.seek(PART_MIB * MIB - 3)
        f.write(b"XXXXXX")
    data[PART_MIB * MIB - 3:PART_MIB * MIB + 3] = b"XXXXXX"
    assert sha(obj(m, t + "/f")) == sha(bytes(data))
    os.truncate(p, 1000)
    assert os.stat(p).st_size == 1000
    assert obj(m, t + "/f") == bytes(data[:1000])
    os.truncate(p, 3000)
    assert obj(m, t + "/f") == bytes(data[:1000]) + b"\0" * 2000
    with open(p, "r+b") as f:
        f.truncate(10)
    assert read(p) == bytes(data[:10])
    with open(p, "wb"):
        pass
    assert os.stat(p).st_size == 0
    assert obj(m, t + "/f") == b""


def test_open_flags(d):
    m, t = d
    p = m.path(t, "x")
    fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o640)
    os.write(fd, b"abc")
    os.close(fd)
    assert errno_of(os.open, p, os.O_CREAT | os.O_EXCL | os.O_WRONLY) == errno.EEXIST
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"def")
    os.close(fd)
    assert read(p) == b"abcdef"
    fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
    os.write(fd, b"z")
    os.close(fd)
    assert read(p) == b"z"
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o640
    assert errno_of(os.open, m.path(t, "missing"), os.O_RDONLY) == errno.ENOENT


def test_empty_file_created_on_close(d):
    m, t = d
    p = m.path(t, "empty")
    open(p, "wb").close()
    assert os.stat(p).st_size == 0
    assert head(m, t + "/empty").header("content-length") == "0"


def test_several_writers(d):
    m, t = d
    n, chunk = 4, MIB + 17
    blobs = [os.urandom(chunk) for _ in range(n)]
    errors = []

    # Several files at once.
    def one(i):
        try:
            write(m.path(t, "w%d" % i), blobs[i] * 3)
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    th = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    [x.start() for x in th]
    [x.join() for x in th]
    assert not errors
    for i in range(n):
        assert sha(obj(m, "%s/w%d" % (t, i))) == sha(blobs[i] * 3)

    # Disjoint ranges of one file through separate descriptors.
    p = m.path(t, "shared")
    open(p, "wb").close()
    fds = [os.open(p, os.O_WRONLY) for _ in range(n)]

    def part(i):
        try:
            os.pwrite(fds[i], blobs[i], i * chunk)
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    th = [threading.Thread(target=part, args=(i,)) for i in range(n)]
    [x.start() for x in th]
    [x.join() for x in th]
    for fd in fds:
        os.close(fd)
    assert not errors
    assert sha(read(p)) == sha(b"".join(blobs))
    assert sha(obj(m, t + "/shared")) == sha(b"".join(blobs))


def test_fsync_stores(d):
    m, t = d
    p = m.path(t, "f")
    with open(p, "wb") as f:
        f.write(b"synced")
        f.flush()
        os.fsync(f.fileno())
        assert obj(m, t + "/f") == b"synced"


# ---- directories --------------------------------------------------------

def test_mkdir_readdir_rmdir(d):
    m, t = d
    os.mkdir(m.path(t, "sub"), 0o750)
    st = os.stat(m.path(t, "sub"))
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o750
    h = head(m, t + "/sub/")
    assert int(h.header("x-amz-meta-mode")) == stat.S_IFDIR | 0o750
    write(m.path(t, "sub", "a"), b"1")
    os.mkdir(m.path(t, "sub", "deeper"))
    write(m.path(t, "sub", "deeper", "b"), b"2")
    assert sorted(os.listdir(m.path(t, "sub"))) == ["a", "deeper"]
    assert sorted(os.listdir(m.path(t))) == ["sub"]
    assert errno_of(os.rmdir, m.path(t, "sub")) == errno.ENOTEMPTY
    assert errno_of(os.mkdir, m.path(t, "sub")) == errno.EEXIST
    assert errno_of(os.rmdir, m.path(t, "sub", "a")) == errno.ENOTDIR
    os.unlink(m.path(t, "sub", "deeper", "b"))
    os.rmdir(m.path(t, "sub", "deeper"))
    os.unlink(m.path(t, "sub", "a"))
    os.rmdir(m.path(t, "sub"))
    assert os.listdir(m.path(t)) == []
    assert errno_of(os.stat, m.path(t, "sub")) == errno.ENOENT


def test_many_entries_listing(d):
    m, t = d
    m.s3.put_object(m.bucket, t + "/many/", b"")
    names = ["f%04d" % i for i in range(1100)]  # more than one listing page
    for n in names[:40]:
        write(m.path(t, "many", n), n.encode())
    rest = names[40:]

    def put(i):
        c = client(m.env)
        for n in rest[i::8]:
            c.put_object(m.bucket, "%s/many/%s" % (t, n), n.encode())
    th = [threading.Thread(target=put, args=(i,)) for i in range(8)]
    [x.start() for x in th]
    [x.join() for x in th]
    t0 = time.time()
    got = os.listdir(m.path(t, "many"))
    assert sorted(got) == names
    assert os.stat(m.path(t, "many", "f1099")).st_size == 5
    # Without caches every stat is several requests: sample those mounts.
    sample = names if m.caching else names[::50]
    sizes = [os.lstat(m.path(t, "many", n)).st_size for n in sample]
    assert sizes == [5] * len(sample)
    print("listing and stat of %d entries: %.2f s" % (len(names), time.time() - t0))
    # Leave the bucket small for the teardown.
    keys = list_keys(m, t + "/many/")

    def delete(i):
        c = client(m.env)
        for k in keys[i::8]:
            c.delete_object(m.bucket, k)
    th = [threading.Thread(target=delete, args=(i,)) for i in range(8)]
    [x.start() for x in th]
    [x.join() for x in th]


def test_listing_keeps_own_metadata(d):
    """Attributes of names listed after this mount wrote them are its own."""
    m, t = d
    write(m.path(t, "f"), b"data")
    os.chmod(m.path(t, "f"), 0o600)
    os.utime(m.path(t, "f"), ns=(3_000_000_000, 4_000_000_000))
    os.symlink("f", m.path(t, "l"))
    os.mkdir(m.path(t, "sub"), 0o700)
    m.s3.put_object(m.bucket, t + "/other", b"12345")
    assert sorted(os.listdir(m.path(t))) == ["f", "l", "other", "sub"]
    st = os.lstat(m.path(t, "f"))
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_mtime_ns == 4_000_000_000 and st.st_size == 4
    st = os.lstat(m.path(t, "l"))
    assert stat.S_ISLNK(st.st_mode) and st.st_size == 1
    assert os.readlink(m.path(t, "l")) == "f"
    st = os.lstat(m.path(t, "sub"))
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
    st = os.lstat(m.path(t, "other"))
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o644
    assert st.st_size == 5


def put_many(m, prefix, names, data):
    def put(i):
        c = client(m.env)
        for n in names[i::8]:
            c.put_object(m.bucket, prefix + n, data)
    th = [threading.Thread(target=put, args=(i,)) for i in range(8)]
    [x.start() for x in th]
    [x.join() for x in th]


def list_keys_of(c, bucket):
    return c.list_objects(bucket)[0]


def delete_many(c, bucket, keys):
    def delete(i):
        cl = client(None)
        for k in keys[i::8]:
            cl.delete_object(bucket, k)
    th = [threading.Thread(target=delete, args=(i,)) for i in range(8)]
    [x.start() for x in th]
    [x.join() for x in th]


def requests_in_log(m, since, method):
    """Requests the daemon logged (log_level=debug,dbg=http) since offset @since."""
    return [line for line in m.read_log(since).splitlines()
            if re.search(r"obsmount debug: > %s /" % method, line)]


@pytest.mark.parametrize("listing_attrs", ["1", "0", "allow_other"])
def test_listing_attrs_requests(rgw, tmp_path, listing_attrs):
    """`ls -l` of a listed directory: one LIST per 1,000 names, no HEAD per name
    (listing_attrs=1); with listing_attrs=0, the default under allow_other,
    every name is asked for its headers."""
    c = client(rgw)
    bucket = new_bucket_name("fs")
    c.create_bucket(bucket)
    try:
        names = ["f%04d" % i for i in range(1100)]
        opt = "allow_other" if listing_attrs == "allow_other" else "listing_attrs=" + listing_attrs
        m = Mount(rgw, bucket, str(tmp_path), False, [opt, "log_level=debug", "dbg=http"], [])
        m.s3 = c
        c.put_object(bucket, "big/", b"")
        put_many(m, "big/", names, b"x" * 7)
        c.put_object(bucket, "big/s3fs", b"s", headers={
            "x-amz-meta-mode": str(stat.S_IFREG | 0o600), "x-amz-meta-uid": "42",
            "x-amz-meta-mtime": "1400000000"})
        c.put_object(bucket, "big/sub/x", b"")
        keys, _ = c.list_objects(bucket, prefix="big/f0000")
        lm = c.head_object(bucket, keys[0]).header("last-modified")
        lm = calendar_timegm(lm)
        m.start()
        try:
            since = os.path.getsize(m.logpath)
            out = subprocess.run(["ls", "-l", "--time-style=+%s", m.path("big")],
                                 check=True, stdout=subprocess.PIPE).stdout.decode()
            sts = {n: os.lstat(m.path("big", n)) for n in names + ["s3fs", "sub"]}
            heads = requests_in_log(m, since, "HEAD")
            lists = [r for r in requests_in_log(m, since, "GET") if "list-type=2" in r]
            # Again within dir_ttl: the same, from the cached listing alone.
            since = os.path.getsize(m.logpath)
            again = subprocess.run(["ls", "-l", "--time-style=+%s", m.path("big")],
                                   check=True, stdout=subprocess.PIPE).stdout.decode()
            sent_again = requests_in_log(m, since, "HEAD") + requests_in_log(m, since, "GET")
            s3fs_st = os.lstat(m.path("big", "s3fs"))
            with open(m.path("big", "s3fs"), "rb") as f:
                assert f.read() == b"s"
        finally:
            m.stop()
        assert len(out.splitlines()) == 1 + len(names) + 2
        assert all(st.st_size == 7 and stat.S_ISREG(st.st_mode) for n, st in sts.items()
                   if n.startswith("f"))
        assert stat.S_ISDIR(sts["sub"].st_mode)
        assert abs(sts["f0000"].st_mtime - lm) < 2
        assert 2 <= len(lists) <= 4, lists
        assert again == out and not sent_again, sent_again
        if listing_attrs == "1":
            # The directory itself may be looked up; its entries are not.
            assert len(heads) <= 3, heads
            assert stat.S_IMODE(s3fs_st.st_mode) == 0o644
            assert stat.S_IMODE(sts["f0000"].st_mode) == 0o644
        else:
            assert len(heads) >= len(names), len(heads)
            assert stat.S_IMODE(s3fs_st.st_mode) == 0o600 and s3fs_st.st_uid == 42
        assert not m.bad_lines(allow=(r"obsmount debug:",))
    finally:
        delete_many(c, bucket, list_keys_of(c, bucket))
        c.delete_bucket_recursive(bucket)


def test_streamed_write_no_second_request(rgw, tmp_path):
    """A plain sequential write that lasts seconds ends with its streamed
    upload: no self-copy for the times writes moved meanwhile, no second
    upload, and mtime right to the second after close."""
    c = client(rgw)
    bucket = new_bucket_name("fs")
    c.create_bucket(bucket)
    try:
        m = Mount(rgw, bucket, str(tmp_path), False,
                  ["part_size=%d" % PART_MIB, "log_level=debug", "dbg=http"], [])
        m.s3 = c
        m.start()
        try:
            data = os.urandom(MIB) * 30
            since = os.path.getsize(m.logpath)
            with open(m.path("slow"), "wb") as f:
                for i in range(30):
                    f.write(data[i * MIB:(i + 1) * MIB])
                    f.flush()
                    time.sleep(0.1)
            closed = time.time()
            puts = requests_in_log(m, since, "PUT")
            posts = requests_in_log(m, since, "POST")
            st = os.stat(m.path("slow"))
        finally:
            m.stop()
        # parts only: no CopyObject of the object onto itself, no PUT of it
        whole = [r for r in puts if "partNumber=" not in r]
        assert not whole, whole
        assert len([r for r in posts if "uploads" in r and "uploadId" not in r]) == 1, posts
        assert obj(m, "slow") == data
        h = head(m, "slow")
        lm = calendar_timegm(h.header("last-modified"))
        assert abs(st.st_mtime - closed) <= 1.5, (st.st_mtime, closed)
        assert abs(lm - closed) <= 1.5, (lm, closed)
        # what stat said is what a later stat (from the object) says
        mt = h.header("x-amz-meta-mtime")
        assert mt is None or abs(float(mt) - st.st_mtime) < 1, mt
        assert not m.bad_lines(allow=(r"obsmount debug:",))
    finally:
        c.delete_bucket_recursive(bucket)


def pinned_mount(rgw, tmp_path):
    c = client(rgw)
    bucket = new_bucket_name("fs")
    c.create_bucket(bucket)
    m = Mount(rgw, bucket, str(tmp_path), False, ["part_size=%d" % PART_MIB], [])
    m.s3 = c
    return m


# What the s3 layer says when a conditional request meets another version.
CHANGED = r"obsmount err: .*key='%s'.*(changed on the server|precondition failed)"


def test_read_pinned_to_opened_version(rgw, tmp_path):
    """A file another client replaces while it is open is not read as a mix
    of two versions: past what was read before, reads fail (ESTALE or EIO)
    and never return the new bytes; the log names the key. A new open
    reads the new version."""
    m = pinned_mount(rgw, tmp_path)
    size, far = 48 * MIB, 40 * MIB
    try:
        m.s3.put_object(m.bucket, "ab", b"A" * size)
        m.start()
        try:
            fd = os.open(m.path("ab"), os.O_RDONLY)
            try:
                assert os.pread(fd, MIB, 0) == b"A" * MIB
                m.s3.put_object(m.bucket, "ab", b"B" * size)
                for _ in range(2):
                    try:
                        got = os.pread(fd, MIB, far)
                    except OSError as e:
                        assert e.errno in (errno.ESTALE, errno.EIO), e
                    else:
                        raise AssertionError("read %d bytes of %r... after the replacement"
                                             % (len(got), got[:8]))
            finally:
                os.close(fd)
            with open(m.path("ab"), "rb") as f:
                f.seek(far)
                assert f.read(MIB) == b"B" * MIB
            log = m.read_log()
        finally:
            m.stop()
        assert re.search(CHANGED % "ab", log), log
        assert not m.bad_lines(allow=(CHANGED % "ab",))
    finally:
        m.s3.delete_bucket_recursive(m.bucket)


def test_append_pinned_to_opened_version(rgw, tmp_path):
    """An append copies the untouched parts server-side: after another
    client replaced the object, the close fails rather than join the new
    object's parts to ours, and the other client's object stays."""
    m = pinned_mount(rgw, tmp_path)
    size = 3 * PART_MIB * MIB
    try:
        m.s3.put_object(m.bucket, "log", b"A" * size)
        m.start()
        try:
            f = open(m.path("log"), "ab")
            m.s3.put_object(m.bucket, "log", b"B" * size)
            with pytest.raises(OSError) as ei:
                try:
                    f.write(b"C" * (PART_MIB * MIB + 7))
                    f.flush()
                finally:
                    f.close()
            assert ei.value.errno in (errno.ESTALE, errno.EIO), ei.value
            log = m.read_log()
        finally:
            m.stop()
        assert obj(m, "log") == b"B" * size
        assert re.search(CHANGED % "log", log), log
        assert not m.bad_lines(allow=(CHANGED % "log", r"discarding unstored data of 'log'"))
    finally:
        m.s3.delete_bucket_recursive(m.bucket)


def calendar_timegm(http_date):
    return calendar.timegm(time.strptime(http_date, "%a, %d %b %Y %H:%M:%S GMT"))


def test_unicode_and_spaces(d):
    m, t = d
    name = "ünïcødé файл 名前 with  spaces & +plus%.txt"
    write(m.path(t, name), b"u")
    assert os.listdir(m.path(t)) == [name]
    assert obj(m, t + "/" + name) == b"u"
    os.mkdir(m.path(t, "dir with space"))
    write(m.path(t, "dir with space", "ä b"), b"v")
    os.rename(m.path(t, "dir with space"), m.path(t, "dïr 2"))
    assert read(m.path(t, "dïr 2", "ä b")) == b"v"


# ---- rename -------------------------------------------------------------

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2


def renameat2(src, dst, flags):
    libc = ctypes.CDLL(None, use_errno=True)
    r = libc.renameat2(-100, src.encode(), -100, dst.encode(), flags)
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def test_rename_file(d):
    m, t = d
    data = os.urandom(PART_MIB * MIB + 3)
    write(m.path(t, "a"), data)
    os.chmod(m.path(t, "a"), 0o604)
    os.rename(m.path(t, "a"), m.path(t, "b"))
    assert not os.path.exists(m.path(t, "a"))
    assert sha(read(m.path(t, "b"))) == sha(data)
    assert stat.S_IMODE(os.stat(m.path(t, "b")).st_mode) == 0o604
    with pytest.raises(s3c.S3Error):
        head(m, t + "/a")
    # Onto an existing file: replaced.
    write(m.path(t, "c"), b"old")
    os.rename(m.path(t, "b"), m.path(t, "c"))
    assert sha(read(m.path(t, "c"))) == sha(data)
    assert sorted(os.listdir(m.path(t))) == ["c"]
    write(m.path(t, "e"), b"e")
    assert errno_of(renameat2, m.path(t, "e"), m.path(t, "c"),
                    RENAME_NOREPLACE) == errno.EEXIST
    assert errno_of(renameat2, m.path(t, "e"), m.path(t, "c"),
                    RENAME_EXCHANGE) == errno.EINVAL
    renameat2(m.path(t, "e"), m.path(t, "f"), RENAME_NOREPLACE)
    assert read(m.path(t, "f")) == b"e"


def test_rename_open_dirty_file(d):
    m, t = d
    with open(m.path(t, "a"), "wb") as f:
        f.write(b"not yet stored")
        os.rename(m.path(t, "a"), m.path(t, "b"))
        f.write(b", and more")
    assert read(m.path(t, "b")) == b"not yet stored, and more"
    assert obj(m, t + "/b") == b"not yet stored, and more"
    assert not os.path.exists(m.path(t, "a"))


def test_rename_dir(d):
    m, t = d
    os.makedirs(m.path(t, "src", "x", "y"))
    write(m.path(t, "src", "f"), b"f")
    write(m.path(t, "src", "x", "y", "g"), b"g")
    m.s3.put_object(m.bucket, t + "/src/implicit/h", b"h")
    os.rename(m.path(t, "src"), m.path(t, "dst"))
    assert not os.path.exists(m.path(t, "src"))
    assert read(m.path(t, "dst", "f")) == b"f"
    assert read(m.path(t, "dst", "x", "y", "g")) == b"g"
    assert read(m.path(t, "dst", "implicit", "h")) == b"h"
    keys = [k for k in list_keys(m, t + "/") if k.startswith(t + "/src")]
    assert keys == []
    # Onto an empty directory: replaced; onto a non-empty one: refused.
    os.mkdir(m.path(t, "empty"))
    os.rename(m.path(t, "dst"), m.path(t, "empty"))
    assert read(m.path(t, "empty", "f")) == b"f"
    os.makedirs(m.path(t, "full", "z"))
    assert errno_of(os.rename, m.path(t, "empty"), m.path(t, "full")) == errno.ENOTEMPTY
    write(m.path(t, "file"), b"")
    assert errno_of(os.rename, m.path(t, "empty"), m.path(t, "file")) == errno.ENOTDIR
    assert errno_of(os.rename, m.path(t, "file"), m.path(t, "full")) == errno.EISDIR


def list_keys(m, prefix):
    keys, _ = m.s3.list_objects(m.bucket, prefix=prefix)
    return keys


# ---- metadata -----------------------------------------------------------

def proxied_mount(rgw, tmp_path, opts=()):
    """A mount in a new bucket whose requests all pass the test proxy (plain
    HTTP, no https_url=: the objects here are plain)."""
    c = client(rgw)
    bucket = new_bucket_name("fs")
    c.create_bucket(bucket)
    p = S3Proxy(rgw["OBSMOUNT_TEST_HTTP_URL"]).start()
    m = Mount(rgw, bucket, str(tmp_path), False, ["part_size=%d" % PART_MIB] + list(opts), [])
    i = m.argv.index("-o") + 1
    o = [x for x in m.argv[i].split(",")
         if not x.startswith("url=") and not x.startswith("https_url=")]
    m.argv[i] = ",".join(o + ["url=" + p.url])
    m.s3 = c
    return m, p


def slow_delete_then(p, action, timeout=20):
    """Run @action while the next DELETE through @p is held up: inside the
    window between a rename's copy and its delete."""
    p.set_rules([{"name": "slow-del", "method": "DELETE", "action": "delay", "ms": 1500,
                  "times": 1}])
    deadline = time.time() + timeout
    while not any(r.get("name") == "slow-del" and r.get("matched")
                  for r in p.rule_state()):
        assert time.time() < deadline, "no DELETE came"
        time.sleep(0.01)
    action()


def rename_in_thread(src, dst):
    out = {}

    def run():
        try:
            os.rename(src, dst)
            out["rc"] = 0
        except OSError as e:
            out["rc"] = e.errno
    t = threading.Thread(target=run)
    t.start()
    return t, out


def test_rename_against_writer(rgw, tmp_path):
    """A rename is serialized with flushes of the file it moves: a writer's
    fsync inside the window between copy and delete lands under the new
    name, not in the key the rename deletes."""
    m, p = proxied_mount(rgw, tmp_path)
    m.start()
    try:
        write(m.path("a"), b"v1")
        f = open(m.path("a"), "ab")
        t, out = rename_in_thread(m.path("a"), m.path("b"))

        def append_fsync():
            f.write(b"+v2")
            f.flush()
            os.fsync(f.fileno())
        slow_delete_then(p, append_fsync)
        t.join()
        assert out["rc"] == 0
        # fsync said stored: another client sees it, before close
        assert obj(m, "b") == b"v1+v2"
        f.close()
        assert read(m.path("b")) == b"v1+v2"
    finally:
        m.stop()
        p.stop()
    try:
        assert obj(m, "b") == b"v1+v2"
        keys, _ = m.s3.list_objects(m.bucket)
        assert keys == ["b"], keys
        assert not m.bad_lines()
    finally:
        m.s3.delete_bucket_recursive(m.bucket)


def test_rename_onto_open_target(rgw, tmp_path):
    """The target of a rename, open with unstored data and closed inside the
    window between copy and delete, does not overwrite the renamed data:
    it was replaced, as if unlinked."""
    m, p = proxied_mount(rgw, tmp_path)
    m.start()
    try:
        write(m.path("c"), b"c-data")
        write(m.path("d"), b"d-old")
        g = open(m.path("d"), "r+b")
        g.write(b"d-new")
        g.flush()
        t, out = rename_in_thread(m.path("c"), m.path("d"))
        slow_delete_then(p, g.close)
        t.join()
        assert out["rc"] == 0
        assert read(m.path("d")) == b"c-data"
    finally:
        m.stop()
        p.stop()
    try:
        assert obj(m, "d") == b"c-data"
        keys, _ = m.s3.list_objects(m.bucket)
        assert keys == ["d"], keys
        assert not m.bad_lines()
    finally:
        m.s3.delete_bucket_recursive(m.bucket)


def test_rename_dir_with_unstored_open_file(rgw, tmp_path):
    """A directory renamed while a file in it is open and not stored yet:
    the file moves too, and closing it does not bring the old directory
    back."""
    m, p = proxied_mount(rgw, tmp_path)
    m.start()
    try:
        os.mkdir(m.path("dir"))
        f = open(m.path("dir", "new"), "wb")
        f.write(b"first ")
        f.flush()
        os.rename(m.path("dir"), m.path("dir2"))
        f.write(b"second")
        f.close()
        assert read(m.path("dir2", "new")) == b"first second"
        assert not os.path.exists(m.path("dir"))
    finally:
        m.stop()
        p.stop()
    try:
        assert obj(m, "dir2/new") == b"first second"
        keys, _ = m.s3.list_objects(m.bucket)
        assert sorted(keys) == ["dir2/", "dir2/new"], keys
        assert not m.bad_lines()
    finally:
        m.s3.delete_bucket_recursive(m.bucket)


def test_chmod_chown_utimens(d):
    m, t = d
    p = m.path(t, "f")
    write(p, b"data")
    os.chmod(p, 0o751)
    os.chown(p, 1234, 5678)
    os.utime(p, ns=(1_600_000_000_123_456_789, 1_500_000_000_987_654_321))
    st = os.stat(p)
    assert stat.S_IMODE(st.st_mode) == 0o751
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert st.st_mtime_ns == 1_500_000_000_987_654_321
    assert st.st_atime_ns == 1_600_000_000_123_456_789
    h = head(m, t + "/f")
    assert int(h.header("x-amz-meta-mode")) == stat.S_IFREG | 0o751
    assert h.header("x-amz-meta-uid") == "1234"
    assert h.header("x-amz-meta-gid") == "5678"
    assert h.header("x-amz-meta-mtime") == "1500000000.987654321"
    assert obj(m, t + "/f") == b"data"
    # Directories, implicit ones included, keep their attributes too.
    m.s3.put_object(m.bucket, t + "/imp/x", b"")
    os.chmod(m.path(t, "imp"), 0o700)
    assert stat.S_IMODE(os.stat(m.path(t, "imp")).st_mode) == 0o700
    assert int(head(m, t + "/imp/").header("x-amz-meta-mode")) == stat.S_IFDIR | 0o700


def test_utimens_on_open_file(d):
    m, t = d
    p = m.path(t, "f")
    with open(p, "wb") as f:
        f.write(b"x" * 100)
        f.flush()
        os.utime(f.fileno(), ns=(1_000_000_000, 1_000_000_000))
        os.fchmod(f.fileno(), 0o600)
    st = os.stat(p)
    assert st.st_mtime_ns == 1_000_000_000
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert head(m, t + "/f").header("x-amz-meta-mtime") == "1"


def test_symlink(d):
    m, t = d
    os.symlink("../some/target with space", m.path(t, "l"))
    assert os.readlink(m.path(t, "l")) == "../some/target with space"
    st = os.lstat(m.path(t, "l"))
    assert stat.S_ISLNK(st.st_mode)
    assert st.st_size == len("../some/target with space")
    assert obj(m, t + "/l") == b"../some/target with space"
    assert int(head(m, t + "/l").header("x-amz-meta-mode")) & stat.S_IFMT(0o170000) \
        == stat.S_IFLNK
    write(m.path(t, "real"), b"r")
    os.symlink("real", m.path(t, "l2"))
    assert read(m.path(t, "l2")) == b"r"
    assert errno_of(os.readlink, m.path(t, "real")) == errno.EINVAL


def test_xattrs(d):
    m, t = d
    p = m.path(t, "f")
    write(p, b"x")
    os.setxattr(p, "user.color", b"blue")
    os.setxattr(p, "user.bin", bytes(range(8)))
    assert os.getxattr(p, "user.color") == b"blue"
    assert os.getxattr(p, "user.bin") == bytes(range(8))
    assert sorted(os.listxattr(p)) == ["user.bin", "user.color"]
    assert errno_of(os.setxattr, p, "user.color", b"x", os.XATTR_CREATE) == errno.EEXIST
    os.removexattr(p, "user.color")
    assert errno_of(os.getxattr, p, "user.color") == errno.ENODATA
    assert os.listxattr(p) == ["user.bin"]
    assert head(m, t + "/f").header("x-amz-meta-xattr")
    # Any namespace is stored, as s3fs does (test_interop checks the rest).
    assert errno_of(os.setxattr, p, "trusted.x", b"1") == 0
    assert read(p) == b"x"


def test_statfs(d):
    m, _ = d
    sv = os.statvfs(m.dir)
    assert sv.f_blocks > 1 << 30 and sv.f_bavail > 0 and sv.f_namemax == 255


# ---- interoperability -----------------------------------------------------

def test_foreign_objects(d):
    m, t = d
    m.s3.put_object(m.bucket, t + "/plain.txt", b"no metadata")
    m.s3.put_object(m.bucket, t + "/a/b/c.txt", b"deep")
    m.s3.put_object(m.bucket, t + "/marker/", b"")
    # s3fs's metadata, written by someone else.
    m.s3.put_object(m.bucket, t + "/s3fs", b"s", headers={
        "x-amz-meta-mode": str(stat.S_IFREG | 0o600), "x-amz-meta-uid": "42",
        "x-amz-meta-gid": "43", "x-amz-meta-mtime": "1400000000.5"})
    # Looked up by name, not listed first: the metadata is read. (A listing
    # first shows defaults with listing_attrs=1: test_listing_attrs_requests.)
    st = os.stat(m.path(t, "s3fs"))
    assert stat.S_IMODE(st.st_mode) == 0o600 and (st.st_uid, st.st_gid) == (42, 43)
    assert st.st_mtime_ns == 1_400_000_000_500_000_000
    assert sorted(os.listdir(m.path(t))) == ["a", "marker", "plain.txt", "s3fs"]
    st = os.stat(m.path(t, "plain.txt"))
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o644
    assert st.st_size == len(b"no metadata")
    assert st.st_uid == os.getuid()
    lm = head(m, t + "/plain.txt").header("last-modified")
    assert abs(st.st_mtime - time.mktime(time.strptime(lm, "%a, %d %b %Y %H:%M:%S GMT"))
               + time.timezone) < 2
    for dname in ("a", "a/b", "marker"):
        st = os.stat(m.path(t, dname))
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o755
    assert os.listdir(m.path(t, "marker")) == []
    assert os.listdir(m.path(t, "a")) == ["b"]
    assert read(m.path(t, "a", "b", "c.txt")) == b"deep"
    # Listed after the lookup: the metadata read then is kept.
    st = os.stat(m.path(t, "s3fs"))
    assert stat.S_IMODE(st.st_mode) == 0o600 and (st.st_uid, st.st_gid) == (42, 43)
    assert st.st_mtime_ns == 1_400_000_000_500_000_000


# ---- tools ----------------------------------------------------------------

def make_tree(root):
    os.makedirs(os.path.join(root, "a", "b"))
    os.makedirs(os.path.join(root, "empty dir"))
    files = {"top.txt": b"top\n", "a/one": os.urandom(1), "a/b/zero": b"",
             "a/b/big": os.urandom(PART_MIB * MIB + 1), "ünï cødé": b"u",
             "a/mid": os.urandom(70000)}
    for rel, data in files.items():
        write(os.path.join(root, rel), data)
    os.chmod(os.path.join(root, "a", "one"), 0o600)
    os.chmod(os.path.join(root, "a", "b"), 0o711)
    os.symlink("a/one", os.path.join(root, "link"))
    for i, rel in enumerate(sorted(files)):
        os.utime(os.path.join(root, rel), ns=(1_600_000_000_000_000_000 + i,
                                               1_500_000_000_000_000_000 + i * 1000))
    return files


@pytest.mark.skipif(not shutil.which("rsync"), reason="rsync is not installed")
def test_rsync_round_trip(d, tmp_path):
    m, t = d
    src = str(tmp_path / "src")
    make_tree(src)
    dst = m.path(t, "copy")
    subprocess.run(["rsync", "-a", src + "/", dst + "/"], check=True)
    out = subprocess.run(["rsync", "-ac", "--dry-run", "--itemize-changes",
                          src + "/", dst + "/"], check=True,
                         stdout=subprocess.PIPE).stdout.decode()
    assert out.strip() == "", "rsync sees differences:\n" + out


def test_tar_extract(d, tmp_path):
    m, t = d
    src = str(tmp_path / "src")
    files = make_tree(src)
    archive = str(tmp_path / "t.tar")
    with tarfile.open(archive, "w") as tf:
        tf.add(src, arcname="tree")
    subprocess.run(["tar", "-xpf", archive, "-C", m.path(t)], check=True)
    subprocess.run(["tar", "--compare", "-f", archive, "-C", m.path(t)], check=True)
    for rel, data in files.items():
        assert sha(read(m.path(t, "tree", rel))) == sha(data)
        assert os.stat(m.path(t, "tree", rel)).st_mtime_ns == \
            os.stat(os.path.join(src, rel)).st_mtime_ns
    assert os.readlink(m.path(t, "tree", "link")) == "a/one"


# ---- mount-time behaviour -------------------------------------------------

def test_persists_across_remount(rgw, tmp_path):
    c = client(rgw)
    bucket = new_bucket_name("fs")
    c.create_bucket(bucket)
    try:
        m = Mount(rgw, bucket, str(tmp_path), True, [], [])
        m.start()
        try:
            os.makedirs(m.path("d", "e"))
            write(m.path("d", "e", "f"), b"persist")
            os.chmod(m.path("d", "e", "f"), 0o640)
            os.utime(m.path("d", "e", "f"), ns=(5, 7_000_000_000))
        finally:
            m.stop()
        m = Mount(rgw, bucket, str(tmp_path), True, ["uid=77", "umask=027"], [])
        m.start()
        try:
            st = os.stat(m.path("d", "e", "f"))
            assert read(m.path("d", "e", "f")) == b"persist"
            assert st.st_mtime_ns == 7_000_000_000
            assert st.st_uid == 77  # uid= overrides the metadata
            assert stat.S_IMODE(st.st_mode) == 0o640
            assert stat.S_IMODE(os.stat(m.path("d")).st_mode) == 0o750
        finally:
            m.stop()
        assert not m.bad_lines()
    finally:
        c.delete_bucket_recursive(bucket)


def test_prefix_mount(rgw, tmp_path):
    c = client(rgw)
    bucket = new_bucket_name("fs")
    c.create_bucket(bucket)
    try:
        c.put_object(bucket, "outside", b"o")
        c.put_object(bucket, "pre/fix/inside", b"i")
        m = Mount(rgw, bucket, str(tmp_path), True, [], [], prefix=":/pre/fix")
        m.start()
        try:
            assert os.listdir(m.dir) == ["inside"]
            write(m.path("new"), b"n")
        finally:
            m.stop()
        assert c.get_object(bucket, "pre/fix/new").body == b"n"
    finally:
        c.delete_bucket_recursive(bucket)


def run_bin(args, timeout=60):
    return subprocess.run([obsmount_bin()] + args, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout)


def test_missing_bucket_fails_before_mount(rgw, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("%s:%s\n" % (rgw["OBSMOUNT_TEST_ACCESS_KEY"],
                               rgw["OBSMOUNT_TEST_SECRET_KEY"]))
    pw.chmod(0o600)
    mp = tmp_path / "mp"
    mp.mkdir()
    r = run_bin(["no-such-bucket-" + new_bucket_name(), str(mp), "-o",
                 "url=%s,cafile=%s,passwd_file=%s,retries=0" % (
                     rgw["OBSMOUNT_TEST_HTTPS_URL"], rgw["OBSMOUNT_TEST_CA"], pw)])
    assert r.returncode == 2
    err = r.stderr.decode().strip().splitlines()
    assert any("does not exist" in line for line in err), err
    assert not os.path.ismount(str(mp))
    # An endpoint nobody listens on.
    r = run_bin(["nobucket", str(mp), "-o",
                 "url=http://127.0.0.1:9,passwd_file=%s,retries=0" % pw])
    assert r.returncode == 2
    assert "cannot reach bucket" in r.stderr.decode()


def test_bad_options_all_reported(tmp_path):
    r = run_bin(["b", str(tmp_path), "-o", "sigv=3,part_size=0,umask=9,nosuch_opt_x=1"])
    assert r.returncode == 1
    err = r.stderr.decode()
    for word in ("sigv", "part_size", "umask"):
        assert word in err
    assert not os.path.ismount(str(tmp_path))
    r = run_bin(["--help"])
    assert r.returncode == 0 and b"part_size=" in r.stdout
    r = run_bin(["--version"])
    assert r.returncode == 0 and b"libcurl" in r.stdout
