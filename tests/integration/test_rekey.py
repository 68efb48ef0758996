# SPDX-License-Identifier: GPL-2.0-or-later
"""obsmount-rekey against the RGW test server: objects written plain, under
SSE-C and under SSE-KMS end up under the new encryption with their contents
and metadata unchanged; a second run copies nothing; unreadable objects are
reported and make the exit status 1; --resume-after, --state and --limit
resume a walk; large objects are copied in parts.

The independent client s3c checks the results. Needs no FUSE and no root.
"""
import base64
import hashlib
import os
import re
import signal
import subprocess
import sys
import time

import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TESTS, "server"))
import s3c  # noqa: E402
from conftest import new_bucket_name  # noqa: E402

MIB = 1024 * 1024
FINAL = re.compile(r"^obsmount-rekey: (done|stopped after '(.*)'): scanned (\d+), "
                   r"(?:rekeyed|to rekey) (\d+), skipped (\d+), failed (\d+)$", re.M)


def rekey_bin():
    b = os.environ.get("OBSMOUNT_REKEY_BIN")
    if not b:
        main = os.environ.get("OBSMOUNT_BIN") or os.path.abspath("obsmount")
        b = os.path.join(os.path.dirname(main), "obsmount-rekey")
    assert os.access(b, os.X_OK), "no obsmount-rekey at %r (set OBSMOUNT_REKEY_BIN)" % b
    return b


def key_md5(key_b64):
    return base64.b64encode(hashlib.md5(base64.b64decode(key_b64)).digest()).decode()


def write_secret(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return str(path)


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.err = proc.stderr.decode(errors="replace")
        m = FINAL.findall(self.err)
        assert m, "no final count line in:\n" + self.err
        end, self.stopped_after, sc, rk, sk, fl = m[-1]
        self.done = end == "done"
        self.scanned, self.rekeyed, self.skipped, self.failed = (
            int(sc), int(rk), int(sk), int(fl))

    def __repr__(self):
        return "rc=%d %s" % (self.rc, self.err)


@pytest.fixture
def env(rgw, tmp_path):
    """A fresh bucket, a client, and a runner for obsmount-rekey."""
    client = s3c.client_from_env(lax=True, https=True)
    bucket = new_bucket_name("rekey")
    client.create_bucket(bucket)
    passwd = write_secret(tmp_path / "passwd", "%s:%s\n" % (
        rgw["OBSMOUNT_TEST_ACCESS_KEY"], rgw["OBSMOUNT_TEST_SECRET_KEY"]))

    class Env:
        pass

    e = Env()
    e.rgw, e.c, e.bucket, e.tmp = rgw, client, bucket, tmp_path

    def run(sse, *args, opts=(), target=None, timeout=300, url=None):
        o = ["url=" + (url or rgw["OBSMOUNT_TEST_LAX_HTTP_URL"]),
             "https_url=" + rgw["OBSMOUNT_TEST_LAX_HTTPS_URL"],
             "cafile=" + rgw["OBSMOUNT_TEST_CA"],
             "region=" + rgw["OBSMOUNT_TEST_REGION"],
             "passwd_file=" + passwd, "sse=" + sse] + list(opts)
        cmd = [rekey_bin(), target or bucket, "-o", ",".join(o)] + list(args)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
        return Result(p)

    def keyfile(*keys, name="keys"):
        return write_secret(tmp_path / name, "".join(k + "\n" for k in keys))

    e.run, e.keyfile = run, keyfile
    yield e
    try:
        client.delete_bucket_recursive(bucket)
    except s3c.S3Error:
        pass


def head(c, bucket, key, sse_key=None):
    return c.head_object(bucket, key,
                         headers=s3c.sse_c_headers(sse_key) if sse_key else None)


def get(c, bucket, key, sse_key=None):
    return c.get_object(bucket, key,
                        headers=s3c.sse_c_headers(sse_key) if sse_key else None).body


def populate(e, old, kms1):
    """Objects plain, under SSE-C @old and under SSE-KMS @kms1. Returns
    {key: body}."""
    bodies = {
        "a/plain": os.urandom(1000),
        "a/plain-meta": b"with metadata",
        "b/ssec-old": os.urandom(70000),
        "c/kms1": os.urandom(3000),
        "d/empty": b"",
        "e/dir/": b"",
    }
    c, b = e.c, e.bucket
    c.put_object(b, "a/plain", bodies["a/plain"])
    c.put_object(b, "a/plain-meta", bodies["a/plain-meta"],
                 headers={"Content-Type": "text/x-rekey", "x-amz-meta-mode": "33188",
                          "x-amz-meta-note": "kept"})
    c.put_object(b, "b/ssec-old", bodies["b/ssec-old"], headers=s3c.sse_c_headers(old))
    c.put_object(b, "c/kms1", bodies["c/kms1"], headers=s3c.kms_headers(kms1))
    c.put_object(b, "d/empty", b"", headers=s3c.sse_c_headers(old))
    c.put_object(b, "e/dir/", b"")
    return bodies


def test_rotate_sse_c(env):
    """Plain, SSE-C (old key) and SSE-KMS objects all end up SSE-C under the
    new key, contents and metadata unchanged; a second run copies nothing."""
    e = env
    old, new = s3c.new_sse_c_key(), s3c.new_sse_c_key()
    bodies = populate(e, old, e.rgw["OBSMOUNT_TEST_KMS_KEY1"])
    kf = e.keyfile(new, old)

    r = e.run("c:" + kf)
    assert r.rc == 0, r
    assert r.done, r
    assert (r.scanned, r.rekeyed, r.skipped, r.failed) == (len(bodies), len(bodies), 0, 0), r

    for k, body in bodies.items():
        h = head(e.c, e.bucket, k, new)
        assert h.header("x-amz-server-side-encryption-customer-algorithm") == "AES256", k
        assert h.header("x-amz-server-side-encryption-customer-key-md5") == key_md5(new), k
        assert int(h.header("content-length")) == len(body), k
        assert get(e.c, e.bucket, k, new) == body, k
        # The old key no longer opens it.
        with pytest.raises(s3c.S3Error):
            head(e.c, e.bucket, k, old)
    h = head(e.c, e.bucket, "a/plain-meta", new)
    assert h.header("content-type") == "text/x-rekey"
    assert h.header("x-amz-meta-note") == "kept"
    assert h.header("x-amz-meta-mode") == "33188"
    # No key material in the output.
    for k in (old, new):
        assert k not in r.err

    r2 = e.run("c:" + kf)
    assert r2.rc == 0, r2
    assert (r2.scanned, r2.rekeyed, r2.skipped, r2.failed) == (len(bodies), 0, len(bodies), 0), r2
    # Nothing was rewritten: every object still opens with the new key.
    for k, body in bodies.items():
        assert get(e.c, e.bucket, k, new) == body, k


def test_unknown_key_is_reported(env):
    """An object under a key that is not in the key file is reported by
    key, counted, left alone, and makes the exit status 1."""
    e = env
    old, new, foreign = (s3c.new_sse_c_key() for _ in range(3))
    e.c.put_object(e.bucket, "k1-plain", b"one")
    e.c.put_object(e.bucket, "k2-foreign", b"two", headers=s3c.sse_c_headers(foreign))
    e.c.put_object(e.bucket, "k3-old", b"three", headers=s3c.sse_c_headers(old))

    r = e.run("c:" + e.keyfile(new, old))
    assert r.rc == 1, r
    assert (r.scanned, r.rekeyed, r.skipped, r.failed) == (3, 2, 0, 1), r
    assert re.search(r"cannot read 'k2-foreign'", r.err), r
    for k in (old, new, foreign):
        assert k not in r.err
    # Untouched: still under the foreign key.
    assert get(e.c, e.bucket, "k2-foreign", foreign) == b"two"
    assert get(e.c, e.bucket, "k1-plain", new) == b"one"
    assert get(e.c, e.bucket, "k3-old", new) == b"three"


def test_rekey_to_kms(env):
    """To SSE-KMS key 2: plain, KMS key 1 and (with --old-keys) SSE-C
    objects; objects already under key 2 are skipped."""
    e = env
    kms1, kms2 = e.rgw["OBSMOUNT_TEST_KMS_KEY1"], e.rgw["OBSMOUNT_TEST_KMS_KEY2"]
    old = s3c.new_sse_c_key()
    bodies = populate(e, old, kms1)
    e.c.put_object(e.bucket, "f/kms2", b"already", headers=s3c.kms_headers(kms2))
    bodies["f/kms2"] = b"already"

    # Without the SSE-C key the two SSE-C objects cannot be read.
    r = e.run("kms:" + kms2)
    assert r.rc == 1, r
    assert (r.scanned, r.rekeyed, r.skipped, r.failed) == (7, 4, 1, 2), r
    assert "cannot read 'b/ssec-old'" in r.err and "cannot read 'd/empty'" in r.err, r

    r = e.run("kms:" + kms2, "--old-keys", e.keyfile(old, name="old"))
    assert r.rc == 0, r
    assert (r.scanned, r.rekeyed, r.skipped, r.failed) == (7, 2, 5, 0), r
    for k, body in bodies.items():
        h = head(e.c, e.bucket, k)
        assert h.header("x-amz-server-side-encryption") == "aws:kms", k
        assert h.header("x-amz-server-side-encryption-aws-kms-key-id") == kms2, k
        assert get(e.c, e.bucket, k) == body, k


def test_resume_after_and_state(env):
    """--resume-after skips the keys up to it; --limit stops a walk and
    --state records where, and a second run resumes there."""
    e = env
    keys = ["k%02d" % i for i in range(8)]
    for k in keys:
        e.c.put_object(e.bucket, k, k.encode())
    new = s3c.new_sse_c_key()
    kf = e.keyfile(new)

    def under_new(k):
        h = e.c.request("HEAD", e.bucket, k, headers=s3c.sse_c_headers(new))
        return h.header("x-amz-server-side-encryption-customer-key-md5") == key_md5(new)

    r = e.run("c:" + kf, "--resume-after", "k02")
    assert r.rc == 0 and r.done, r
    assert (r.scanned, r.rekeyed) == (5, 5), r
    assert [under_new(k) for k in keys] == [False] * 3 + [True] * 5

    # Back to plain in batches of two, with a state file; the objects
    # under SSE-C need the key to be read.
    state = str(e.tmp / "state")
    r = e.run("none", "--old-keys", kf, "--state", state, "--limit", "2")
    assert r.rc == 0 and not r.done, r
    assert r.stopped_after == "k01" and (r.scanned, r.rekeyed) == (2, 0), r
    with open(state, "rb") as f:
        assert f.read() == b"k01"
    r = e.run("none", "--old-keys", kf, "--state", state, "--limit", "2")
    assert r.stopped_after == "k03" and (r.scanned, r.rekeyed, r.skipped) == (2, 1, 1), r
    assert [under_new(k) for k in keys] == [False] * 4 + [True] * 4
    r = e.run("none", "--old-keys", kf, "--state", state)
    assert r.rc == 0 and r.done, r
    assert (r.scanned, r.rekeyed, r.skipped) == (4, 4, 0), r
    assert not os.path.exists(state)
    assert not any(under_new(k) for k in keys)
    for k in keys:
        h = head(e.c, e.bucket, k)
        assert h.header("x-amz-server-side-encryption") is None, k
        assert get(e.c, e.bucket, k) == k.encode()


def test_interrupt_saves_state(env):
    """SIGINT lets the object in progress finish, writes the state file and
    exits 3; the next run resumes after the recorded key."""
    e = env
    n = 60
    for i in range(n):
        e.c.put_object(e.bucket, "o%03d" % i, b"x")
    new = s3c.new_sse_c_key()
    kf = e.keyfile(new)
    state = str(e.tmp / "state")
    o = ["url=" + e.rgw["OBSMOUNT_TEST_LAX_HTTP_URL"],
         "https_url=" + e.rgw["OBSMOUNT_TEST_LAX_HTTPS_URL"],
         "cafile=" + e.rgw["OBSMOUNT_TEST_CA"],
         "passwd_file=" + write_secret(e.tmp / "pw", "%s:%s\n" % (
             e.rgw["OBSMOUNT_TEST_ACCESS_KEY"], e.rgw["OBSMOUNT_TEST_SECRET_KEY"])),
         "sse=c:" + kf]
    p = subprocess.Popen([rekey_bin(), e.bucket, "-o", ",".join(o), "--state", state,
                          "--state-every", "1000"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Wait for the first copies, then interrupt.
    deadline = time.time() + 60
    while time.time() < deadline:
        h = e.c.request("HEAD", e.bucket, "o002", headers=s3c.sse_c_headers(new))
        if h.header("x-amz-server-side-encryption-customer-key-md5") == key_md5(new):
            break
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    r = Result(subprocess.CompletedProcess(p.args, p.returncode, b"", err))
    if r.done:
        pytest.skip("the walk finished before the signal arrived")
    assert r.rc == 3, r
    with open(state) as f:
        last = f.read()
    assert last == r.stopped_after and last >= "o002", r
    done = sorted(k for k in ("o%03d" % i for i in range(n)) if k <= last)
    assert r.rekeyed == len(done), r

    r2 = e.run("c:" + kf, "--state", state)
    assert r2.rc == 0 and r2.done, r2
    assert r2.scanned == n - len(done) and r2.rekeyed == r2.scanned, r2
    for i in range(n):
        assert get(e.c, e.bucket, "o%03d" % i, new) == b"x"


def test_multipart_copy(env):
    """Above --copy-threshold an object is copied onto itself in parts."""
    e = env
    old, new = s3c.new_sse_c_key(), s3c.new_sse_c_key()
    body = os.urandom(11 * MIB + 123)
    e.c.put_object(e.bucket, "big", body, headers=s3c.sse_c_headers(old))
    e.c.put_object(e.bucket, "small", b"small", headers=s3c.sse_c_headers(old))

    r = e.run("c:" + e.keyfile(new, old), "--copy-threshold", str(MIB),
              opts=["part_size=5"])
    assert r.rc == 0, r
    assert (r.scanned, r.rekeyed, r.failed) == (2, 2, 0), r
    h = head(e.c, e.bucket, "big", new)
    assert h.header("x-amz-server-side-encryption-customer-key-md5") == key_md5(new)
    assert h.header("etag").strip('"').endswith("-3"), h.header("etag")
    assert hashlib.sha256(get(e.c, e.bucket, "big", new)).digest() == \
        hashlib.sha256(body).digest()
    assert get(e.c, e.bucket, "small", new) == b"small"
    r = e.run("c:" + e.keyfile(new, old), "--copy-threshold", str(MIB),
              opts=["part_size=5"])
    assert (r.scanned, r.rekeyed, r.skipped) == (2, 0, 2), r


def test_prefix_and_dry_run(env):
    """BUCKET:/PREFIX limits the walk; --dry-run reports and copies nothing."""
    e = env
    new = s3c.new_sse_c_key()
    for k in ("in/a", "in/b", "out/c"):
        e.c.put_object(e.bucket, k, b"v")
    kf = e.keyfile(new)
    r = e.run("c:" + kf, "-n", target=e.bucket + ":/in")
    assert r.rc == 0 and (r.scanned, r.rekeyed) == (2, 2), r
    assert "would rekey 'in/a'" in r.err and "out/c" not in r.err, r
    assert head(e.c, e.bucket, "in/a").header(
        "x-amz-server-side-encryption-customer-algorithm") is None
    r = e.run("c:" + kf, target=e.bucket + ":/in")
    assert r.rc == 0 and (r.scanned, r.rekeyed) == (2, 2), r
    assert head(e.c, e.bucket, "in/a", new).header(
        "x-amz-server-side-encryption-customer-key-md5") == key_md5(new)
    h = head(e.c, e.bucket, "out/c")
    assert h.header("x-amz-server-side-encryption-customer-algorithm") is None


def test_usage_errors(rgw, tmp_path):
    """Bad usage exits 2 without touching the network."""
    b = rekey_bin()
    kf = write_secret(tmp_path / "k", s3c.new_sse_c_key() + "\n")
    cases = [
        ([], "missing BUCKET"),
        (["bkt", "-o", "url=http://127.0.0.1:1"], "missing -o sse="),
        (["bkt", "-o", "url=http://127.0.0.1:1,sse=c:" + kf], "needs an HTTPS endpoint"),
        (["bkt", "/mnt", "-o", "sse=none"], "too many arguments"),
        (["bkt", "-o", "sse=none,nosuchoption"], "unknown option 'nosuchoption'"),
        (["bkt", "-o", "sse=none", "--limit", "0"], "invalid --limit"),
    ]
    for args, msg in cases:
        p = subprocess.run([b] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        assert p.returncode == 2, (args, p.stderr)
        assert msg in p.stderr.decode(), (args, p.stderr)


def test_no_key_over_plain_http(env):
    """Every request goes through the S3 layer and its guard: with url= a
    recording proxy over plain HTTP, the listing and the keyless requests
    pass through it, and no SSE-C key ever does."""
    from s3proxy import S3Proxy, header_values
    e = env
    old, new = s3c.new_sse_c_key(), s3c.new_sse_c_key()
    e.c.put_object(e.bucket, "plain", b"p")
    e.c.put_object(e.bucket, "ssec", b"s", headers=s3c.sse_c_headers(old))
    with S3Proxy(e.rgw["OBSMOUNT_TEST_LAX_HTTP_URL"]) as p:
        r = e.run("c:" + e.keyfile(new, old), url=p.url)
        recs = p.records()
    assert r.rc == 0 and (r.rekeyed, r.failed) == (2, 0), r
    assert any("list-type=2" in (x.get("query") or "") for x in recs), recs
    for x in recs:
        for h in ("x-amz-server-side-encryption-customer-key",
                  "x-amz-copy-source-server-side-encryption-customer-key"):
            assert not header_values(x, h), x
    for k, body in (("plain", b"p"), ("ssec", b"s")):
        assert get(e.c, e.bucket, k, new) == body
