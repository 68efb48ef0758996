# SPDX-License-Identifier: GPL-2.0-or-later
"""End-to-end integrity: every object obsmount writes carries a whole-object
CRC-32C, a sequential read checks it (a damaged body is EIO, never data),
and the server refuses a request whose checksum is wrong, for each kind of
checksum obsmount relies on the server to check."""
import base64
import errno
import hashlib
import os
import shutil
import struct
import sys
import tempfile

import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TESTS, "server"))
sys.path.insert(0, os.path.join(TESTS, "proxy"))
sys.path.insert(0, os.path.join(TESTS, "integration"))
import s3c  # noqa: E402
from conftest import new_bucket_name  # noqa: E402
from s3proxy import S3Proxy  # noqa: E402
from test_fs import Mount  # noqa: E402

MIB = 1024 * 1024

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/fuse"),
    reason="needs root and /dev/fuse")


def _table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_T = _table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def b64crc(v):
    return base64.b64encode(struct.pack(">I", v)).decode()


def wrong(b64):
    raw = bytearray(base64.b64decode(b64))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def data_for(seed, size):
    h = hashlib.sha256(seed.encode()).digest()
    return (h * (size // len(h) + 1))[:size]


@pytest.fixture(scope="module")
def env(rgw):
    c = s3c.client_from_env(https=True)
    bucket = new_bucket_name("itg")
    c.create_bucket(bucket)
    proxy = S3Proxy(rgw["OBSMOUNT_TEST_HTTP_URL"]).start()
    work = tempfile.mkdtemp(prefix="obsmount-itg-")
    m = Mount(rgw, bucket, work, False,
              ["part_size=5", "stat_ttl=0", "dir_ttl=0"], [])
    # every request through the proxy
    i = m.argv.index("-o") + 1
    o = [x for x in m.argv[i].split(",")
         if not x.startswith("url=") and not x.startswith("https_url=")]
    m.argv[i] = ",".join(o + ["url=" + proxy.url])
    m.start()
    m.s3, m.proxy = c, proxy
    yield m
    try:
        m.stop()
    finally:
        proxy.stop()
        c.delete_bucket_recursive(bucket)
        shutil.rmtree(work, ignore_errors=True)


def refused(r):
    return r.status == 400 and r.error_code() == "BadDigest"


def test_server_refuses_wrong_checksums(env):
    """Each check obsmount leaves to the server: Content-MD5 and CRC-32C on
    PUT and UploadPart, the whole object's CRC-32C at Complete."""
    c, b = env.s3, env.bucket
    data = data_for("refuse", 100000)
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    crc = b64crc(crc32c(data))
    alg = {"x-amz-sdk-checksum-algorithm": "CRC32C"}
    assert refused(c.request("PUT", b, "r/md5", body=data,
                             headers={"Content-MD5": wrong(md5)}))
    assert refused(c.request("PUT", b, "r/crc", body=data,
                             headers=dict(alg, **{"x-amz-checksum-crc32c": wrong(crc)})))
    r = c.request("PUT", b, "r/ok", body=data,
                  headers=dict(alg, **{"x-amz-checksum-crc32c": crc, "Content-MD5": md5}))
    assert r.ok
    r = c.request("HEAD", b, "r/ok", headers={"x-amz-checksum-mode": "ENABLED"})
    assert r.header("x-amz-checksum-crc32c") == crc

    uid = c.create_multipart_upload(b, "r/mpu", headers={
        "x-amz-checksum-algorithm": "CRC32C", "x-amz-checksum-type": "FULL_OBJECT"})
    q = [("partNumber", 1), ("uploadId", uid)]
    assert refused(c.request("PUT", b, "r/mpu", query=q, body=data,
                             headers={"Content-MD5": wrong(md5)}))
    assert refused(c.request("PUT", b, "r/mpu", query=q, body=data,
                             headers=dict(alg, **{"x-amz-checksum-crc32c": wrong(crc)})))
    etag = c.upload_part(b, "r/mpu", uid, 1, data,
                         headers=dict(alg, **{"x-amz-checksum-crc32c": crc}))
    body = ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag>"
            "<ChecksumCRC32C>%s</ChecksumCRC32C></Part></CompleteMultipartUpload>"
            % (etag, crc)).encode()
    r = c.request("POST", b, "r/mpu", query=[("uploadId", uid)], body=body,
                  headers={"x-amz-checksum-crc32c": wrong(crc)})
    assert r.status == 400 or b"BadDigest" in r.body
    r = c.request("POST", b, "r/mpu", query=[("uploadId", uid)], body=body,
                  headers={"x-amz-checksum-crc32c": crc})
    assert r.ok and b"<Error>" not in r.body[:200]


@pytest.mark.parametrize("size", [1000, 12 * MIB])
def test_written_objects_carry_checksum(env, size):
    data = data_for("w%d" % size, size)
    with open(env.path("w%d" % size), "wb") as f:
        f.write(data)
    r = env.s3.head_object(env.bucket, "w%d" % size,
                           headers={"x-amz-checksum-mode": "ENABLED"})
    assert r.header("x-amz-checksum-crc32c") == b64crc(crc32c(data))
    assert r.header("x-amz-checksum-type", "FULL_OBJECT") == "FULL_OBJECT"


def read_all(p):
    with open(p, "rb") as f:
        return f.read()


@pytest.mark.parametrize("size", [1000, 3 * MIB + 17])
def test_corrupted_body_is_eio(env, size):
    """A GET body damaged in flight: EIO for the reader; an object without a
    checksum (another tool's) reads as before."""
    data = data_for("c%d" % size, size)
    key, plain = "c%d" % size, "p%d" % size
    env.s3.put_object(env.bucket, key, data,
                      headers={"x-amz-sdk-checksum-algorithm": "CRC32C"})
    env.s3.put_object(env.bucket, plain, data)
    start = os.path.getsize(env.logpath)
    env.proxy.set_rules([{"action": "flip_byte", "method": "GET",
                          "path": "/(%s|%s)$" % (key, plain)}])
    try:
        with pytest.raises(OSError) as e:
            read_all(env.path(key))
        assert e.value.errno == errno.EIO
        got = read_all(env.path(plain))
        assert len(got) == size and got != data  # nothing to check it against
    finally:
        env.proxy.set_rules([])
    assert "checksum mismatch reading '%s'" % key in env.read_log(start)
    # undamaged, it reads (a new open fetches again)
    assert read_all(env.path(key)) == data


def test_truncated_body_is_eio(env):
    data = data_for("t", 2 * MIB)
    env.s3.put_object(env.bucket, "t", data,
                      headers={"x-amz-sdk-checksum-algorithm": "CRC32C"})
    env.proxy.set_rules([{"action": "truncate", "method": "GET", "path": "/t$"}])
    try:
        with pytest.raises(OSError) as e:
            read_all(env.path("t"))
        assert e.value.errno == errno.EIO
    finally:
        env.proxy.set_rules([])
    assert read_all(env.path("t")) == data


def _proxied(rgw, tmp, rules=None):
    c = s3c.client_from_env(https=True)
    bucket = new_bucket_name("md5")
    c.create_bucket(bucket)
    proxy = S3Proxy(rgw["OBSMOUNT_TEST_HTTP_URL"], rules=rules).start()
    m = Mount(rgw, bucket, str(tmp), False, ["part_size=5"], [])
    i = m.argv.index("-o") + 1
    o = [x for x in m.argv[i].split(",")
         if not x.startswith("url=") and not x.startswith("https_url=")]
    m.argv[i] = ",".join(o + ["url=" + proxy.url])
    m.s3, m.proxy = c, proxy
    return m


def _body_puts(m, name):
    """Headers (lowercase names) of the PUTs with a body for object @name."""
    out = []
    for r in m.proxy.records():
        h = {k.lower(): v for k, v in (r.get("headers") or [])}
        if r["method"] == "PUT" and r["path"].endswith("/" + name) and \
                "x-amz-copy-source" not in h and r.get("body_len"):
            out.append(h)
    return out


@pytest.mark.parametrize("probe", ["refused", "denied"])
def test_content_md5_only_where_crc_is_not_verified(rgw, tmp_path, probe):
    """A mount asks once whether the server verifies CRC-32C (a PUT with a
    wrong one, which RGW refuses and so stores nothing). Verified: bodies go
    without Content-MD5, each with its CRC-32C. No answer (here the proxy
    denies the probe): Content-MD5 stays on every body."""
    rules = None
    if probe == "denied":
        rules = [{"path": r"\.obsmount-checksum-probe$", "action": "error", "status": 403,
                  "code": "AccessDenied", "message": "denied"}]
    m = _proxied(rgw, tmp_path, rules)
    m.start()
    try:
        for name, size in (("small", 1000), ("big", 12 * MIB)):
            data = os.urandom(size)
            with open(m.path(name), "wb") as f:
                f.write(data)
            assert m.s3.get_object(m.bucket, name).body == data
            puts = _body_puts(m, name)
            assert puts, "no PUT of %s recorded" % name
            for h in puts:
                assert "x-amz-checksum-crc32c" in h
                assert ("content-md5" in h) == (probe == "denied"), h
        probes = [r for r in m.proxy.records() if r["path"].endswith(".obsmount-checksum-probe")]
        assert len(probes) == 1
        assert probes[0]["status"] == (400 if probe == "refused" else 403)
        keys, _ = m.s3.list_objects(m.bucket)
        assert ".obsmount-checksum-probe" not in keys
        assert not m.bad_lines()
    finally:
        m.stop()
        m.proxy.stop()
        m.s3.delete_bucket_recursive(m.bucket)
