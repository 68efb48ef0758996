# SPDX-License-Identifier: GPL-2.0-or-later
"""obsmount --check against the RGW test server: every verdict line is
"ok:", "warn:" or "FAIL:", a failure names the check and carries a fix, the
exit status says whether anything failed, and no secret is ever printed.

Check mode mounts nothing, so these tests need neither root nor /dev/fuse.
"""
import base64
import email.utils
import hashlib
import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TESTS, "server"))
import s3c  # noqa: E402
from conftest import new_bucket_name  # noqa: E402

LINE = re.compile(r"^(ok|warn|FAIL): [a-z][a-z_ ]*: ")
WRONG_SECRET = "wrong-secret-0123456789abcdefghijklmnop"


def obsmount_bin():
    b = os.environ.get("OBSMOUNT_BIN") or os.path.abspath("obsmount")
    assert os.access(b, os.X_OK), "no obsmount binary at %r (set OBSMOUNT_BIN)" % b
    return b


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout.decode(errors="replace")
        self.err = proc.stderr.decode(errors="replace")
        self.lines = self.out.splitlines()

    def verdicts(self, kind):
        return [l for l in self.lines if l.startswith(kind + ": ")]

    def line(self, kind, check):
        """The one line of verdict @kind for check @check."""
        hits = [l for l in self.verdicts(kind) if l.startswith("%s: %s: " % (kind, check))]
        assert len(hits) == 1, "want one %s line for %r in:\n%s" % (kind, check, self.out)
        return hits[0]

    def __repr__(self):
        return "rc=%d\nstdout:\n%s\nstderr:\n%s" % (self.rc, self.out, self.err)


@pytest.fixture(scope="module")
def setup(rgw):
    """A bucket, a passwd file, a wrong-secret passwd file and an SSE-C key file."""
    work = tempfile.mkdtemp(prefix="obsmount-check-")
    c = s3c.client_from_env()
    bucket = new_bucket_name("check")
    c.create_bucket(bucket)

    def secret_file(name, text):
        p = os.path.join(work, name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, 0o600)
        return p

    ak = rgw["OBSMOUNT_TEST_ACCESS_KEY"]
    sse_key = base64.b64encode(os.urandom(32)).decode()
    s = {
        "env": rgw,
        "s3": c,
        "bucket": bucket,
        "work": work,
        "passwd": secret_file("passwd", "%s:%s\n" % (ak, rgw["OBSMOUNT_TEST_SECRET_KEY"])),
        "bad_passwd": secret_file("bad", "%s:%s\n" % (ak, WRONG_SECRET)),
        "sse_key": sse_key,
        "keyfile": secret_file("keys", sse_key + "\n"),
    }
    yield s
    c.delete_bucket_recursive(bucket)
    shutil.rmtree(work, ignore_errors=True)


def run_check(setup, bucket=None, url=None, https_url=None, passwd=None, extra=(),
              lax=False):
    env = setup["env"]
    lax_ = "LAX_" if lax else ""
    o = ["url=" + (url or env["OBSMOUNT_TEST_%sHTTP_URL" % lax_]),
         "passwd_file=" + (passwd or setup["passwd"]),
         "cafile=" + env["OBSMOUNT_TEST_CA"],
         "region=" + env.get("OBSMOUNT_TEST_REGION", "us-east-1")]
    if https_url is not False:
        o.append("https_url=" + (https_url or env["OBSMOUNT_TEST_%sHTTPS_URL" % lax_]))
    argv = [obsmount_bin(), "--check", bucket or setup["bucket"], "-o", ",".join(o + list(extra))]
    r = Result(subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=120))
    # Whatever happened: no secret on either stream, every line a verdict.
    for secret in (env["OBSMOUNT_TEST_SECRET_KEY"], WRONG_SECRET, setup["sse_key"]):
        assert secret not in r.out and secret not in r.err, r
    assert r.lines, r
    assert not re.search(r"==\d+==|runtime error:", r.err), "sanitizer report:\n%s" % r.err
    for l in r.lines:
        assert LINE.match(l), "not a verdict line: %r\n%r" % (l, r)
        if l.startswith("FAIL: ") or l.startswith("warn: "):
            assert "; fix: " in l, "no fix in %r" % l
    assert r.rc == (1 if r.verdicts("FAIL") else 0), r
    return r


def probe_objects(setup):
    keys, _ = setup["s3"].list_objects(setup["bucket"])
    return [k for k in keys if ".obsmount-check-" in k]


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_healthy(setup):
    r = run_check(setup)
    assert r.rc == 0, r
    assert not r.verdicts("FAIL") and not r.verdicts("warn"), r
    for check in ("options", "credentials", "reach url", "reach https_url", "tls", "clock",
                  "credentials accepted", "addressing", "bucket"):
        r.line("ok", check)
    assert "'%s'" % setup["bucket"] in r.line("ok", "bucket")


def test_wrong_secret(setup):
    r = run_check(setup, passwd=setup["bad_passwd"])
    assert r.rc == 1, r
    l = r.line("FAIL", "credentials accepted")
    assert "SignatureDoesNotMatch" in l and "secret key" in l, l
    assert "fix: correct the secret key" in l and setup["bad_passwd"] in l, l
    # Loading the file worked: only the server's verdict fails.
    r.line("ok", "credentials")
    assert len(r.verdicts("FAIL")) == 1, r


def test_unknown_access_key(setup):
    p = os.path.join(setup["work"], "unknown")
    with open(p, "w") as f:
        f.write("NOSUCHACCESSKEY0001:%s\n" % WRONG_SECRET)
    os.chmod(p, 0o600)
    r = run_check(setup, passwd=p)
    l = r.line("FAIL", "credentials accepted")
    assert "InvalidAccessKeyId" in l and "NOSUCHACCESSKEY0001" in l, l
    assert "SignatureDoesNotMatch" not in r.out, r


def test_closed_port(setup):
    port = closed_port()
    r = run_check(setup, url="http://127.0.0.1:%d" % port, https_url=False)
    assert r.rc == 1, r
    l = r.line("FAIL", "reach url")
    assert "port %d" % port in l and "refused" in l.lower(), l
    assert "fix: check the host and port in url=" in l, l
    # Nothing is asked of a server that is not there.
    assert not [x for x in r.lines if x.split(": ")[1] in ("bucket", "credentials accepted")], r


def test_http_only_with_sse_c(setup):
    r = run_check(setup, https_url=False, extra=["sse=c:" + setup["keyfile"]])
    assert r.rc == 1, r
    l = r.line("FAIL", "encryption transport")
    assert "HTTP-only endpoint" in l and "SSE-C" in l, l
    assert "fix: add https_url=" in l, l
    assert not [x for x in r.lines if "encryption probe" in x], r
    assert not probe_objects(setup)


def test_missing_bucket(setup):
    missing = new_bucket_name("check-missing")
    r = run_check(setup, bucket=missing)
    assert r.rc == 1, r
    l = r.line("FAIL", "bucket")
    assert "'%s' does not exist" % missing in l and "NoSuchBucket" in l, l
    assert "fix: create bucket '%s'" % missing in l, l
    r.line("ok", "credentials accepted")


def test_sse_c_healthy(setup):
    r = run_check(setup, bucket=setup["bucket"] + ":/some/prefix",
                  extra=["sse=c:" + setup["keyfile"]])
    assert r.rc == 0, r
    md5 = base64.b64encode(hashlib.md5(base64.b64decode(setup["sse_key"])).digest()).decode()
    assert md5 in r.line("ok", "encryption probe"), r
    r.line("ok", "encryption transport")
    assert not probe_objects(setup), "the probe object was left behind"


def test_sse_kms_healthy_lax(setup):
    kms = setup["env"]["OBSMOUNT_TEST_KMS_KEY1"]
    r = run_check(setup, lax=True, extra=["sse=kms:" + kms])
    assert r.rc == 0, r
    l = r.line("ok", "encryption probe")
    assert "SSE-KMS" in l and "'%s'" % kms in l, l
    assert "18090" in r.line("ok", "reach url") and "18453" in r.line("ok", "reach https_url")
    assert not probe_objects(setup), "the probe object was left behind"


def test_key_file_too_open(setup):
    p = os.path.join(setup["work"], "open-keys")
    with open(p, "w") as f:
        f.write(setup["sse_key"] + "\n")
    os.chmod(p, 0o644)
    r = run_check(setup, extra=["sse=c:" + p])
    l = r.line("FAIL", "encryption keys")
    assert "chmod 600" in l, l
    assert not probe_objects(setup)


def test_tls_without_ca(setup):
    env = setup["env"]
    argv = [obsmount_bin(), "--check", setup["bucket"], "-o",
            "url=%s,passwd_file=%s" % (env["OBSMOUNT_TEST_HTTPS_URL"], setup["passwd"])]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    r = Result(p)
    assert r.rc == 1, r
    l = r.line("FAIL", "tls")
    assert "certificate" in l and "fix: add cafile=" in l, l
    assert env["OBSMOUNT_TEST_SECRET_KEY"] not in r.out + r.err


def test_check_flag_in_help():
    out = subprocess.run([obsmount_bin(), "--help"], stdout=subprocess.PIPE,
                         check=True).stdout.decode()
    assert re.search(r"^\s+--check\s", out, re.M), out


class StubS3(http.server.ThreadingHTTPServer):
    """A fake endpoint for what the real server will not do on demand: a
    clock that is off, or a bucket that refuses the user. HEAD answers
    head_status with a Date head_skew seconds off; GET answers 200 with an
    empty listing, or the S3 error get_error (403)."""

    def __init__(self, skew=0, head_status=200, get_error=None, path_only_bucket=None):
        self.skew, self.head_status, self.get_error = skew, head_status, get_error
        # Only path-style requests for this bucket find it (404 otherwise).
        self.path_only_bucket = path_only_bucket
        super().__init__(("127.0.0.1", 0), StubHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]


class StubHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def date_time_string(self, timestamp=None):
        # send_response() sends this as the Date header.
        return email.utils.formatdate(time.time() + self.server.skew, usegmt=True)

    def reply(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/xml")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        b = self.server.path_only_bucket
        if b and self.path.split("?")[0].rstrip("/") != "/" + b:
            self.reply(404)
        else:
            self.reply(self.server.head_status)

    def do_GET(self):
        if self.server.get_error:
            self.reply(403, ("<?xml version=\"1.0\"?><Error><Code>%s</Code><Message></Message>"
                             "<RequestId>stub</RequestId></Error>" % self.server.get_error).encode())
        else:
            self.reply(200, b"<?xml version=\"1.0\"?><ListBucketResult><IsTruncated>false"
                            b"</IsTruncated><KeyCount>0</KeyCount></ListBucketResult>")


@pytest.fixture
def stub():
    servers = []

    def make(**kw):
        s = StubS3(**kw)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.shutdown()
        s.server_close()


def test_clock_skew_fails(setup, stub):
    s = stub(skew=-600)
    r = run_check(setup, url=s.url, https_url=False)
    assert r.rc == 1, r
    l = r.line("FAIL", "clock")
    assert re.search(r"clock: (59\d|60\d) s ahead of the server's", l), l
    assert "fix: synchronise the clock" in l, l


def test_clock_skew_warns(setup, stub):
    s = stub(skew=120)
    r = run_check(setup, url=s.url, https_url=False)
    assert r.rc == 0, r
    l = r.line("warn", "clock")
    assert re.search(r"clock: 1[12]\d s behind the server's", l), l


def test_clock_in_step(setup, stub):
    s = stub(skew=0)
    r = run_check(setup, url=s.url, https_url=False)
    assert r.rc == 0, r
    r.line("ok", "clock")


def test_access_denied_is_not_a_credentials_failure(setup, stub):
    s = stub(head_status=403, get_error="AccessDenied")
    r = run_check(setup, url=s.url, https_url=False)
    assert r.rc == 1, r
    r.line("ok", "credentials accepted")
    l = r.line("FAIL", "bucket")
    assert "AccessDenied" in l and "fix: grant access key" in l, l


def test_addressing_names_the_one_that_works(setup, stub):
    s = stub(path_only_bucket=setup["bucket"])
    url = s.url.replace("127.0.0.1", "localhost")
    r = run_check(setup, url=url, https_url=False, extra=["addressing=virtual"])
    assert r.rc == 1, r
    l = r.line("FAIL", "addressing")
    assert "virtual-style requests fail" in l and "path-style reach the bucket" in l, l
    assert l.endswith("fix: use addressing=path"), l
    # Everything else is judged with the addressing that works.
    assert "path-style" in r.line("ok", "bucket"), r
    r.line("ok", "credentials accepted")
    assert not [x for x in r.verdicts("FAIL") if not x.startswith("FAIL: addressing")], r


def test_misspelt_option_warns_without_its_value(setup):
    r = run_check(setup, extra=["sse_kye=TOPSECRETVALUE", "allow_other", "fsname=x"])
    assert r.rc == 0, r
    l = r.line("warn", "options")
    assert "'sse_kye'" in l and "fix: correct its spelling" in l, l
    assert "TOPSECRETVALUE" not in r.out + r.err, r


def test_sse_kms_unknown_key(setup):
    r = run_check(setup, extra=["sse=kms:obsmount-check-no-such-key"])
    assert r.rc == 1, r
    l = r.line("FAIL", "encryption probe")
    assert "SSE-KMS" in l and "fix: make sure the KMS key" in l, l
    assert not probe_objects(setup)


# ---- incomplete multipart uploads -------------------------------------------

def run_uploads(setup, target, *flags):
    env = setup["env"]
    o = ["url=" + env["OBSMOUNT_TEST_HTTP_URL"], "passwd_file=" + setup["passwd"],
         "cafile=" + env["OBSMOUNT_TEST_CA"], "https_url=" + env["OBSMOUNT_TEST_HTTPS_URL"],
         "region=" + env.get("OBSMOUNT_TEST_REGION", "us-east-1")]
    argv = [obsmount_bin(), "--incomplete-uploads", target, "-o", ",".join(o)] + list(flags)
    r = Result(subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=120))
    assert env["OBSMOUNT_TEST_SECRET_KEY"] not in r.out + r.err, r
    return r


def pending_uploads(setup, prefix):
    r = setup["s3"].request("GET", setup["bucket"], query=[("uploads", None),
                                                           ("prefix", prefix)])
    return re.findall(r"<UploadId>([^<]+)</UploadId>", r.body.decode())


def test_incomplete_uploads_list_and_abort(setup):
    c, b = setup["s3"], setup["bucket"]
    ids = [c.create_multipart_upload(b, "left/%d" % i) for i in range(3)]
    other = c.create_multipart_upload(b, "elsewhere/x")
    try:
        # --check sees them (all new: no warning).
        r = run_check(setup)
        assert re.search(r"^ok: uploads: \d+ incomplete multipart uploads?, none older",
                         r.out, re.M), r
        # Listing under a prefix: only those.
        r = run_uploads(setup, b + ":/left")
        assert r.rc == 0, r
        listed = [l.split()[1] for l in r.lines if l.startswith("left/")]
        assert sorted(listed) == sorted(ids), r
        assert other not in r.out
        # Too young to abort at 24 h; aborted at 0 h.
        r = run_uploads(setup, b + ":/left", "--abort-older-than=24")
        assert r.rc == 0 and "0 aborted" in r.out, r
        assert sorted(pending_uploads(setup, "left/")) == sorted(ids)
        r = run_uploads(setup, b + ":/left", "--abort-older-than=0")
        assert r.rc == 0 and "3 aborted" in r.out, r
        assert pending_uploads(setup, "left/") == []
        assert pending_uploads(setup, "elsewhere/") == [other]
        # A bad number is refused.
        r = run_uploads(setup, b, "--abort-older-than=soon")
        assert r.rc == 1 and "FAIL: options:" in r.out, r
    finally:
        c.abort_multipart_upload(b, "elsewhere/x", other)

def test_bucket_default_encryption(setup):
    """--check reports the bucket's default encryption, and fails an
    HTTP-only endpoint for a bucket whose default is SSE-KMS."""
    r = run_check(setup)
    assert "ok: bucket encryption: none by default" in r.lines, r
    c, env = setup["s3"], setup["env"]
    bucket = new_bucket_name("checkenc")
    c.create_bucket(bucket)
    try:
        kid = env["OBSMOUNT_TEST_KMS_KEY1"]
        body = ('<ServerSideEncryptionConfiguration '
                'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule>'
                "<ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm>"
                "<KMSMasterKeyID>%s</KMSMasterKeyID></ApplyServerSideEncryptionByDefault>"
                "</Rule></ServerSideEncryptionConfiguration>" % kid).encode()
        assert c.request("PUT", bucket, query={"encryption": ""}, body=body).status == 200
        r = run_check(setup, bucket=bucket)
        assert "ok: bucket encryption: SSE-KMS by default with key '%s'" % kid in r.lines, r
        assert r.rc == 0, r
        r = run_check(setup, bucket=bucket, https_url=False)
        line = r.line("FAIL", "bucket encryption")
        assert "HTTP-only" in line and "https_url=" in line, line
    finally:
        c.delete_bucket_recursive(bucket)
