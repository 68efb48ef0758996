# SPDX-License-Identifier: GPL-2.0-or-later
"""Deferred metadata changes (meta_delay=): a chmod, chown, utimens or
xattr change of a stored file waits up to a second, so that later changes
merge into it and a rename carries it in its own copy. Checked on the wire
(through the recording proxy) and by another client reading the bucket.
"""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TESTS, "integration"))
from test_fs import proxied_mount, write  # noqa: E402

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/fuse"),
    reason="needs root and /dev/fuse")


def head(m, key):
    """What another client sees now (no sync of the mount first)."""
    return m.s3.head_object(m.bucket, key)


def obj(m, key):
    return m.s3.get_object(m.bucket, key).body


def requests(p, since=0):
    """(method, key, is_copy) of the requests the proxy saw after @since."""
    out = []
    for r in p.records()[since:]:
        h = {k.lower() for k, _ in (r.get("headers") or [])}
        key = r["path"].split("/", 2)[2] if r["path"].count("/") >= 2 else ""
        out.append((r["method"], key, "x-amz-copy-source" in h))
    return out


def copies_of(reqs, key):
    return [r for r in reqs if r[0] == "PUT" and r[2] and r[1] == key]


def mode_of(m, key):
    return int(head(m, key).header("x-amz-meta-mode")) & 0o7777


@pytest.fixture
def pm(rgw, tmp_path):
    m, p = proxied_mount(rgw, tmp_path)
    m.start()
    yield m, p
    try:
        m.stop()
    finally:
        p.stop()
        m.s3.delete_bucket_recursive(m.bucket)


def test_rsync_pattern_makes_no_self_copy(pm):
    """close, chmod, utimens, rename (what rsync does per file): one PUT,
    one copy (the rename's, carrying mode and times), one DELETE; the
    object ends with the mode and times that were set."""
    m, p = pm
    write(m.path(".tmp.x"), b"payload")
    since = len(p.records())
    os.chmod(m.path(".tmp.x"), 0o640)
    os.utime(m.path(".tmp.x"), ns=(1_500_000_000_000_000_000, 1_400_000_000_123_456_789))
    os.rename(m.path(".tmp.x"), m.path("x"))
    reqs = requests(p, since)
    assert copies_of(reqs, ".tmp.x") == [], reqs
    assert len(copies_of(reqs, "x")) == 1, reqs
    st = os.stat(m.path("x"))
    assert st.st_mode & 0o7777 == 0o640
    assert st.st_mtime_ns == 1_400_000_000_123_456_789
    # what the server holds, read by another client
    assert obj(m, "x") == b"payload"
    assert mode_of(m, "x") == 0o640
    assert head(m, "x").header("x-amz-meta-mtime").startswith("1400000000.123456789")
    assert not m.bad_lines()


def test_change_reaches_server_within_delay(pm):
    """Without a rename, the change is applied by one copy within about a
    second; several changes merge into that copy."""
    m, p = pm
    write(m.path("f"), b"data")
    since = len(p.records())
    os.chmod(m.path("f"), 0o600)
    os.chown(m.path("f"), 65534, 65534)
    os.chmod(m.path("f"), 0o604)
    # shown at once through the mount
    assert os.stat(m.path("f")).st_mode & 0o7777 == 0o604
    deadline = time.time() + 5
    while time.time() < deadline and mode_of(m, "f") != 0o604:
        time.sleep(0.1)
    assert mode_of(m, "f") == 0o604
    assert head(m, "f").header("x-amz-meta-uid") == "65534"
    time.sleep(1.5)
    assert len(copies_of(requests(p, since), "f")) == 1, requests(p, since)
    assert obj(m, "f") == b"data"


def test_fsync_forces_change_out(pm):
    m, p = pm
    write(m.path("g"), b"data")
    os.chmod(m.path("g"), 0o611)
    fd = os.open(m.path("g"), os.O_RDONLY)
    try:
        os.fsync(fd)
        # applied before fsync returned, no waiting
        assert mode_of(m, "g") == 0o611
    finally:
        os.close(fd)
    # fsync of the directory too
    os.chmod(m.path("g"), 0o612)
    dfd = os.open(m.dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
        assert mode_of(m, "g") == 0o612
    finally:
        os.close(dfd)


def test_unmount_applies_pending_change(rgw, tmp_path):
    m, p = proxied_mount(rgw, tmp_path)
    m.start()
    try:
        write(m.path("h"), b"data")
        os.chmod(m.path("h"), 0o613)
    finally:
        m.stop()
        p.stop()
    try:
        assert mode_of(m, "h") == 0o613
    finally:
        m.s3.delete_bucket_recursive(m.bucket)


def test_change_never_overwrites_another_clients_version(pm):
    """A change pending while another client replaces the object is not
    applied to that new version: its bytes and headers stay."""
    m, p = pm
    write(m.path("k"), b"mine")
    os.chmod(m.path("k"), 0o600)
    m.s3.put_object(m.bucket, "k", b"theirs", headers={"x-amz-meta-mode": str(0o100644)})
    time.sleep(2.5)
    assert obj(m, "k") == b"theirs"
    assert mode_of(m, "k") == 0o644


def test_open_for_writing_applies_change_first(pm):
    """A file opened for writing starts from its applied metadata: the
    upload at close keeps the change, and no second copy follows."""
    m, p = pm
    write(m.path("w"), b"one")
    os.chmod(m.path("w"), 0o620)
    with open(m.path("w"), "ab") as f:
        f.write(b"two")
    assert obj(m, "w") == b"onetwo"
    assert mode_of(m, "w") == 0o620
    assert os.stat(m.path("w")).st_mode & 0o7777 == 0o620


def test_rsync_tree(pm, tmp_path):
    """rsync -a of a small tree: modes, times and bytes arrive, and a
    second rsync with nothing changed stores nothing."""
    if shutil.which("rsync") is None:
        pytest.skip("rsync is not installed")
    m, p = pm
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for i in range(6):
        f = src / ("sub" if i % 2 else "") / ("f%d.txt" % i)
        f.write_bytes(b"x" * (100 * i + 1))
        os.chmod(f, 0o600 + i)
        os.utime(f, ns=(1_600_000_000_000_000_000 + i, 1_500_000_000_000_000_000 + i * 1000))
    subprocess.run(["rsync", "-a", str(src) + "/", m.path("dst") + "/"], check=True)
    since = len(p.records())
    for i in range(6):
        rel = os.path.join("sub" if i % 2 else "", "f%d.txt" % i)
        st = os.stat(os.path.join(m.path("dst"), rel))
        assert st.st_mode & 0o7777 == 0o600 + i
        assert st.st_mtime_ns == 1_500_000_000_000_000_000 + i * 1000
        key = "dst/" + rel
        assert obj(m, key) == b"x" * (100 * i + 1)
        assert mode_of(m, key) == 0o600 + i
    subprocess.run(["rsync", "-a", str(src) + "/", m.path("dst") + "/"], check=True)
    writes = [r for r in requests(p, since) if r[0] in ("PUT", "POST", "DELETE")]
    assert writes == [], writes
    json.dumps(writes)
