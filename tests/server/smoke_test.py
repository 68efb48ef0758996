"""Smoke tests of the RGW test server and of the s3c client.

Run as root:  /usr/bin/python3 -m pytest tests/server/smoke_test.py
The server is started with start.sh unless the OBSMOUNT_TEST_* variables
are already set; if this session started it, it is stopped at the end
(set OBSMOUNT_RGW_KEEP=1 to leave it running).
"""

import base64
import hashlib
import os
import ssl
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3c  # noqa: E402
import testserver  # noqa: E402

SSE_C_ALG = "x-amz-server-side-encryption-customer-algorithm"
SSE_C_MD5 = "x-amz-server-side-encryption-customer-key-md5"


@pytest.fixture(scope="session")
def server():
    env, started = testserver.ensure_server()
    yield env
    if started and os.environ.get("OBSMOUNT_RGW_KEEP") != "1":
        testserver.stop_server()


@pytest.fixture(scope="session")
def https(server):
    return s3c.client_from_env()


@pytest.fixture(scope="session")
def bucket(https):
    name = "smoke-" + uuid.uuid4().hex[:12]
    https.create_bucket(name)
    yield name
    https.delete_bucket_recursive(name)


def unique_key(prefix="obj"):
    return "%s-%s" % (prefix, uuid.uuid4().hex)


def payload(n=100000):
    # Non-repeating content so that a plaintext check is meaningful.
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"%d" % i).digest()
        i += 1
    return bytes(out[:n])


def key_md5(key_b64):
    return base64.b64encode(
        hashlib.md5(base64.b64decode(key_b64)).digest()).decode()


def test_exports_complete(server):
    assert server["OBSMOUNT_TEST_HTTPS_URL"].startswith("https://127.0.0.1:")
    assert server["OBSMOUNT_TEST_LAX_HTTP_URL"].startswith("http://127.0.0.1:")
    assert os.path.isfile(server["OBSMOUNT_TEST_CA"])
    assert server["OBSMOUNT_TEST_KMS_KEY1"] != server["OBSMOUNT_TEST_KMS_KEY2"]


def test_tls_certificate_verifies_for_ip_and_localhost(server, bucket):
    for host in ("127.0.0.1", "localhost"):
        url = server["OBSMOUNT_TEST_HTTPS_URL"].replace("127.0.0.1", host)
        c = s3c.S3Client(url, server["OBSMOUNT_TEST_ACCESS_KEY"],
                         server["OBSMOUNT_TEST_SECRET_KEY"],
                         ca=server["OBSMOUNT_TEST_CA"])
        assert bucket in c.list_buckets()
    # Without the CA the self-signed certificate must be rejected.
    c = s3c.S3Client(server["OBSMOUNT_TEST_HTTPS_URL"], "x", "y", ca=None)
    c.ssl_context = ssl.create_default_context()
    with pytest.raises(ssl.SSLError):
        c.request("GET")


def test_sse_c_put_get_over_https(https, bucket, server):
    key_b64 = s3c.new_sse_c_key()
    name = unique_key("ssec")
    data = payload()
    r = https.put_object(bucket, name, data,
                         headers=s3c.sse_c_headers(key_b64))
    assert r.header(SSE_C_ALG) == "AES256"
    assert r.header(SSE_C_MD5) == key_md5(key_b64)
    r = https.get_object(bucket, name, headers=s3c.sse_c_headers(key_b64))
    assert r.body == data
    assert r.header(SSE_C_ALG) == "AES256"
    assert r.header(SSE_C_MD5) == key_md5(key_b64)
    # Range reads decrypt too.
    r = https.get_object(bucket, name, headers=s3c.sse_c_headers(key_b64),
                         range=(1000, 70999))
    assert r.status == 206 and r.body == data[1000:71000]
    # What RADOS holds is not the plaintext.
    if os.geteuid() == 0:
        raw = testserver.rados_get(testserver.rados_head_oid(name))
        assert raw and data[:4096] not in raw


def test_sse_c_get_without_or_with_wrong_key_refused(https, bucket):
    key_b64 = s3c.new_sse_c_key()
    name = unique_key("ssec")
    https.put_object(bucket, name, b"secret content",
                     headers=s3c.sse_c_headers(key_b64))
    r = https.request("GET", bucket, name)
    assert r.status == 400, r
    assert b"secret content" not in r.body
    r = https.request("HEAD", bucket, name)
    assert r.status == 400
    # RGW answers a wrong key with 400 InvalidArgument (AWS: 403).
    r = https.request("GET", bucket, name,
                      headers=s3c.sse_c_headers(s3c.new_sse_c_key()))
    assert r.status in (400, 403), r
    assert b"secret content" not in r.body
    assert https.get_object(bucket, name, headers=s3c.sse_c_headers(
        key_b64)).body == b"secret content"


def test_kms_put_get(https, bucket, server):
    key_id = server["OBSMOUNT_TEST_KMS_KEY1"]
    name = unique_key("kms")
    data = payload(50000)
    r = https.put_object(bucket, name, data, headers=s3c.kms_headers(key_id))
    assert r.header("x-amz-server-side-encryption") == "aws:kms"
    assert r.header("x-amz-server-side-encryption-aws-kms-key-id") == key_id
    r = https.get_object(bucket, name)
    assert r.body == data
    assert r.header("x-amz-server-side-encryption") == "aws:kms"
    assert r.header("x-amz-server-side-encryption-aws-kms-key-id") == key_id
    r = https.head_object(bucket, name)
    assert r.header("x-amz-server-side-encryption-aws-kms-key-id") == key_id
    if os.geteuid() == 0:
        raw = testserver.rados_get(testserver.rados_head_oid(name))
        assert raw and data[:4096] not in raw
    # An unknown key id is refused.
    r = https.request("PUT", bucket, unique_key("kms"), body=b"x",
                      headers=s3c.kms_headers("no-such-key"))
    assert r.status in (400, 403, 500), r


def test_copy_sse_c_to_sse_c_with_new_key(https, bucket):
    k1, k2 = s3c.new_sse_c_key(), s3c.new_sse_c_key()
    src, dst = unique_key("src"), unique_key("dst")
    data = payload(300000)
    https.put_object(bucket, src, data, headers=s3c.sse_c_headers(k1))
    h = s3c.copy_source_sse_c_headers(k1)
    h.update(s3c.sse_c_headers(k2))
    https.copy_object(bucket, src, bucket, dst, headers=h)
    r = https.get_object(bucket, dst, headers=s3c.sse_c_headers(k2))
    assert r.body == data
    assert r.header(SSE_C_MD5) == key_md5(k2)
    assert https.request("GET", bucket, dst,
                         headers=s3c.sse_c_headers(k1)).status in (400, 403)
    # The source still needs (and works with) its own key.
    assert https.get_object(bucket, src,
                            headers=s3c.sse_c_headers(k1)).body == data
    # Copying without the source key is refused.
    r = https.request("PUT", bucket, unique_key("dst"), headers=dict(
        s3c.sse_c_headers(k2), **{"x-amz-copy-source": "/%s/%s" % (
            bucket, src)}))
    assert not r.ok or b"<Error>" in r.body


def test_copy_kms_to_kms_other_key(https, bucket, server):
    src, dst = unique_key("ksrc"), unique_key("kdst")
    k1, k2 = server["OBSMOUNT_TEST_KMS_KEY1"], server["OBSMOUNT_TEST_KMS_KEY2"]
    https.put_object(bucket, src, b"kms copy", headers=s3c.kms_headers(k1))
    https.copy_object(bucket, src, bucket, dst, headers=s3c.kms_headers(k2))
    r = https.get_object(bucket, dst)
    assert r.body == b"kms copy"
    assert r.header("x-amz-server-side-encryption-aws-kms-key-id") == k2


@pytest.mark.parametrize("put_v,get_v", [(2, 4), (4, 2), (2, 2), (4, 4)])
def test_sigv2_and_sigv4_accepted(server, bucket, put_v, get_v):
    putter = s3c.client_from_env(sigv=put_v)
    getter = s3c.client_from_env(sigv=get_v, https=False)
    name = unique_key("sig") + "/dir with space/ü+%&=.bin"
    data = payload(2000)
    putter.put_object(bucket, name, data,
                      headers={"Content-Type": "application/x-test",
                               "x-amz-meta-colour": "blue"})
    r = getter.get_object(bucket, name)
    assert r.body == data
    assert r.header("content-type") == "application/x-test"
    assert r.header("x-amz-meta-colour") == "blue"
    keys, _ = getter.list_objects(bucket, prefix=name.split("/")[0])
    assert keys == [name]


@pytest.mark.parametrize("sigv", [2, 4])
def test_multipart_sse_c_with_signed_subresources(server, bucket, sigv):
    c = s3c.client_from_env(sigv=sigv)
    key_b64 = s3c.new_sse_c_key()
    h = s3c.sse_c_headers(key_b64)
    name = unique_key("mpu")
    part1, part2 = payload(5 * 1024 * 1024), b"tail" * 1000
    upload = c.create_multipart_upload(bucket, name, headers=h)
    assert upload
    e1 = c.upload_part(bucket, name, upload, 1, part1, headers=h)
    e2 = c.upload_part(bucket, name, upload, 2, part2, headers=h)
    # RGW wants the SSE-C headers on the completion too.
    r = c.request("POST", bucket, name, query=[("uploadId", upload)],
                  body=b"<CompleteMultipartUpload/>")
    assert r.status == 400
    c.complete_multipart_upload(bucket, name, upload, [e1, e2], headers=h)
    r = c.get_object(bucket, name, headers=h)
    assert r.body == part1 + part2
    # And an aborted upload leaves nothing behind.
    upload = c.create_multipart_upload(bucket, name + "-aborted")
    c.upload_part(bucket, name + "-aborted", upload, 1, b"x")
    c.abort_multipart_upload(bucket, name + "-aborted", upload)
    assert c.request("HEAD", bucket, name + "-aborted").status == 404


@pytest.mark.parametrize("sigv", [2, 4])
def test_wrong_signature_refused(server, bucket, sigv):
    c = s3c.client_from_env(sigv=sigv)

    def corrupt(method, url, headers):
        auth = headers["Authorization"]
        # Change the last character of the signature (the one before a
        # base64 '=' padding), keeping it valid base64/hex: never to the
        # character it already is.
        i = len(auth) - 1
        while auth[i] == "=":
            i -= 1
        headers["Authorization"] = (auth[:i] + ("A" if auth[i] != "A" else "B")
                                    + auth[i + 1:])
        assert headers["Authorization"] != auth
    c.before_send = corrupt
    r = c.request("PUT", bucket, unique_key("bad"), body=b"data")
    assert r.status == 403
    assert r.error_code() == "SignatureDoesNotMatch"
    # A wrong secret key fails the same way.
    bad = s3c.client_from_env(sigv=sigv)
    bad.secret_key = "not-the-secret"
    r = bad.request("GET", bucket)
    assert r.status == 403
    assert r.error_code() == "SignatureDoesNotMatch"
    # An unknown access key is refused too.
    bad = s3c.client_from_env(sigv=sigv)
    bad.access_key = "UNKNOWNACCESSKEY0000"
    r = bad.request("GET", bucket)
    assert r.status == 403
    assert r.error_code() == "InvalidAccessKeyId"


def test_v4_payload_hash_checked(https, bucket):
    name = unique_key("hash")
    # Sign for one body, send another of the same length.
    c = s3c.client_from_env()
    orig = c._sign_v4

    def sign_other(method, path, query, headers, payload_hash):
        return orig(method, path, query, headers,
                    hashlib.sha256(b"other").hexdigest())
    c._sign_v4 = sign_other
    r = c.request("PUT", bucket, name, body=b"right")
    assert r.status in (400, 403), r
    assert https.request("HEAD", bucket, name).status == 404


def test_sse_c_over_plain_http_refused_on_strict_instance(server, bucket):
    strict = s3c.client_from_env(https=False)
    lax = s3c.client_from_env(lax=True, https=False)
    key_b64 = s3c.new_sse_c_key()
    h = s3c.sse_c_headers(key_b64)
    name = unique_key("plain")
    r = strict.request("PUT", bucket, name, body=b"over http", headers=h)
    assert r.status == 400, r
    assert r.error_code() == "InvalidRequest"
    assert strict.request("HEAD", bucket, name).status == 404
    # The lax instance accepts it, and both instances see the object.
    lax.put_object(bucket, name, b"over http", headers=h)
    assert lax.get_object(bucket, name, headers=h).body == b"over http"
    r = strict.request("GET", bucket, name, headers=h)
    assert r.status == 400
    https = s3c.client_from_env()
    assert https.get_object(bucket, name, headers=h).body == b"over http"
    lax_https = s3c.client_from_env(lax=True)
    assert lax_https.get_object(bucket, name, headers=h).body == b"over http"
    # Unencrypted requests over plain HTTP are fine on both.
    strict.put_object(bucket, name + "-clear", b"clear")
    assert lax.get_object(bucket, name + "-clear").body == b"clear"


def test_kms_over_plain_http_refused_on_strict_instance(server, bucket):
    strict = s3c.client_from_env(https=False)
    lax = s3c.client_from_env(lax=True, https=False)
    h = s3c.kms_headers(server["OBSMOUNT_TEST_KMS_KEY2"])
    name = unique_key("kmsplain")
    r = strict.request("PUT", bucket, name, body=b"kms http", headers=h)
    assert r.status == 400, r
    lax.put_object(bucket, name, b"kms http", headers=h)
    assert lax.get_object(bucket, name).body == b"kms http"


def test_region_location(https, bucket, server):
    r = https.request("GET", bucket, query=[("location", None)])
    assert r.ok
    assert s3c._xml_find_text(r.body, "LocationConstraint") == \
        server["OBSMOUNT_TEST_REGION"]
    name = "smoke-loc-" + uuid.uuid4().hex[:12]
    https.create_bucket(name, location=server["OBSMOUNT_TEST_REGION"])
    https.delete_bucket(name)


def test_s3c_cli_roundtrip(server, bucket, tmp_path):
    import subprocess
    cli = [sys.executable, os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "s3c.py")]
    key_b64 = subprocess.run(cli + ["genkey"], check=True,
                             stdout=subprocess.PIPE).stdout.decode().strip()
    assert len(base64.b64decode(key_b64)) == 32
    src = tmp_path / "in.bin"
    src.write_bytes(payload(70000))
    name = unique_key("cli")
    for sigv in ("2", "4"):
        subprocess.run(cli + ["--sigv", sigv, "--sse-c-key", key_b64, "put",
                              bucket, name, str(src)], check=True)
        out = subprocess.run(cli + ["--sigv", sigv, "--sse-c-key", key_b64,
                                    "get", bucket, name],
                             check=True, stdout=subprocess.PIPE).stdout
        assert out == src.read_bytes()
    r = subprocess.run(cli + ["get", bucket, name], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    assert r.returncode == 1 and b"400" in r.stderr
    out = subprocess.run(cli + ["ls", bucket, "cli-"], check=True,
                         stdout=subprocess.PIPE).stdout.decode().split()
    assert name in out
