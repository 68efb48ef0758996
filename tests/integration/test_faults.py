# SPDX-License-Identifier: GPL-2.0-or-later
"""The fault matrix: every operation under every fault ends one of two ways.

The mount's requests pass the test proxy (tests/proxy), which breaks them
as a rule says; an independent client (s3c), talking to the server
directly, then reads the object back and compares checksums. Each cell
(fault x operation) must end in one of:

- "ok": the operation returned 0 and the object is byte-exact what was
  written (for a read: the bytes read are the object's);
- "error": the operation returned an error and the previous version is
  intact (for a rename: under the old or the new name, whole); for a
  write, the release after the failed close tries once more, so the new
  version may land whole afterwards, never a part of it.

Anything else (0 and different bytes, an error and the previous version
damaged or gone, a dead daemon) fails the cell. The outcome of every cell
is printed, so that a run shows the table.

Beside the proxy's faults: staging space full (cache_dir on a tiny
tmpfs), and the daemon killed (SIGKILL) or stopped (SIGTERM) with dirty
files open.
"""
import errno
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TESTS, "server"))
sys.path.insert(0, os.path.join(TESTS, "integration"))
import s3c  # noqa: E402
from conftest import new_bucket_name  # noqa: E402
from s3proxy import S3Proxy  # noqa: E402
from test_fs import Mount  # noqa: E402

MIB = 1024 * 1024
SMALL = 1000
BIG = 12 * MIB  # three parts of 5 MiB
TIMEOUT = 2     # timeout= of the mount, seconds
OP_LIMIT = 180  # an operation that takes longer counts as hung

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/fuse"),
    reason="needs root and /dev/fuse")


def data_for(name, version, size):
    seed = hashlib.sha256(("%s/%s" % (name, version)).encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def sha(b):
    return hashlib.sha256(b).hexdigest() if b is not None else None


# fault name -> proxy rule (without method and path), or None for the
# faults that are not the proxy's
FAULTS = {
    "slowdown-storm": {"action": "slow_down"},
    "500-once": {"action": "internal_error", "times": 1},
    "500-storm": {"action": "internal_error"},
    "reset-request": {"action": "reset_request", "times": 1},
    "reset-response": {"action": "reset_response", "times": 1},
    "truncated-body": {"action": "truncate", "times": 1},
    "stall": {"action": "delay", "ms": (TIMEOUT + 3) * 1000, "times": 1},
    "upload-lost": {"action": "error", "status": 404, "code": "NoSuchUpload",
                    "message": "The specified upload does not exist.",
                    "query": "uploadId", "after": 1},
}

# operation -> (methods the fault aims at, size of the object)
OPS = {
    "put-small": (["PUT"], SMALL),
    "put-multipart": (["PUT", "POST"], BIG),
    "rename-small": (["PUT", "DELETE"], SMALL),
    "rename-multipart": (["PUT", "POST", "DELETE"], BIG),
    "chmod": (["PUT"], SMALL),
    "read": (["GET"], BIG),
}


class Env:
    def __init__(self, rgw):
        self.rgw = rgw
        self.s3 = s3c.client_from_env(https=True)
        self.bucket = new_bucket_name("flt")
        self.s3.create_bucket(self.bucket)
        self.proxy = S3Proxy(rgw["OBSMOUNT_TEST_HTTP_URL"]).start()
        self.work = tempfile.mkdtemp(prefix="obsmount-faults-")
        self.outcomes = {}

    def mount(self, sub, opts=()):
        w = os.path.join(self.work, sub)
        os.makedirs(w, exist_ok=True)
        m = Mount(self.rgw, self.bucket, w, False,
                  ["part_size=5", "parallel=2", "retries=2", "timeout=%d" % TIMEOUT,
                   "stat_ttl=0", "dir_ttl=0"] + list(opts), [])
        # every request through the proxy: no https_url, url= the proxy
        i = m.argv.index("-o") + 1
        o = [x for x in m.argv[i].split(",")
             if not x.startswith("url=") and not x.startswith("https_url=")]
        m.argv[i] = ",".join(o + ["url=" + self.proxy.url])
        return m

    def obj(self, key):
        try:
            return self.s3.get_object(self.bucket, key).body
        except s3c.S3Error:
            return None

    def close(self):
        self.proxy.stop()
        try:
            self.s3.delete_bucket_recursive(self.bucket)
        finally:
            shutil.rmtree(self.work, ignore_errors=True)


@pytest.fixture(scope="module")
def env(rgw):
    e = Env(rgw)
    e.m = e.mount("main")
    e.m.start()
    yield e
    try:
        e.m.stop()
    finally:
        table = sorted(e.outcomes.items())
        if table:
            print("\nfault matrix (fault x operation -> outcome):")
            for (fault, op), out in table:
                print("  %-16s %-18s %s" % (fault, op, out))
        e.close()


def run_limited(fn):
    """Run @fn in a thread; its errno (0 on success), or fail past OP_LIMIT."""
    out = {}

    def body():
        try:
            out["ret"] = fn()
            out["rc"] = 0
        except OSError as ex:
            out["rc"] = ex.errno or errno.EIO
    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join(OP_LIMIT)
    assert not t.is_alive(), "operation hung past %d s" % OP_LIMIT
    return out["rc"], out.get("ret")


def chmod_durable(path, mode):
    """chmod, then fsync: a metadata change may wait (meta_delay=), fsync
    makes it durable or reports why it is not."""
    os.chmod(path, mode)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def check_cell(e, m, fault, op, rule):
    methods, size = OPS[op]
    key = "%s--%s" % (op, fault)
    dst = key + ".dst"
    old = data_for(key, 1, size)
    new = data_for(key, 2, size)
    e.s3.put_object(e.bucket, key, old, headers={"x-amz-meta-mode": "33188"})

    if rule is not None:
        r = dict(rule)
        r["method"] = methods
        r["path"] = re.escape(key)
        r["name"] = "%s/%s" % (fault, op)
        e.proxy.set_rules([r])
    try:
        if op.startswith("put"):
            rc, _ = run_limited(lambda: write_file(m.path(key), new))
        elif op.startswith("rename"):
            rc, _ = run_limited(lambda: os.rename(m.path(key), m.path(dst)))
        elif op == "chmod":
            rc, _ = run_limited(lambda: chmod_durable(m.path(key), 0o600))
        else:
            rc, got = run_limited(lambda: read_file(m.path(key)))
        fired = sum(r["fired"] for r in e.proxy.rule_state())
    finally:
        e.proxy.clear_rules()
    # the fault really happened (a lost upload needs a multipart upload;
    # a rename below CopyObject's 5 GiB makes none)
    if rule is not None and (fault != "upload-lost" or op == "put-multipart"):
        assert fired > 0, "the fault never fired"

    # the daemon is alive and answers
    assert os.path.ismount(m.dir), "the mount is gone"
    os.stat(m.dir)

    late = False
    if op.startswith("put") and rc != 0:
        time.sleep(1)  # the release runs after close returned
    src_now, dst_now = e.obj(key), e.obj(dst)
    if op.startswith("put"):
        if rc == 0:
            assert sha(src_now) == sha(new), "close returned 0, object differs"
        else:
            # close failed; the release that follows tries once more
            # (for applications that never look at close's result): the
            # object is the previous version or the new one, whole
            assert sha(src_now) in (sha(old), sha(new)), \
                "error, and the object is neither version (%s bytes)" % (
                    len(src_now) if src_now is not None else "no object")
            if sha(src_now) == sha(new):
                late = True
    elif op.startswith("rename"):
        if rc == 0:
            assert sha(dst_now) == sha(old), "rename returned 0, target differs"
            assert src_now is None, "rename returned 0, source still there"
        else:
            # the data survives whole under one name or the other
            assert sha(old) in (sha(src_now), sha(dst_now)), \
                "rename failed and the data is gone"
            for b in (src_now, dst_now):
                assert b is None or sha(b) == sha(old), "a damaged copy is visible"
    elif op == "chmod":
        assert sha(src_now) == sha(old), "chmod changed the object's bytes"
        if rc == 0:
            h = e.s3.head_object(e.bucket, key)
            mode = int(h.header("x-amz-meta-mode", "0"))
            assert mode & 0o7777 == 0o600, "chmod returned 0, mode is %o" % mode
    else:
        assert sha(src_now) == sha(old)
        if rc == 0:
            assert sha(got) == sha(old), "read returned 0 with other bytes"
    outcome = "ok" if rc == 0 else "error (%s)" % errno.errorcode.get(rc, rc)
    if late:
        outcome += ", then stored whole by the release"
    e.outcomes[(fault, op)] = outcome
    return rc


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_cell(env, fault, op):
    rc = check_cell(env, env.m, fault, op, FAULTS[fault])
    # a fault that fires once is within the retries: it must not fail
    # the operation
    # a write's failure reads as one: not "no such file", not "try again"
    if op.startswith("put") or op == "read":
        assert rc not in (errno.ENOENT, errno.EAGAIN), errno.errorcode[rc]
    if FAULTS[fault].get("times") == 1 and fault != "stall":
        assert rc == 0, "one %s made %s fail with %s" % (
            fault, op, errno.errorcode.get(rc, rc))


def test_staging_space_full(env):
    """cache_dir on a tmpfs smaller than the file: the write or the close
    fails, or it all lands; the previous version is never damaged."""
    tmpfs = os.path.join(env.work, "tiny")
    os.makedirs(tmpfs)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", tmpfs], check=True)
    try:
        m = env.mount("tiny-mnt", ["cache_dir=" + tmpfs])
        m.start()
        try:
            for op in ("put-multipart", "put-small"):
                check_cell(env, m, "staging-full", op, None)
        finally:
            m.stop()
    finally:
        subprocess.run(["umount", "-l", tmpfs], check=False)


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_daemon_dies_with_dirty_files(env, sig):
    """The daemon killed or stopped while files are open with data not yet
    stored: nothing was acknowledged, so each object is whole, either the
    previous version or (after a clean stop that stored it) the new one."""
    m = env.mount("die-" + sig)
    m.start()
    files = {}
    try:
        for size in (SMALL, BIG):
            key = "die-%s-%d" % (sig, size)
            old, new = data_for(key, 1, size), data_for(key, 2, size)
            env.s3.put_object(env.bucket, key, old)
            f = open(m.path(key), "r+b")
            f.write(new)
            f.flush()
            files[key] = (f, old, new)
        m.proc.send_signal(getattr(signal, sig))
        try:
            m.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            m.proc.kill()
            m.proc.wait()
            raise AssertionError("obsmount did not exit on %s" % sig)
    finally:
        for f, _, _ in files.values():
            try:
                f.close()
            except OSError:
                pass
        subprocess.run(["fusermount3", "-uz", m.dir], check=False,
                       stderr=subprocess.DEVNULL)
        m.proc = None
        m.log.close()
    for key, (_, old, new) in files.items():
        now = sha(env.obj(key))
        assert now in (sha(old), sha(new)), "%s: %s left a mix" % (key, sig)
        env.outcomes[(sig, key)] = "previous" if now == sha(old) else "new"
    # an upload cut short is aborted (SIGTERM) or left for
    # --incomplete-uploads (SIGKILL): never an object of its own
