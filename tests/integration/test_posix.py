# SPDX-License-Identifier: GPL-2.0-or-later
"""POSIX semantics on a shared mount: permission checks under allow_other,
chmod/chown rules, special files (FIFOs, devices, sockets) in s3fs-fuse's
format, names and keys that are too long.

Needs root, /dev/fuse and the user nobody (uid 65534).
"""
import errno
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_fs import Mount, client, errno_of  # noqa: E402
from conftest import new_bucket_name  # noqa: E402

NOBODY = 65534

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/fuse"),
    reason="needs root and /dev/fuse")


@pytest.fixture
def shared(rgw):
    """A fresh bucket and a factory of allow_other mounts on it over HTTPS."""
    c = client(rgw)
    bucket = new_bucket_name("px")
    c.create_bucket(bucket)
    work = tempfile.mkdtemp(prefix="obsmount-px-")
    # Other users must reach the mount point.
    os.chmod(work, 0o755)
    mounts = []

    def mount(*opts, sub="m"):
        w = os.path.join(work, sub)
        os.makedirs(w, exist_ok=True)
        os.chmod(w, 0o755)
        m = Mount(rgw, bucket, w, True, ["allow_other"] + list(opts), [])
        m.s3 = c
        m.bucket = bucket
        m.start()
        mounts.append(m)
        return m

    yield mount
    try:
        for m in mounts:
            m.stop()
    finally:
        c.delete_bucket_recursive(bucket)
        shutil.rmtree(work, ignore_errors=True)


def as_nobody(script):
    """Run @script with /bin/sh as nobody; (exit status, stdout, stderr)."""
    pwd.getpwuid(NOBODY)
    r = subprocess.run(["su", pwd.getpwuid(NOBODY).pw_name, "-s", "/bin/sh", "-c", script],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def test_allow_other_checks_permissions(shared):
    """The issue's example: root's mode-0600 file on an allow_other mount is
    neither readable nor removable by nobody."""
    m = shared()
    p = m.path("p")
    with open(p, "w") as f:
        f.write("secret\n")
    os.chmod(p, 0o600)
    rc, out, err = as_nobody("cat '%s'" % p)
    assert rc != 0 and "secret" not in out
    assert "Permission denied" in err, err
    rc, out, err = as_nobody("rm -f '%s'" % p)
    assert rc != 0 and "Permission denied" in err, err
    assert os.path.exists(p)
    with open(p) as f:
        assert f.read() == "secret\n"
    # What the mode allows still works.
    os.chmod(p, 0o644)
    rc, out, err = as_nobody("cat '%s'" % p)
    assert rc == 0 and out == "secret\n", err
    assert not m.bad_lines()


def test_no_default_permissions_warns_and_keeps_chown_rules(shared):
    """Opting out of the kernel's checks is loud; chmod and chown keep their
    POSIX rules in obsmount itself."""
    m = shared("no_default_permissions")
    assert any("no_default_permissions" in line for line in m.bad_lines()), m.read_log()
    p = m.path("f")
    with open(p, "w") as f:
        f.write("x")
    os.chmod(p, 0o644)
    # Not the owner: neither chmod nor chown nor chgrp.
    rc, _, err = as_nobody("chmod 666 '%s'" % p)
    assert rc != 0 and "not permitted" in err, err
    rc, _, err = as_nobody("chown %d '%s'" % (NOBODY, p))
    assert rc != 0 and "not permitted" in err, err
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o644 and os.stat(p).st_uid == 0
    # An owner that is not root cannot give the file away, nor pick a group
    # it is not in; root can do both.
    os.chown(p, NOBODY, NOBODY)
    rc, _, err = as_nobody("chown 0 '%s'" % p)
    assert rc != 0 and "not permitted" in err, err
    rc, _, err = as_nobody("chgrp 0 '%s'" % p)
    assert rc != 0 and "not permitted" in err, err
    rc, _, err = as_nobody("chmod 600 '%s'" % p)
    assert rc == 0, err
    st = os.stat(p)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (NOBODY, NOBODY, 0o600)


def test_chown_and_write_clear_setid_bits(shared):
    """A non-root chown or write clears set-user-ID and set-group-ID."""
    m = shared()
    d = m.path("d")
    os.mkdir(d)
    os.chmod(d, 0o777)
    p = os.path.join(d, "f")
    with open(p, "w") as f:
        f.write("x")
    os.chown(p, NOBODY, NOBODY)
    os.chmod(p, 0o6777)
    rc, _, err = as_nobody("echo y >> '%s'" % p)
    assert rc == 0, err
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o0777
    os.chmod(p, 0o6755)
    rc, _, err = as_nobody("chgrp %d '%s'" % (NOBODY, p))
    assert rc == 0, err
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o0755


# ---- special files ----------------------------------------------------------

SPECIAL = {
    "fifo": (stat.S_IFIFO, 0),
    "chr": (stat.S_IFCHR, os.makedev(1, 2)),
    "blk": (stat.S_IFBLK, os.makedev(8, 3)),
    "sock": (stat.S_IFSOCK, 0),
}


def make_special(d):
    """One of each special file under directory @d."""
    for name, (kind, rdev) in SPECIAL.items():
        p = os.path.join(d, name)
        if kind == stat.S_IFSOCK:
            s = socket.socket(socket.AF_UNIX)
            try:
                s.bind(p)
            finally:
                s.close()
        else:
            os.mknod(p, kind | 0o640, rdev)


def types_of(d, names):
    return {n: stat.S_IFMT(os.lstat(os.path.join(d, n)).st_mode) for n in names}


def test_special_files(shared):
    """FIFOs, devices and sockets: type, mode, owner and st_rdev survive a
    remount; rename, chmod, chown, utimens and unlink work on them; the
    objects are empty and carry s3fs-fuse's mode header."""
    m = shared()
    make_special(m.dir)
    # bind(2) asks for the socket's mode under the umask: note what it made.
    sock_mode = stat.S_IMODE(os.lstat(m.path("sock")).st_mode)
    m.stop()
    m.start()
    for name, (kind, rdev) in SPECIAL.items():
        st = os.lstat(m.path(name))
        assert stat.S_IFMT(st.st_mode) == kind, name
        assert stat.S_IMODE(st.st_mode) == (sock_mode if name == "sock" else 0o640), name
        assert (st.st_uid, st.st_gid, st.st_size) == (0, 0, 0), name
        assert st.st_rdev == rdev, name
        h = m.s3.head_object(m.bucket, name)
        assert int(h.header("x-amz-meta-mode")) == st.st_mode, name
        assert h.header("content-length") == "0", name
    assert sorted(os.listdir(m.dir)) == sorted(SPECIAL)
    for name, (kind, rdev) in SPECIAL.items():
        p, q = m.path(name), m.path(name + ".2")
        os.chmod(p, 0o604)
        os.chown(p, NOBODY, NOBODY)
        os.utime(p, (1000000000, 1100000000), follow_symlinks=False)
        os.rename(p, q)
        assert errno_of(os.lstat, p) == errno.ENOENT
        st = os.lstat(q)
        assert (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode)) == (kind, 0o604), name
        assert (st.st_uid, st.st_gid, st.st_rdev) == (NOBODY, NOBODY, rdev), name
        assert st.st_mtime == 1100000000, name
    m.stop()
    m.start()
    for name, (kind, rdev) in SPECIAL.items():
        st = os.lstat(m.path(name + ".2"))
        assert (stat.S_IFMT(st.st_mode), st.st_uid, st.st_rdev) == (kind, NOBODY, rdev)
        os.unlink(m.path(name + ".2"))
    assert os.listdir(m.dir) == []
    keys, _ = m.s3.list_objects(m.bucket)
    assert keys == []
    assert not m.bad_lines()


def s3fs_root(rgw):
    root = rgw.get("OBSMOUNT_TEST_RGW_ROOT", "")
    if not root or not os.access(os.path.join(root, "usr/bin/s3fs"), os.X_OK):
        pytest.skip("no s3fs-fuse in the test server's root")
    return root


class S3fs:
    """s3fs-fuse (1.97, from the test server's Debian root, run there with
    chroot) mounted on a bucket; its mount point is seen from here too."""

    def __init__(self, rgw, bucket):
        self.root = s3fs_root(rgw)
        self.rel = tempfile.mkdtemp(prefix="obsmount-s3fs-", dir=os.path.join(self.root, "tmp"))
        self.rel = self.rel[len(self.root):]
        self.dir = self.root + self.rel + "/mnt"
        os.mkdir(self.dir)
        with open(self.root + self.rel + "/pw", "w") as f:
            f.write("%s:%s\n" % (rgw["OBSMOUNT_TEST_ACCESS_KEY"], rgw["OBSMOUNT_TEST_SECRET_KEY"]))
        os.chmod(self.root + self.rel + "/pw", 0o600)
        self.log = open(self.root + self.rel + "/log", "wb")
        self.proc = subprocess.Popen(
            ["chroot", self.root, "/usr/bin/s3fs", bucket, self.rel + "/mnt", "-f", "-o",
             "url=%s,use_path_request_style,passwd_file=%s/pw,endpoint=%s" % (
                 rgw["OBSMOUNT_TEST_HTTP_URL"], self.rel,
                 rgw.get("OBSMOUNT_TEST_REGION", "us-east-1"))],
            stdout=self.log, stderr=self.log)
        for _ in range(200):
            if os.path.ismount(self.dir) or self.proc.poll() is not None:
                break
            time.sleep(0.05)
        assert os.path.ismount(self.dir), open(self.root + self.rel + "/log").read()

    def stop(self):
        subprocess.run(["fusermount3", "-u", self.dir], check=False)
        try:
            self.proc.wait(timeout=30)
        finally:
            self.log.close()
            shutil.rmtree(self.root + self.rel, ignore_errors=True)


def test_special_files_s3fs_interop(shared, rgw):
    """Special files made by obsmount have their type under s3fs-fuse 1.97,
    and those made by s3fs-fuse under obsmount."""
    m = shared()
    os.mkdir(m.path("ours"))
    make_special(m.path("ours"))
    s = S3fs(rgw, m.bucket)
    try:
        assert types_of(os.path.join(s.dir, "ours"), SPECIAL) == {
            n: k for n, (k, _) in SPECIAL.items()}
        os.mkdir(os.path.join(s.dir, "theirs"))
        make_special(os.path.join(s.dir, "theirs"))
        ours_rdev = os.lstat(os.path.join(s.dir, "ours", "chr")).st_rdev
    finally:
        s.stop()
    # s3fs stores no device number; the type is all it keeps.
    assert ours_rdev in (0, SPECIAL["chr"][1])
    m.stop()
    m.start()
    assert types_of(m.path("theirs"), SPECIAL) == {n: k for n, (k, _) in SPECIAL.items()}
    assert os.lstat(m.path("theirs", "chr")).st_rdev == 0
    assert not m.bad_lines()


# ---- limits -------------------------------------------------------------------

def requests_since(m, since):
    return [line for line in m.read_log(since).splitlines()
            if re.search(r"obsmount debug: > [A-Z]+ /", line)]


def test_name_and_key_too_long(shared):
    """A name over 255 bytes and a key over S3's 1,024 bytes fail with
    ENAMETOOLONG at once: no request, no retries, no error logged."""
    m = shared("log_level=debug", "dbg=http")
    ok = "n" * 255
    with open(m.path(ok), "w"):
        pass
    d = m.dir
    for i in range(4):
        d = os.path.join(d, str(i) * 250)
        os.mkdir(d)
    since = os.path.getsize(m.logpath)
    assert requests_since(m, 0), "the log shows no requests at all"
    long_name = m.path("n" * 256)
    for fn in (lambda: open(long_name, "w"), lambda: os.mkdir(long_name),
               lambda: os.stat(long_name), lambda: os.mkfifo(long_name),
               lambda: os.rename(m.path(ok), long_name),
               lambda: os.symlink("t", long_name),
               lambda: open(os.path.join(d, "x" * 30), "w"),
               lambda: os.mkdir(os.path.join(d, "x" * 30)),
               lambda: os.rename(m.path(ok), os.path.join(d, "x" * 30))):
        with pytest.raises(OSError) as e:
            fn()
        assert e.value.errno == errno.ENAMETOOLONG
    assert requests_since(m, since) == []
    assert os.path.exists(m.path(ok))
    assert not m.bad_lines(allow=(r"obsmount debug:",))


# ---- times --------------------------------------------------------------------

@pytest.mark.parametrize("size", [5, 0])
def test_open_trunc_sets_times(shared, size):
    """open(O_TRUNC) changes the file, empty or not: mtime and ctime move,
    and the stored object keeps them past a remount (pjdfstest open/00.t)."""
    m = shared()
    p = m.path("t%d" % size)
    with open(p, "wb") as f:
        f.write(b"x" * size)
    before = os.stat(p)
    time.sleep(1.05)
    os.close(os.open(p, os.O_WRONLY | os.O_TRUNC))
    after = os.stat(p)
    assert after.st_size == 0
    assert after.st_mtime > before.st_mtime and after.st_ctime > before.st_ctime
    m.stop()
    m.start()
    assert os.stat(p).st_mtime == after.st_mtime
    assert not m.bad_lines()


def test_parent_times(shared):
    """Adding, removing or renaming an entry moves the directory's mtime and
    ctime (kept in the directory's marker object, so past a remount), also
    for the mount root while mounted."""
    m = shared()
    d = m.path("d")
    os.mkdir(d)
    os.utime(d, (1000000000, 1000000000))
    steps = [
        lambda: open(os.path.join(d, "f"), "w").close(),
        lambda: os.mkdir(os.path.join(d, "sub")),
        lambda: os.symlink("t", os.path.join(d, "l")),
        lambda: os.mkfifo(os.path.join(d, "p")),
        lambda: os.rename(os.path.join(d, "f"), os.path.join(d, "g")),
        lambda: os.unlink(os.path.join(d, "g")),
        lambda: os.rmdir(os.path.join(d, "sub")),
    ]
    for step in steps:
        before = os.stat(d)
        time.sleep(1.05)
        step()
        after = os.stat(d)
        assert after.st_mtime > before.st_mtime and after.st_ctime > before.st_ctime
    root = os.stat(m.dir).st_mtime
    time.sleep(1.05)
    os.mkdir(m.path("e"))
    assert os.stat(m.dir).st_mtime > root
    last = os.stat(d).st_mtime
    m.stop()
    m.start()
    assert os.stat(d).st_mtime == last
    assert not m.bad_lines()


def test_file_too_large(shared):
    """Past S3's largest object (5 TiB): EFBIG at once, for truncate,
    ftruncate and write, and the file stays as it was."""
    m = shared()
    p = m.path("f")
    with open(p, "wb") as f:
        f.write(b"abc")
    assert errno_of(os.truncate, p, 999999999999999) == errno.EFBIG
    fd = os.open(p, os.O_RDWR)
    try:
        assert errno_of(os.ftruncate, fd, (5 << 40) + 1) == errno.EFBIG
        assert errno_of(os.pwrite, fd, b"x", 5 << 40) == errno.EFBIG
    finally:
        os.close(fd)
    with open(p, "rb") as f:
        assert f.read() == b"abc"
    assert not m.bad_lines()


def test_link_is_eperm(shared):
    """No hard links: EPERM, nothing stored."""
    m = shared()
    open(m.path("a"), "w").close()
    assert errno_of(os.link, m.path("a"), m.path("b")) == errno.EPERM
    assert sorted(os.listdir(m.dir)) == ["a"]
    assert os.stat(m.path("a")).st_nlink == 1
