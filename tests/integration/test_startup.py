# SPDX-License-Identifier: GPL-2.0-or-later
"""First contact: every refusal at start-up is one clear line on standard
error, before the process forks, with a non-zero exit status; --version
names the libraries as their projects write their versions; the manual
renders without warnings.

The refusals run the real binary in the background (no -f) against the
RGW test server, with working credentials, so that only the mistake under
test can stop it.
"""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import new_bucket_name
from test_fs import Mount, client, obsmount_bin

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/fuse"),
    reason="needs root and /dev/fuse")

SRCDIR = os.environ.get("OBSMOUNT_SRCDIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def setup(rgw):
    """(bucket, work dir, base options) for a mount that would succeed."""
    c = client(rgw)
    bucket = new_bucket_name("start")
    c.create_bucket(bucket)
    work = tempfile.mkdtemp(prefix="obsmount-start-")
    pw = os.path.join(work, "passwd")
    with open(pw, "w") as f:
        f.write("%s:%s\n" % (rgw["OBSMOUNT_TEST_ACCESS_KEY"], rgw["OBSMOUNT_TEST_SECRET_KEY"]))
    os.chmod(pw, 0o600)
    opts = ["url=" + rgw["OBSMOUNT_TEST_HTTPS_URL"], "passwd_file=" + pw,
            "cafile=" + rgw["OBSMOUNT_TEST_CA"],
            "region=" + rgw.get("OBSMOUNT_TEST_REGION", "us-east-1")]
    yield bucket, work, opts
    subprocess.run(["fusermount3", "-uz", os.path.join(work, "mp")], check=False,
                   stderr=subprocess.DEVNULL)
    c.delete_bucket_recursive(bucket)
    shutil.rmtree(work, ignore_errors=True)


def run(bucket, mp, opts, flags=()):
    r = subprocess.run([obsmount_bin(), bucket, mp, "-o", ",".join(opts)] + list(flags),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if r.returncode == 0:
        subprocess.run(["fusermount3", "-u", mp], check=False)
    return r.returncode, r.stderr.decode(errors="replace")


def refused(rc, err, *words):
    """Non-zero exit, one line on stderr that starts with obsmount: and
    contains every word."""
    lines = [l for l in err.splitlines() if l.strip()]
    assert rc != 0, "mount was not refused"
    assert lines, "nothing on stderr"
    assert lines[0].startswith("obsmount: "), lines
    for w in words:
        assert w in lines[0], (w, lines)
    # At most a hint line after the reason.
    assert all(l.startswith("Try ") for l in lines[1:]), lines


def mountpoint(work, name="mp"):
    p = os.path.join(work, name)
    os.makedirs(p, exist_ok=True)
    return p


@pytest.mark.parametrize("flags", [(), ("-f",)], ids=["background", "foreground"])
def test_unknown_option(setup, flags):
    bucket, work, opts = setup
    rc, err = run(bucket, mountpoint(work), opts + ["bogus=1"], flags)
    refused(rc, err, "bogus=1", "unknown option")


def test_mistake_reported_before_credentials(tmp_path):
    """A mistake in the command line is named first, not hidden behind the
    credentials or the endpoint that the mount would look for next."""
    mp = mountpoint(str(tmp_path))
    env = dict(os.environ, HOME=str(tmp_path))
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(k, None)
    for args, words in ((["bkt", mp, "-o", "bogus=1"], ("bogus=1", "unknown option")),
                        (["bkt", mp, "-x"], ("-x", "unknown option")),
                        (["b", mp], ("'b'", "bucket name"))):
        r = subprocess.run([obsmount_bin()] + args, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env, timeout=60)
        refused(r.returncode, r.stderr.decode(errors="replace"), *words)


def test_missing_mount_point(setup):
    bucket, work, opts = setup
    mp = os.path.join(work, "no-such-dir")
    rc, err = run(bucket, mp, opts)
    refused(rc, err, mp)


def test_mount_point_not_empty(setup):
    bucket, work, opts = setup
    mp = mountpoint(work)
    with open(os.path.join(mp, "file"), "w") as f:
        f.write("x")
    rc, err = run(bucket, mp, opts)
    refused(rc, err, mp, "not empty", "nonempty")
    # nonempty: the admin's explicit choice.
    rc, err = run(bucket, mp, opts + ["nonempty"])
    assert rc == 0, err


def test_mount_point_already_mounted(setup, rgw):
    bucket, work, opts = setup
    m = Mount(rgw, bucket, work, True, [], [])
    m.start()
    try:
        rc, err = run(bucket, m.dir, opts)
        refused(rc, err, m.dir, "already a mount point")
        assert os.path.ismount(m.dir)
    finally:
        m.stop()


def test_contradicting_options(setup, rgw):
    bucket, work, opts = setup
    plain = [o for o in opts if not o.startswith("url=")]
    plain.append("url=" + rgw["OBSMOUNT_TEST_HTTP_URL"])
    rc, err = run(bucket, mountpoint(work), plain + ["sse=kms", "guard=strict"])
    refused(rc, err, "sse=kms", "guard")


def test_version_names_library_versions():
    r = subprocess.run([obsmount_bin(), "--version"], stdout=subprocess.PIPE, check=True)
    out = r.stdout.decode()
    assert re.search(r"^libfuse 3\.\d+\.\d+,", out, re.M), out
    assert re.search(r"libcurl \d+\.\d+\.\d+", out), out
    assert re.search(r"OpenSSL 3\.\d+\.\d+", out), out
    assert re.search(r"libxml2 2\.\d+\.\d+", out), out


@pytest.mark.skipif(shutil.which("man") is None, reason="man(1) is not installed")
def test_manual_renders_without_warnings():
    env = dict(os.environ, MANWIDTH="80")
    for page in ("obsmount.1", "obsmount-rekey.1"):
        path = os.path.join(SRCDIR, "man", page)
        if not os.path.exists(path):
            continue
        r = subprocess.run(["man", "-l", path], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, env=env, timeout=60)
        assert r.returncode == 0 and r.stderr == b"", (page, r.stderr.decode())
