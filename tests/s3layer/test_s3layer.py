# SPDX-License-Identifier: GPL-2.0-or-later
"""The S3 request layer (src/s3_req.c, src/http.c) against the Ceph RGW test
server, through tests/s3tool: every operation over HTTP and HTTPS with V2
and V4, hostile keys, SSE-C/SSE-KMS with the protocol guard, and faults
injected by the recording proxy (tests/proxy/s3proxy.py)."""
import glob
import hashlib
import os
import re
import subprocess
import sys
import uuid

import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TESTS, "server"))
sys.path.insert(0, os.path.join(TESTS, "proxy"))

import s3c  # noqa: E402
from s3proxy import S3Proxy, header_values  # noqa: E402

SSE_C_KEY = "customer-key"


def _find_tool():
    env = os.environ.get("OBSMOUNT_S3TOOL")
    if env:
        return env
    binp = os.environ.get("OBSMOUNT_BIN")
    if binp:
        cand = os.path.join(os.path.dirname(binp), "tests", "s3tool")
        if os.access(cand, os.X_OK):
            return cand
    found = [p for p in glob.glob(os.path.join(TESTS, "..", "build*", "tests", "s3tool"))
             + glob.glob(os.path.join(TESTS, "s3tool")) if os.access(p, os.X_OK)]
    if found:
        return max(found, key=os.path.getmtime)
    return None


TOOL = _find_tool()
pytestmark = pytest.mark.skipif(TOOL is None, reason="tests/s3tool is not built")


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr.decode(errors="replace")
        m = re.search(r"err=-\d+ \((\w+|E\?)\) status=(\d+) code='([^']*)'", self.err)
        self.errno = m.group(1) if m else None
        self.status = int(m.group(2)) if m else None
        self.code = m.group(3) if m else None

    @property
    def text(self):
        return self.out.decode(errors="replace")

    def field(self, name):
        for line in self.text.splitlines():
            if line.startswith(name + " "):
                return line[len(name) + 1:]
        return None


class Tool:
    """Runs s3tool with a fixed endpoint configuration."""

    def __init__(self, bucket, url, sigv=4, https_url=None, extra=()):
        self.bucket = bucket
        self.args = ["--bucket", bucket, "--url", url, "--sigv", str(sigv)]
        if https_url:
            self.args += ["--https-url", https_url]
        self.args += list(extra)

    def run(self, *argv, opts=(), stdin=None, check=True, timeout=300):
        cmd = [TOOL] + self.args + list(opts) + list(argv)
        p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        r = Result(p)
        if check and r.rc != 0:
            raise AssertionError("%s failed (%d): %s" % (" ".join(map(str, argv)), r.rc, r.err))
        return r


def hexkey(key):
    return "hex:" + key.encode().hex()


@pytest.fixture(scope="module")
def env(rgw):
    return rgw


@pytest.fixture
def bucket(env):
    cli = s3c.client_from_env(https=False)
    name = "s3l-%s" % uuid.uuid4().hex[:12]
    cli.create_bucket(name)
    yield name
    try:
        cli.delete_bucket_recursive(name)
    except Exception:  # noqa: BLE001 - cleanup only
        pass


@pytest.fixture
def datafile(tmp_path):
    def make(size, name="data"):
        p = tmp_path / name
        p.write_bytes(os.urandom(size))
        return p
    return make


ENDPOINTS = [
    pytest.param("http", 4, id="http-v4"),
    pytest.param("http", 2, id="http-v2"),
    pytest.param("https", 4, id="https-v4"),
    pytest.param("https", 2, id="https-v2"),
]


def tool_for(env, bucket, scheme, sigv, lax=False, **kw):
    var = "OBSMOUNT_TEST_%s%s_URL" % ("LAX_" if lax else "", scheme.upper())
    return Tool(bucket, env[var], sigv=sigv, **kw)


# --------------------------------------------------------------------------
# every operation, over each transport and signature

@pytest.mark.parametrize("scheme,sigv", ENDPOINTS)
def test_all_operations(env, bucket, datafile, tmp_path, scheme, sigv):
    t = tool_for(env, bucket, scheme, sigv)
    plain = ["--known", "none"]
    small = datafile(100000, "small")
    data = small.read_bytes()

    t.run("head-bucket")
    r = t.run("put", "dir/obj", str(small), opts=["--meta", "color=blue",
                                                 "--content-type", "text/x-test"])
    assert r.field("etag") == '"%s"' % hashlib.md5(data).hexdigest()

    r = t.run("head", "dir/obj", opts=plain)
    assert r.field("size") == str(len(data))
    assert r.field("content-type") == "text/x-test"
    assert "meta color=blue" in r.text
    assert r.field("enc") == "none"
    assert int(r.field("mtime")) > 0

    assert t.run("get", "dir/obj", opts=plain).out == data
    assert t.run("get", "dir/obj", "1000", "500", opts=plain).out == data[1000:1500]
    # Range past the end: short, then empty; never an error.
    assert t.run("get", "dir/obj", str(len(data) - 10), "100", opts=plain).out == data[-10:]
    assert t.run("get", "dir/obj", str(len(data) + 5), "100", opts=plain).out == b""

    # Copy keeps metadata (COPY) or replaces it (REPLACE).
    t.run("copy", "dir/obj", "dir/copy", opts=plain)
    r = t.run("head", "dir/copy", opts=plain)
    assert "meta color=blue" in r.text
    t.run("copy", "dir/obj", "dir/copy2", opts=plain + ["--meta", "shape=round"])
    r = t.run("head", "dir/copy2", opts=plain)
    assert "meta shape=round" in r.text and "color" not in r.text
    assert t.run("get", "dir/copy2", opts=plain).out == data

    # Multipart: two parts plus a part copied from an existing object.
    part1 = datafile(5 * 1024 * 1024, "p1")
    part2 = datafile(5 * 1024 * 1024 + 1234, "p2")
    uid = t.run("mpu-create", "mp/obj").field("upload-id")
    assert uid
    listed = t.run("mpu-list", "mp/")
    assert uid in listed.text
    e1 = t.run("mpu-part", "mp/obj", uid, "1", str(part1)).field("etag")
    e2 = t.run("mpu-part", "mp/obj", uid, "2", str(part2)).field("etag")
    e3 = t.run("part-copy", "mp/obj", uid, "3", "dir/obj", "10", "5000",
               opts=plain).field("etag")
    t.run("mpu-complete", "mp/obj", uid, "1:" + e1, "2:" + e2, "3:" + e3)
    want = part1.read_bytes() + part2.read_bytes() + data[10:5010]
    got = t.run("get", "mp/obj", opts=plain).out
    assert hashlib.md5(got).hexdigest() == hashlib.md5(want).hexdigest()

    # Abort, and an aborted upload is gone.
    uid2 = t.run("mpu-create", "mp/aborted").field("upload-id")
    t.run("mpu-abort", "mp/aborted", uid2)
    assert uid2 not in t.run("mpu-list").text
    r = t.run("mpu-part", "mp/aborted", uid2, "1", str(part2), check=False)
    assert r.rc != 0 and r.errno == "ENOENT"

    # Listing with a delimiter: objects and common prefixes, several pages.
    r = t.run("list", "", "/", "1")
    assert "P dir/" in r.text and "P mp/" in r.text
    assert int(r.field("pages")) >= 2
    r = t.run("list", "dir/")
    assert sorted(re.findall(r"^K (.*)$", r.text, re.M)) == ["dir/copy", "dir/copy2", "dir/obj"]

    # Delete one, then many; a missing object is ENOENT.
    t.run("del", "dir/copy")
    r = t.run("head", "dir/copy", opts=plain, check=False)
    assert r.rc == 1 and r.errno == "ENOENT" and r.status == 404
    t.run("delmany", "dir/obj", "dir/copy2", "mp/obj", "does/not/exist")
    assert "K " not in t.run("list").text


def test_missing_bucket(env):
    t = Tool("s3l-missing-%s" % uuid.uuid4().hex[:8], env["OBSMOUNT_TEST_HTTP_URL"])
    r = t.run("head-bucket", check=False)
    assert r.rc == 1 and r.errno == "ENOENT"


def test_bad_credentials(env, bucket):
    t = Tool(bucket, env["OBSMOUNT_TEST_HTTP_URL"])
    r = subprocess.run([TOOL] + t.args + ["head-bucket"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE,
                       env=dict(os.environ, OBSMOUNT_TEST_SECRET_KEY="wrong"))
    res = Result(r)
    assert res.rc == 1 and res.errno in ("EACCES", "EPERM") and res.status == 403


def test_tls_verification_on(env, bucket, tmp_path):
    """Without the test CA the self-signed certificate is refused."""
    other_ca = tmp_path / "empty.pem"
    other_ca.write_text("")
    t = Tool(bucket, env["OBSMOUNT_TEST_HTTPS_URL"], extra=["--ca", "/dev/null"])
    r = t.run("head-bucket", opts=["--retries", "0"], check=False)
    assert r.rc == 1 and r.status == 0


# --------------------------------------------------------------------------
# hostile keys

HOSTILE = [
    "space in name", "plus+sign", "percent%20literal", "percent%", "question?mark",
    "hash#tag", "tilde~home", "amp&lt;tags>", "quote'dq\"", "back\\slash",
    "semi;colon:at@", "star*paren()", "unicode/é/日本語/🦀", "dir//double/", "/leading",
    "trailing.", "equals=sign&x=y", "[brackets]{braces}", "tab\there", "comma,",
    "a" * 1024,
]


@pytest.mark.parametrize("scheme,sigv", ENDPOINTS)
def test_hostile_keys_round_trip(env, bucket, datafile, scheme, sigv):
    t = tool_for(env, bucket, scheme, sigv)
    f = datafile(17)
    for k in HOSTILE:
        t.run("put", hexkey(k), str(f))
        assert t.run("get", hexkey(k), opts=["--known", "none"]).out == f.read_bytes(), k
        assert t.run("head", hexkey(k), opts=["--known", "none"]).field("size") == "17"
    r = t.run("list", opts=["--hex"])
    listed = [bytes.fromhex(h).decode() for h in re.findall(r"^K (\w*)$", r.text, re.M)]
    assert sorted(listed) == sorted(HOSTILE)
    # Listing by a hostile prefix returns exactly the matching keys.
    r = t.run("list", hexkey("unicode/é/"), opts=["--hex"])
    assert [bytes.fromhex(h).decode() for h in re.findall(r"^K (\w*)$", r.text, re.M)] == \
        ["unicode/é/日本語/🦀"]
    # Copies with hostile source and target keys.
    t.run("copy", hexkey("question?mark"), hexkey("copy of #1 %2F"), opts=["--known", "none"])
    assert t.run("get", hexkey("copy of #1 %2F"), opts=["--known", "none"]).out == f.read_bytes()
    # Independent client sees the same key.
    cli = s3c.client_from_env(https=False)
    assert cli.get_object(bucket, "copy of #1 %2F").body == f.read_bytes()


def test_key_length_limit(env, bucket, datafile):
    t = Tool(bucket, env["OBSMOUNT_TEST_HTTP_URL"])
    f = datafile(1)
    r = t.run("put", "k" * 1025, str(f), check=False)
    assert r.rc == 1 and r.errno == "ENAMETOOLONG"
    # 1024 bytes of two-byte characters is too long as well (512 chars ok).
    assert t.run("put", hexkey("é" * 513), str(f), check=False).errno == "ENAMETOOLONG"
    t.run("put", hexkey("é" * 512), str(f))


# --------------------------------------------------------------------------
# encryption and the guard

def test_sse_c_over_https(env, bucket, datafile):
    key = s3c.new_sse_c_key()
    f = datafile(300000)
    t = Tool(bucket, env["OBSMOUNT_TEST_HTTPS_URL"], extra=["--sse-c", key])
    t.run("put", "secret", str(f))
    r = t.run("head", "secret")
    assert r.field("enc") == "c" and r.field("key-md5")
    assert t.run("get", "secret").out == f.read_bytes()
    # Without the key the object cannot be read.
    plain = Tool(bucket, env["OBSMOUNT_TEST_HTTPS_URL"])
    assert plain.run("get", "secret", opts=["--known", "none"], check=False).rc == 1
    # Copy SSE-C -> SSE-C with another key, and SSE-C -> plain.
    key2 = s3c.new_sse_c_key()
    Tool(bucket, env["OBSMOUNT_TEST_HTTPS_URL"], extra=["--sse-c", key2, "--src-sse-c", key]) \
        .run("copy", "secret", "secret2", opts=["--known", "c"])
    assert Tool(bucket, env["OBSMOUNT_TEST_HTTPS_URL"], extra=["--sse-c", key2]) \
        .run("get", "secret2").out == f.read_bytes()
    plain.run("copy", "secret", "plain-copy", opts=["--src-sse-c", key, "--known", "c"])
    assert plain.run("get", "plain-copy", opts=["--known", "none"]).out == f.read_bytes()
    # Multipart with SSE-C: parts and Complete carry the key.
    big = datafile(5 * 1024 * 1024 + 7, "big")
    uid = t.run("mpu-create", "mpc").field("upload-id")
    e1 = t.run("mpu-part", "mpc", uid, "1", str(big)).field("etag")
    e2 = t.run("part-copy", "mpc", uid, "2", "secret", "0", "1000",
               opts=["--src-sse-c", key, "--known", "c"]).field("etag")
    t.run("mpu-complete", "mpc", uid, "1:" + e1, "2:" + e2)
    assert t.run("get", "mpc").out == big.read_bytes() + f.read_bytes()[:1000]


def test_guard_routes_sse_c_to_https(env, bucket, datafile):
    """With an http url and an https_url, SSE-C requests go over HTTPS only:
    the recording proxy on the plain port never sees a customer key."""
    key = s3c.new_sse_c_key()
    f = datafile(1000)
    with S3Proxy(env["OBSMOUNT_TEST_HTTP_URL"]) as p:
        t = Tool(bucket, p.url, https_url=env["OBSMOUNT_TEST_HTTPS_URL"],
                 extra=["--sse-c", key])
        t.run("put", "k", str(f))
        assert t.run("get", "k").out == f.read_bytes()
        t.run("head", "k")
        uid = t.run("mpu-create", "m").field("upload-id")
        e = t.run("mpu-part", "m", uid, "1", str(f)).field("etag")
        t.run("mpu-complete", "m", uid, "1:" + e)
        t.run("copy", "k", "k2", opts=["--src-sse-c", key, "--known", "c"])
        t.run("list")  # no encryption: the plain port
        recs = p.records()
        for rec in recs:
            for h in ("x-amz-server-side-encryption-customer-key",
                      "x-amz-copy-source-server-side-encryption-customer-key"):
                assert not header_values(rec, h), rec["method"] + " " + rec["target"]
        assert any("list-type=2" in r["query"] for r in recs)

        # Strict policy refuses instead of upgrading, and sends nothing.
        p.clear_records()
        r = t.run("get", "k", opts=["--policy", "strict"], check=False)
        assert r.rc == 1 and r.errno == "EACCES"
        assert "refused by the protocol guard" in r.err and "fix:" in r.err
        assert p.records() == []

    # No HTTPS endpoint at all: refused.
    t = Tool(bucket, env["OBSMOUNT_TEST_HTTP_URL"], extra=["--sse-c", key])
    r = t.run("put", "x", str(f), check=False)
    assert r.rc == 1 and r.errno == "EACCES" and r.status == 0


def test_sse_kms(env, bucket, datafile):
    f = datafile(70000)
    kms = env["OBSMOUNT_TEST_KMS_KEY1"]
    # V2 over http: the guard upgrades PutObject to HTTPS and V4 (table 2).
    t = Tool(bucket, env["OBSMOUNT_TEST_HTTP_URL"], sigv=2,
             https_url=env["OBSMOUNT_TEST_HTTPS_URL"], extra=["--sse-kms=" + kms])
    t.run("put", "kms", str(f))
    plain = Tool(bucket, env["OBSMOUNT_TEST_HTTPS_URL"], sigv=2)
    r = plain.run("head", "kms", opts=["--known", "kms"])
    assert r.field("enc") == "kms" and r.field("kms-key-id") == kms
    assert plain.run("get", "kms", opts=["--known", "kms"]).out == f.read_bytes()
    # Multipart under SSE-KMS. Spec table 2 allows Complete over HTTP with
    # V2, but RGW with "rgw crypt require ssl" refuses it (InvalidRequest),
    # so this runs against the lax gateway.
    lax = Tool(bucket, env["OBSMOUNT_TEST_LAX_HTTP_URL"], sigv=2,
               https_url=env["OBSMOUNT_TEST_LAX_HTTPS_URL"], extra=["--sse-kms=" + kms])
    uid = lax.run("mpu-create", "kmsmp").field("upload-id")
    e = lax.run("mpu-part", "kmsmp", uid, "1", str(f)).field("etag")
    lax.run("mpu-complete", "kmsmp", uid, "1:" + e)
    r = plain.run("head", "kmsmp", opts=["--known", "kms"])
    assert r.field("enc") == "kms"
    # Strict policy with V2 refuses the KMS PUT.
    r = t.run("put", "kms2", str(f), opts=["--policy", "strict"], check=False)
    assert r.errno == "EACCES"


# --------------------------------------------------------------------------
# faults through the proxy

@pytest.fixture
def proxied(env, bucket):
    with S3Proxy(env["OBSMOUNT_TEST_HTTP_URL"]) as p:
        yield p, Tool(bucket, p.url, extra=["--known", "none"])


def count(p, method, path_re=None):
    return sum(1 for r in p.records() if r["method"] == method and
               (path_re is None or re.search(path_re, r["path"])))


def test_slow_down_storm_recovers(proxied, datafile):
    p, t = proxied
    f = datafile(2000)
    p.set_rules([{"action": "slow_down", "method": "PUT", "times": 4}])
    t.run("put", "k", str(f))
    assert count(p, "PUT") == 5
    p.set_rules([{"action": "internal_error", "method": "GET", "times": 2}])
    assert t.run("get", "k").out == f.read_bytes()
    p.set_rules([{"action": "error", "status": 429, "code": "TooManyRequests",
                  "method": "HEAD", "times": 1}])
    t.run("head", "k")


def test_slow_down_beyond_retries_fails(proxied, datafile):
    p, t = proxied
    f = datafile(10)
    p.set_rules([{"action": "slow_down", "method": "PUT"}])
    r = t.run("put", "k", str(f), opts=["--retries", "2"], check=False)
    assert r.rc == 1 and r.status == 503 and r.code == "SlowDown"
    assert count(p, "PUT") == 3
    assert "request id" in r.err


def test_other_4xx_not_retried(proxied, datafile):
    p, t = proxied
    r = t.run("get", "missing", check=False)
    assert r.errno == "ENOENT" and count(p, "GET") == 1
    p.set_rules([{"action": "error", "status": 403, "code": "AccessDenied", "method": "PUT"}])
    r = t.run("put", "k", str(datafile(10)), check=False)
    assert r.errno == "EACCES" and count(p, "PUT") == 1


def test_reset_mid_body_retries(proxied, datafile):
    p, t = proxied
    f = datafile(3 * 1024 * 1024)
    t.run("put", "big", str(f))
    p.set_rules([{"action": "reset_response", "method": "GET", "bytes": 65536, "times": 1}])
    assert t.run("get", "big").out == f.read_bytes()
    assert count(p, "GET") == 2
    p.set_rules([{"action": "reset_request", "method": "PUT", "bytes": 100000, "times": 1}])
    t.run("put", "big2", str(f))
    assert t.run("get", "big2").out == f.read_bytes()


def test_truncated_body_is_eio(proxied, datafile):
    p, t = proxied
    f = datafile(1024 * 1024)
    t.run("put", "k", str(f))
    # Once: the retry gets the whole body.
    p.set_rules([{"action": "truncate", "method": "GET", "bytes": 1000, "times": 1}])
    assert t.run("get", "k").out == f.read_bytes()
    # Always: EIO, and not a byte of data on stdout.
    p.set_rules([{"action": "truncate", "method": "GET", "bytes": 1000}])
    r = t.run("get", "k", opts=["--retries", "1"], check=False)
    assert r.rc == 1 and r.errno == "EIO" and r.out == b""
    r = t.run("get", "k", "100", "5000", opts=["--retries", "0"], check=False)
    assert r.errno == "EIO" and r.out == b""


def test_error_in_200_is_an_error(proxied, datafile):
    p, t = proxied
    f = datafile(100)
    t.run("put", "src", str(f))
    p.set_rules([{"action": "error_200", "headers": {"x-amz-copy-source": True},
                  "code": "AccessDenied", "message": "late failure"}])
    r = t.run("copy", "src", "dst", check=False)
    assert r.rc == 1 and r.errno == "EACCES" and r.code == "AccessDenied"
    assert count(p, "PUT") == 2  # the first PUT was the upload
    # A retryable code in a 200 is retried.
    p.set_rules([{"action": "error_200", "headers": {"x-amz-copy-source": True},
                  "times": 1, "forward": True}])
    t.run("copy", "src", "dst")
    # CompleteMultipartUpload.
    uid = t.run("mpu-create", "m").field("upload-id")
    e = t.run("mpu-part", "m", uid, "1", str(f)).field("etag")
    p.set_rules([{"action": "error_200", "method": "POST", "query": "uploadId=",
                  "code": "InvalidPart", "message": "no"}])
    r = t.run("mpu-complete", "m", uid, "1:" + e, check=False)
    assert r.rc == 1 and r.code == "InvalidPart"
    p.clear_rules()
    t.run("mpu-complete", "m", uid, "1:" + e)


def test_malformed_listing_is_eio(proxied, datafile):
    p, t = proxied
    t.run("put", "k", str(datafile(10)))
    p.set_rules([{"action": "malformed_xml", "query": "list-type=2"}])
    r = t.run("list", check=False)
    assert r.rc == 1 and r.errno == "EIO"


def test_clock_skew_resync(proxied, datafile):
    p, t = proxied
    p.set_rules([{"action": "error", "status": 403, "code": "RequestTimeTooSkewed",
                  "method": "PUT", "times": 1}])
    t.run("put", "k", str(datafile(10)))
    assert count(p, "PUT") == 2


def test_wire_format(proxied, datafile):
    """What goes on the wire: one request per op, Content-MD5 on PUT, no
    Expect: 100-continue, the payload hash over HTTP, keep-alive."""
    p, t = proxied
    f = datafile(2 * 1024 * 1024)
    t.run("put", "a b", str(f))
    (rec,) = [r for r in p.records() if r["method"] == "PUT"]
    assert rec["path"].endswith("/a%20b")
    assert header_values(rec, "content-md5")
    assert not header_values(rec, "expect")
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    assert header_values(rec, "x-amz-content-sha256") == [sha]
    # Several requests in one process share a connection.
    t.run("delmany", "a b", "c", "d")
    recs = p.records()
    (dm,) = [r for r in recs if r["method"] == "POST"]
    assert dm["query"] == "delete" and header_values(dm, "content-md5")


def test_virtual_hosted_wire_format(env, bucket, datafile):
    """Virtual-hosted addressing: the bucket moves into Host. The test server
    has no DNS name for buckets, so only the request is checked."""
    with S3Proxy(env["OBSMOUNT_TEST_HTTP_URL"]) as p:
        url = "http://s3.test:%d" % p.port
        t = Tool(bucket, url, extra=["--addressing", "virtual", "--resolve",
                                     "%s.s3.test:%d:127.0.0.1" % (bucket, p.port),
                                     "--retries", "0", "--known", "none"])
        t.run("get", "x y/z", check=False)
        (rec,) = p.records()
        assert header_values(rec, "host") == ["%s.s3.test:%d" % (bucket, p.port)]
        assert rec["path"] == "/x%20y/z"
