# SPDX-License-Identifier: GPL-2.0-or-later
"""Interoperability with s3fs-fuse and other S3 tools on the same bucket:
what obsmount stores (Content-Type, xattrs) and how it reads objects that
others wrote (directory objects). Same mounts and log checks as test_fs.
"""
import errno
import os
import stat
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_fs import MIB, PART_MIB, d, errno_of, head, mnt, read, write  # noqa: E402,F401

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
