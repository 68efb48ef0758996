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
