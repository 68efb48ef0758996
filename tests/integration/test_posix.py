# SPDX-License-Identifier: GPL-2.0-or-later
"""POSIX semantics on a shared mount: permission checks under allow_other,
chmod/chown rules, special files (FIFOs, devices, sockets) in s3fs-fuse's
format, names and keys that are too long.

Needs root, /dev/fuse and the user nobody (uid 65534).
"""
import errno
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import tempfile

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
