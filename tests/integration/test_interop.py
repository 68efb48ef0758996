# SPDX-License-Identifier: GPL-2.0-or-later
"""Interoperability with s3fs-fuse and other S3 tools on the same bucket:
what obsmount stores (Content-Type, xattrs) and how it reads objects that
others wrote (directory objects). Same mounts and log checks as test_fs.
"""
import errno
import os
import stat
import time
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_fs import MIB, PART_MIB, d, errno_of, head, list_keys, mnt, obj, read, write  # noqa: E402,F401

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/fuse"),
    reason="needs root and /dev/fuse")


def ctype(m, key):
    return head(m, key).header("content-type")


# ---- Content-Type -------------------------------------------------------

# What s3fs stores, from Debian's /etc/mime.types (package media-types).
TYPES = {"a.txt": "text/plain", "b.html": "text/html", "c.jpg": "image/jpeg",
         "d.unknownext": "application/octet-stream",
         "noext": "application/octet-stream",
         "notes.txt.unknownext": "text/plain"}


def test_content_type_put(d):
    m, t = d
    for name in TYPES:
        write(m.path(t, name), b"data")
    for name, want in TYPES.items():
        assert ctype(m, t + "/" + name) == want, name


def test_content_type_multipart(d):
    m, t = d
    write(m.path(t, "big.html"), os.urandom(PART_MIB * MIB + 17))
    assert ctype(m, t + "/big.html") == "text/html"


def test_content_type_rewrite_of_foreign_object(d):
    """An object stored by another tool with another type gets its name's
    type when written through the mount, as s3fs does."""
    m, t = d
    m.s3.put_object(m.bucket, t + "/x.txt", b"old",
                    headers={"Content-Type": "binary/octet-stream"})
    write(m.path(t, "x.txt"), b"new")
    assert ctype(m, t + "/x.txt") == "text/plain"


def test_content_type_rename(d):
    m, t = d
    write(m.path(t, "p.jpg"), b"jpeg")
    os.rename(m.path(t, "p.jpg"), m.path(t, "q.jpg"))
    assert ctype(m, t + "/q.jpg") == "image/jpeg"
    # s3fs types a renamed object by its new name.
    os.rename(m.path(t, "q.jpg"), m.path(t, "q.txt"))
    assert ctype(m, t + "/q.txt") == "text/plain"
    assert read(m.path(t, "q.txt")) == b"jpeg"
    # Also below a renamed directory, and kept by chmod.
    os.mkdir(m.path(t, "dir"))
    write(m.path(t, "dir", "i.html"), b"<p>")
    os.rename(m.path(t, "dir"), m.path(t, "dir2"))
    assert ctype(m, t + "/dir2/i.html") == "text/html"
    os.chmod(m.path(t, "dir2", "i.html"), 0o600)
    assert ctype(m, t + "/dir2/i.html") == "text/html"


# ---- extended attributes --------------------------------------------------

def put_multipart(m, key, data, headers=None):
    """Store @data as another tool would with a 2-part multipart upload."""
    uid = m.s3.create_multipart_upload(m.bucket, key, headers=headers)
    half = max(5 * MIB, len(data) // 2)
    etags = [m.s3.upload_part(m.bucket, key, uid, 1, data[:half]),
             m.s3.upload_part(m.bucket, key, uid, 2, data[half:])]
    m.s3.complete_multipart_upload(m.bucket, key, uid, etags)


def test_xattr_names_s3fs_accepts(d):
    """s3fs stores any name, not only user.*: setfattr -n key1 works."""
    m, t = d
    p = m.path(t, "f")
    write(p, b"data")
    os.setxattr(p, "key1", b"value1")
    os.setxattr(p, "key2", b"value2")
    os.setxattr(p, "trusted.k3", b"value3")
    assert os.getxattr(p, "key1") == b"value1"
    assert os.getxattr(p, "trusted.k3") == b"value3"
    os.removexattr(p, "key1")
    assert errno_of(os.getxattr, p, "key1") == errno.ENODATA
    assert os.getxattr(p, "key2") == b"value2"
    assert sorted(os.listxattr(p)) == ["key2", "trusted.k3"]
    assert read(p) == b"data"
    # The kernel's query on every write stays unanswered by the store.
    assert errno_of(os.getxattr, p, "security.capability") == errno.ENODATA


@pytest.mark.parametrize("size", [100, 2 * 5 * MIB + 3])
def test_xattr_on_foreign_object(d, size):
    m, t = d
    data = os.urandom(size)
    key = t + "/foreign"
    if size > 5 * MIB:
        put_multipart(m, key, data)
    else:
        m.s3.put_object(m.bucket, key, data)
    p = m.path(t, "foreign")
    os.setxattr(p, "key1", b"value1")
    os.setxattr(p, "user.k2", b"v2")
    assert os.getxattr(p, "key1") == b"value1"
    assert sorted(os.listxattr(p)) == ["key1", "user.k2"]
    assert read(p) == data
    assert obj(m, key) == data


# ---- ctime ------------------------------------------------------------------

T0 = 1000000000  # 9 September 2001, as s3fs's own tests use


def old(m, key, mode, content_type=None):
    h = {"x-amz-meta-atime": str(T0), "x-amz-meta-ctime": str(T0),
         "x-amz-meta-mtime": str(T0), "x-amz-meta-mode": str(mode)}
    if content_type:
        h["Content-Type"] = content_type
    m.s3.put_object(m.bucket, key, b"" if key.endswith("/") else b"old",
                    headers=h)


@pytest.mark.parametrize("kind", ["file", "dir"])
@pytest.mark.parametrize("op", ["chmod", "chown", "setxattr", "rename"])
def test_ctime_follows_change(d, kind, op):
    m, t = d
    if kind == "file":
        old(m, t + "/o", stat.S_IFREG | 0o644)
    else:
        old(m, t + "/o/", stat.S_IFDIR | 0o755, "application/x-directory")
        old(m, t + "/o/sub/", stat.S_IFDIR | 0o755, "application/x-directory")
        old(m, t + "/o/f", stat.S_IFREG | 0o644)
    p = m.path(t, "o")
    st0 = os.stat(p)
    assert int(st0.st_ctime) == T0 and int(st0.st_mtime) == T0
    if op == "chmod":
        os.chmod(p, 0o700)
    elif op == "chown":
        os.chown(p, 42, 43)
    elif op == "setxattr":
        os.setxattr(p, "user.k", b"v")
    else:
        os.rename(p, m.path(t, "n"))
        p = m.path(t, "n")
    st = os.stat(p)
    assert st.st_ctime > time.time() - 60, "ctime not updated"
    assert int(st.st_mtime) == T0, "mtime changed"
    if kind == "dir" and op == "rename":
        # Entries below a renamed directory keep every time, as in s3fs.
        for n in ("sub", "f"):
            sst = os.stat(m.path(t, "n", n))
            assert int(sst.st_ctime) == T0 and int(sst.st_mtime) == T0, n


# ---- directories made by other tools ---------------------------------------

def test_dir_object_without_metadata(d):
    """aws s3api put-object --key dir/: no metadata, no type."""
    m, t = d
    m.s3.put_object(m.bucket, t + "/cli/", b"")
    m.s3.put_object(m.bucket, t + "/cli/f", b"x")
    st = os.stat(m.path(t, "cli"))
    assert stat.S_ISDIR(st.st_mode)
    assert os.listdir(m.path(t, "cli")) == ["f"]
    assert "cli" in os.listdir(m.path(t))
    os.chmod(m.path(t, "cli"), 0o750)
    assert stat.S_IMODE(os.stat(m.path(t, "cli")).st_mode) == 0o750


@pytest.mark.parametrize("how", ["content-type", "mode"])
def test_old_s3fs_dir_object(d, how):
    """s3fs before 1.7x made "dir" (no slash) objects for directories."""
    m, t = d
    if how == "content-type":
        h = {"Content-Type": "application/x-directory"}
    else:
        h = {"x-amz-meta-mode": str(stat.S_IFDIR | 0o750)}
    m.s3.put_object(m.bucket, t + "/olddir", b"", headers=h)
    m.s3.put_object(m.bucket, t + "/olddir/inner", b"in")
    m.s3.put_object(m.bucket, t + "/emptyold", b"", headers=h)
    for name in ("olddir", "emptyold"):
        st = os.lstat(m.path(t, name))
        assert stat.S_ISDIR(st.st_mode), name
    assert sorted(os.listdir(m.path(t))) == ["emptyold", "olddir"]
    assert os.listdir(m.path(t, "olddir")) == ["inner"]
    assert os.listdir(m.path(t, "emptyold")) == []
    assert read(m.path(t, "olddir", "inner")) == b"in"
    write(m.path(t, "emptyold", "new"), b"n")
    assert read(m.path(t, "emptyold", "new")) == b"n"
    os.unlink(m.path(t, "emptyold", "new"))
    os.rmdir(m.path(t, "emptyold"))
    assert errno_of(os.stat, m.path(t, "emptyold")) == errno.ENOENT
    assert not [k for k in list_keys(m, t + "/emptyold")]


def test_chmod_dir_keeps_foreign_metadata(d):
    """chmod copies a listed directory's own object instead of making a new
    one, so metadata that other tools put there stays."""
    m, t = d
    m.s3.put_object(m.bucket, t + "/kept/", b"", headers={
        "x-amz-meta-owner-tool": "rclone", "Content-Type": "application/x-directory"})
    m.s3.put_object(m.bucket, t + "/kept/f", b"x")
    os.listdir(m.path(t))
    os.chmod(m.path(t, "kept"), 0o711)
    h = head(m, t + "/kept/")
    assert h.header("x-amz-meta-owner-tool") == "rclone"
    assert stat.S_IMODE(int(h.header("x-amz-meta-mode"))) == 0o711


# ---- an unlinked open file --------------------------------------------------

def test_fstat_and_io_after_unlink(d):
    m, t = d
    data = os.urandom(3 * PART_MIB * MIB + 5)
    m.s3.put_object(m.bucket, t + "/u", data)
    fd = os.open(m.path(t, "u"), os.O_RDWR)
    try:
        assert os.pread(fd, 10, 0) == data[:10]
        os.unlink(m.path(t, "u"))
        assert errno_of(os.stat, m.path(t, "u")) == errno.ENOENT
        assert list_keys(m, t + "/u") == []
        st = os.fstat(fd)
        assert st.st_size == len(data) and stat.S_ISREG(st.st_mode)
        # A range never read before the unlink.
        off = 2 * PART_MIB * MIB + 1
        assert os.pread(fd, 1000, off) == data[off:off + 1000]
        os.pwrite(fd, b"tail", len(data))
        assert os.fstat(fd).st_size == len(data) + 4
        assert os.pread(fd, 4, len(data)) == b"tail"
        os.fchmod(fd, 0o600)
        assert stat.S_IMODE(os.fstat(fd).st_mode) == 0o600
    finally:
        os.close(fd)
    assert errno_of(os.stat, m.path(t, "u")) == errno.ENOENT
    assert os.listdir(m.path(t)) == []
    assert list_keys(m, t + "/") == [t + "/"]


# ---- the mount point -------------------------------------------------------

def test_mount_point_times(mnt):
    """s3fs shows the mount time for the mount point; so do we, not 1970."""
    st = os.stat(mnt.dir)
    assert st.st_mtime > time.time() - 24 * 3600
    assert st.st_ctime > time.time() - 24 * 3600
    assert st.st_mtime <= time.time() + 5


# ---- s3fs-fuse 1.97 on the same bucket -------------------------------------

@pytest.fixture(scope="module")
def s3fs(mnt):
    from s3fs_mount import S3fsMount, s3fs_root
    if not s3fs_root(mnt.env):
        pytest.skip("no s3fs in the test server's root")
    s = S3fsMount(mnt.env, mnt.bucket)
    yield s
    s.stop()


def wait_for(fn, timeout=5):
    deadline = time.time() + timeout
    while True:
        try:
            return fn()
        except (OSError, AssertionError):
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def test_s3fs_reads_what_obsmount_wrote(d, s3fs):
    m, t = d
    os.mkdir(m.path(t, "dir"), 0o750)
    write(m.path(t, "dir", "f.txt"), b"hello")
    os.chmod(m.path(t, "dir", "f.txt"), 0o640)
    os.chown(m.path(t, "dir", "f.txt"), 1234, 5678)
    os.utime(m.path(t, "dir", "f.txt"), (1500000000, 1500000000))
    os.setxattr(m.path(t, "dir", "f.txt"), "user.k", b"v1")
    os.symlink("dir/f.txt", m.path(t, "ln"))

    def check():
        st = os.lstat(s3fs.path(t, "dir", "f.txt"))
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o640
        assert (st.st_uid, st.st_gid) == (1234, 5678)
        assert int(st.st_mtime) == 1500000000
    wait_for(check)
    dst = os.lstat(s3fs.path(t, "dir"))
    assert stat.S_ISDIR(dst.st_mode) and stat.S_IMODE(dst.st_mode) == 0o750
    assert read(s3fs.path(t, "dir", "f.txt")) == b"hello"
    assert os.getxattr(s3fs.path(t, "dir", "f.txt"), "user.k") == b"v1"
    assert os.readlink(s3fs.path(t, "ln")) == "dir/f.txt"
    assert sorted(os.listdir(s3fs.path(t))) == ["dir", "ln"]


def test_obsmount_reads_what_s3fs_wrote(d, s3fs):
    m, t = d
    os.mkdir(s3fs.path(t, "sd"), 0o710)
    write(s3fs.path(t, "sd", "g.html"), b"<p>")
    os.chmod(s3fs.path(t, "sd", "g.html"), 0o604)
    os.chown(s3fs.path(t, "sd", "g.html"), 4321, 8765)
    os.utime(s3fs.path(t, "sd", "g.html"), (1400000000, 1400000000))
    os.setxattr(s3fs.path(t, "sd", "g.html"), "user.x", b"y")
    os.setxattr(s3fs.path(t, "sd", "g.html"), "key1", b"value1")
    os.symlink("sd/g.html", s3fs.path(t, "sl"))
    st = os.lstat(m.path(t, "sd", "g.html"))
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o604
    assert (st.st_uid, st.st_gid) == (4321, 8765)
    assert int(st.st_mtime) == 1400000000
    dst = os.lstat(m.path(t, "sd"))
    assert stat.S_ISDIR(dst.st_mode) and stat.S_IMODE(dst.st_mode) == 0o710
    assert read(m.path(t, "sd", "g.html")) == b"<p>"
    assert os.getxattr(m.path(t, "sd", "g.html"), "user.x") == b"y"
    assert os.getxattr(m.path(t, "sd", "g.html"), "key1") == b"value1"
    assert os.readlink(m.path(t, "sl")) == "sd/g.html"
    assert sorted(os.listdir(m.path(t))) == ["sd", "sl"]
    # And obsmount's changes are what s3fs then shows.
    os.chmod(m.path(t, "sd", "g.html"), 0o600)
    os.rename(m.path(t, "sd", "g.html"), m.path(t, "sd", "h.html"))
    wait_for(lambda: os.lstat(s3fs.path(t, "sd", "h.html")))
    assert stat.S_IMODE(os.lstat(s3fs.path(t, "sd", "h.html")).st_mode) == 0o600
    assert os.getxattr(s3fs.path(t, "sd", "h.html"), "key1") == b"value1"
