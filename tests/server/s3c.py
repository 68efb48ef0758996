#!/usr/bin/env python3
"""s3c -- a small, dependency-free S3 client for tests.

Uses only the Python standard library.  Signs requests with AWS signature
version 2 (S3 REST authentication) or version 4 (header based, with
x-amz-content-sha256), speaks path-style URLs, and knows the SSE-C,
copy-source SSE-C and SSE-KMS headers.

As a module::

    import s3c
    c = s3c.S3Client("https://127.0.0.1:18443", "AK", "SK", ca="cert.pem")
    c.create_bucket("b")
    c.put_object("b", "k", b"data", headers=s3c.sse_c_headers(key_b64))
    body = c.get_object("b", "k", headers=s3c.sse_c_headers(key_b64)).body

As a command::

    s3c.py [--sigv 2|4] [--url URL] [--sse-c-key B64] [--kms KEYID] \\
           put|get|head|delete|mb|rb|copy|ls|genkey ...

Connection defaults come from the OBSMOUNT_TEST_* environment variables
printed by start.sh.  Run ``s3c.py --help`` for details.
"""

import argparse
import base64
import datetime
import email.utils
import hashlib
import hmac
import http.client
import os
import ssl
import sys
import urllib.parse
import xml.etree.ElementTree as ET

__all__ = [
    "S3Client", "S3Error", "Response", "sse_c_headers",
    "copy_source_sse_c_headers", "kms_headers", "new_sse_c_key",
    "client_from_env",
]

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

# Query parameters that are part of the V2 canonicalized resource.
V2_SUBRESOURCES = frozenset("""
    acl accelerate analytics cors delete encryption inventory lifecycle
    location logging metrics notification object-lock partNumber policy
    policyStatus publicAccessBlock replication requestPayment restore
    retention legal-hold select select-type tagging torrent uploadId uploads
    versionId versioning versions website append position
    response-cache-control response-content-disposition
    response-content-encoding response-content-language
    response-content-type response-expires
""".split())


class Response:
    """A finished HTTP exchange."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        # Lower-case names; repeated headers joined with ", ".
        self.headers = headers
        self.body = body

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    @property
    def ok(self):
        return 200 <= self.status < 300

    def error_code(self):
        """The <Code> of an S3 error body, or None."""
        return _xml_find_text(self.body, "Code")

    def __repr__(self):
        return "<Response %d %s%s>" % (
            self.status, self.reason,
            "" if self.ok else " %s" % self.error_code())


class S3Error(Exception):
    """A request got a non-2xx answer."""

    def __init__(self, response, method="", path=""):
        self.response = response
        self.status = response.status
        self.code = response.error_code()
        self.message = _xml_find_text(response.body, "Message")
        super().__init__("%s %s -> %d %s%s" % (
            method, path, response.status, self.code or response.reason,
            ": %s" % self.message if self.message else ""))


def _xml_find_text(body, tag):
    if not body or not body.lstrip().startswith(b"<"):
        return None
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    for el in root.iter():
        if _local(el.tag) == tag:
            return el.text
    return None


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def new_sse_c_key():
    """A fresh random SSE-C key, base64 encoded."""
    return _b64(os.urandom(32))


def _sse_c(prefix, key_b64):
    raw = base64.b64decode(key_b64)
    return {
        prefix + "algorithm": "AES256",
        prefix + "key": _b64(raw),
        prefix + "key-md5": _b64(hashlib.md5(raw).digest()),
    }


def sse_c_headers(key_b64):
    """Headers for a customer-provided key (PUT, GET, HEAD, UploadPart,
    destination of a copy)."""
    return _sse_c("x-amz-server-side-encryption-customer-", key_b64)


def copy_source_sse_c_headers(key_b64):
    """Headers to decrypt the source of a copy made with SSE-C."""
    return _sse_c("x-amz-copy-source-server-side-encryption-customer-",
                  key_b64)


def kms_headers(key_id):
    """Headers for SSE-KMS with the given key id."""
    return {
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": key_id,
    }


def _quote(s, safe):
    return urllib.parse.quote(s, safe=safe)


def _normalize_query(query):
    """query: None, a dict or a list of pairs; a value of None means a bare
    flag (``?uploads``).  Returns a list of (name, value-or-None)."""
    if not query:
        return []
    items = query.items() if isinstance(query, dict) else query
    return [(str(k), None if v is None else str(v)) for k, v in items]


class S3Client:
    """Path-style S3 client signing with V2 or V4."""

    def __init__(self, url, access_key, secret_key, region="us-east-1",
                 sigv=4, ca=None, insecure=False, timeout=120,
                 unsigned_payload=False):
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https"):
            raise ValueError("URL must be http or https: %r" % url)
        self.url = url
        self.scheme = u.scheme
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        default_port = 443 if u.scheme == "https" else 80
        hostpart = "[%s]" % self.host if ":" in self.host else self.host
        self.netloc = (hostpart if self.port == default_port
                       else "%s:%d" % (hostpart, self.port))
        self.base_path = u.path.rstrip("/")
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.sigv = int(sigv)
        if self.sigv not in (2, 4):
            raise ValueError("sigv must be 2 or 4")
        self.timeout = timeout
        self.unsigned_payload = unsigned_payload
        self.ssl_context = None
        if self.scheme == "https":
            if insecure:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            else:
                ctx = ssl.create_default_context(cafile=ca)
            self.ssl_context = ctx
        # Hook for tests: called with (method, path, headers) right before
        # sending, after signing (e.g. to corrupt the signature).
        self.before_send = None

    # -- signing ---------------------------------------------------------

    def _path(self, bucket, key):
        path = self.base_path + "/"
        if bucket:
            path += _quote(bucket, "")
            if key is not None:
                path += "/" + _quote(key, "/~")
        return path

    def _sign_v2(self, method, path, query, headers):
        if not any(h.lower() in ("date", "x-amz-date") for h in headers):
            headers["Date"] = email.utils.formatdate(usegmt=True)
        lower = {}
        for name, value in headers.items():
            lower.setdefault(name.lower(), []).append(str(value).strip())
        amz = "".join(
            "%s:%s\n" % (n, ",".join(lower[n]))
            for n in sorted(lower) if n.startswith("x-amz-"))
        date = "" if "x-amz-date" in lower else lower.get("date", [""])[0]
        sub = sorted((k, v) for k, v in query if k in V2_SUBRESOURCES)
        resource = path
        if sub:
            resource += "?" + "&".join(
                k if v is None else "%s=%s" % (k, v) for k, v in sub)
        string_to_sign = "\n".join([
            method,
            lower.get("content-md5", [""])[0],
            lower.get("content-type", [""])[0],
            date,
            amz + resource,
        ])
        sig = _b64(hmac.new(self.secret_key.encode(), string_to_sign.encode(),
                            hashlib.sha1).digest())
        headers["Authorization"] = "AWS %s:%s" % (self.access_key, sig)
        return string_to_sign

    def _sign_v4(self, method, path, query, headers, payload_hash):
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        headers["x-amz-date"] = amz_date
        headers["x-amz-content-sha256"] = payload_hash
        canon = {}
        for name, value in headers.items():
            n = name.lower()
            if n == "host" or n.startswith("x-amz-") or n in (
                    "content-type", "content-md5"):
                canon.setdefault(n, []).append(" ".join(str(value).split()))
        signed = ";".join(sorted(canon))
        canon_headers = "".join(
            "%s:%s\n" % (n, ",".join(canon[n])) for n in sorted(canon))
        canon_query = "&".join(sorted(
            "%s=%s" % (_quote(k, "-_.~"), _quote(v or "", "-_.~"))
            for k, v in query))
        canonical_request = "\n".join([
            method, path, canon_query, canon_headers, signed, payload_hash])
        scope = "%s/%s/s3/aws4_request" % (day, self.region)
        string_to_sign = "\n".join([
            "AWS4-HMAC-SHA256", amz_date, scope,
            hashlib.sha256(canonical_request.encode()).hexdigest()])
        k = ("AWS4" + self.secret_key).encode()
        for part in (day, self.region, "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        sig = hmac.new(k, string_to_sign.encode(), hashlib.sha256).hexdigest()
        headers["Authorization"] = (
            "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, "
            "Signature=%s" % (self.access_key, scope, signed, sig))
        return canonical_request

    # -- transport -------------------------------------------------------

    def _connect(self):
        if self.scheme == "https":
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout,
                context=self.ssl_context)
        return http.client.HTTPConnection(self.host, self.port,
                                          timeout=self.timeout)

    def request(self, method, bucket=None, key=None, query=None,
                headers=None, body=b"", sigv=None, sign=True, out=None):
        """Send one request and return a Response (never raises on HTTP
        errors).  body: bytes or a seekable binary file.  out: if given, a
        binary file the body of a 2xx answer is streamed to (then
        Response.body is b"")."""
        sigv = self.sigv if sigv is None else int(sigv)
        query = _normalize_query(query)
        path = self._path(bucket, key)
        hdrs = dict(headers or {})
        hdrs["Host"] = self.netloc
        if isinstance(body, str):
            body = body.encode()
        if body is None:
            body = b""
        if isinstance(body, (bytes, bytearray, memoryview)):
            length = len(body)
        else:
            pos = body.tell()
            body.seek(0, os.SEEK_END)
            length = body.tell() - pos
            body.seek(pos)
        if method in ("PUT", "POST") or length:
            hdrs["Content-Length"] = str(length)
        if sign:
            if sigv == 2:
                self._sign_v2(method, path, query, hdrs)
            else:
                if self.unsigned_payload:
                    payload_hash = UNSIGNED_PAYLOAD
                elif isinstance(body, (bytes, bytearray, memoryview)):
                    payload_hash = hashlib.sha256(body).hexdigest()
                else:
                    h = hashlib.sha256()
                    pos = body.tell()
                    for chunk in iter(lambda: body.read(1 << 20), b""):
                        h.update(chunk)
                    body.seek(pos)
                    payload_hash = h.hexdigest()
                self._sign_v4(method, path, query, hdrs, payload_hash)
        url = path
        if query:
            url += "?" + "&".join(
                _quote(k, "-_.~") if v is None
                else "%s=%s" % (_quote(k, "-_.~"), _quote(v, "-_.~"))
                for k, v in query)
        if self.before_send:
            self.before_send(method, url, hdrs)
        conn = self._connect()
        try:
            conn.putrequest(method, url, skip_host=True,
                            skip_accept_encoding=True)
            for name, value in hdrs.items():
                conn.putheader(name, value)
            conn.endheaders()
            if isinstance(body, (bytes, bytearray, memoryview)):
                if length:
                    conn.send(body)
            else:
                for chunk in iter(lambda: body.read(1 << 20), b""):
                    conn.send(chunk)
            resp = conn.getresponse()
            rh = {}
            for name, value in resp.getheaders():
                n = name.lower()
                rh[n] = rh[n] + ", " + value if n in rh else value
            if out is not None and 200 <= resp.status < 300:
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    out.write(chunk)
                data = b""
            else:
                data = resp.read()
            return Response(resp.status, resp.reason, rh, data)
        finally:
            conn.close()

    def _checked(self, method, bucket=None, key=None, **kw):
        r = self.request(method, bucket, key, **kw)
        if not r.ok:
            raise S3Error(r, method, self._path(bucket, key))
        return r

    # -- operations ------------------------------------------------------

    def list_buckets(self):
        r = self._checked("GET")
        return [_xml_find_text(ET.tostring(b), "Name")
                for b in _iter_tag(r.body, "Bucket")]

    def create_bucket(self, bucket, headers=None, location=None):
        body = b""
        if location:
            body = ("<CreateBucketConfiguration><LocationConstraint>%s"
                    "</LocationConstraint></CreateBucketConfiguration>"
                    % location).encode()
        return self._checked("PUT", bucket, headers=headers, body=body)

    def delete_bucket(self, bucket):
        return self._checked("DELETE", bucket)

    def put_object(self, bucket, key, data=b"", headers=None):
        return self._checked("PUT", bucket, key, headers=headers, body=data)

    def get_object(self, bucket, key, headers=None, range=None, query=None,
                   out=None):
        h = dict(headers or {})
        if range is not None:
            h["Range"] = range if isinstance(range, str) else \
                "bytes=%d-%d" % range
        return self._checked("GET", bucket, key, headers=h, query=query,
                             out=out)

    def head_object(self, bucket, key, headers=None):
        return self._checked("HEAD", bucket, key, headers=headers)

    def delete_object(self, bucket, key, headers=None):
        return self._checked("DELETE", bucket, key, headers=headers)

    def copy_object(self, src_bucket, src_key, dst_bucket, dst_key,
                    headers=None, metadata_directive=None):
        h = dict(headers or {})
        h["x-amz-copy-source"] = "/%s/%s" % (
            _quote(src_bucket, ""), _quote(src_key, "/~"))
        if metadata_directive:
            h["x-amz-metadata-directive"] = metadata_directive
        r = self._checked("PUT", dst_bucket, dst_key, headers=h)
        # A copy can fail after the 200 status line was sent.
        if b"<Error>" in r.body[:200]:
            raise S3Error(Response(500, "CopyFailed", r.headers, r.body),
                          "PUT", self._path(dst_bucket, dst_key))
        return r

    def list_objects(self, bucket, prefix=None, delimiter=None):
        """All keys (ListObjectsV2, following continuation tokens) and, if
        delimiter is given, common prefixes: returns (keys, prefixes)."""
        keys, prefixes, token = [], [], None
        while True:
            q = [("list-type", "2")]
            if prefix:
                q.append(("prefix", prefix))
            if delimiter:
                q.append(("delimiter", delimiter))
            if token:
                q.append(("continuation-token", token))
            r = self._checked("GET", bucket, query=q)
            root = ET.fromstring(r.body)
            for el in root:
                tag = _local(el.tag)
                if tag == "Contents":
                    keys.append(_child_text(el, "Key"))
                elif tag == "CommonPrefixes":
                    prefixes.append(_child_text(el, "Prefix"))
            if _child_text(root, "IsTruncated") != "true":
                return keys, prefixes
            token = _child_text(root, "NextContinuationToken")

    def create_multipart_upload(self, bucket, key, headers=None):
        r = self._checked("POST", bucket, key, query=[("uploads", None)],
                          headers=headers)
        return _xml_find_text(r.body, "UploadId")

    def upload_part(self, bucket, key, upload_id, part_number, data,
                    headers=None):
        r = self._checked("PUT", bucket, key, headers=headers, body=data,
                          query=[("partNumber", part_number),
                                 ("uploadId", upload_id)])
        return r.header("etag")

    def complete_multipart_upload(self, bucket, key, upload_id, etags,
                                  headers=None):
        """etags: list of ETags of parts 1..n in order (or of
        (part_number, etag) pairs)."""
        parts = []
        for i, e in enumerate(etags, 1):
            n, tag = e if isinstance(e, tuple) else (i, e)
            parts.append("<Part><PartNumber>%d</PartNumber><ETag>%s</ETag>"
                         "</Part>" % (n, tag))
        body = ("<CompleteMultipartUpload>%s</CompleteMultipartUpload>"
                % "".join(parts)).encode()
        r = self._checked("POST", bucket, key, headers=headers, body=body,
                          query=[("uploadId", upload_id)])
        if b"<Error>" in r.body[:200]:
            raise S3Error(Response(500, "CompleteFailed", r.headers, r.body),
                          "POST", self._path(bucket, key))
        return r

    def abort_multipart_upload(self, bucket, key, upload_id):
        return self._checked("DELETE", bucket, key,
                             query=[("uploadId", upload_id)])

    def delete_bucket_recursive(self, bucket):
        """Delete every object, pending multipart upload, then the bucket."""
        keys, _ = self.list_objects(bucket)
        for k in keys:
            self.delete_object(bucket, k)
        r = self._checked("GET", bucket, query=[("uploads", None)])
        root = ET.fromstring(r.body)
        for up in root:
            if _local(up.tag) == "Upload":
                self.abort_multipart_upload(bucket, _child_text(up, "Key"),
                                            _child_text(up, "UploadId"))
        return self.delete_bucket(bucket)


def _iter_tag(body, tag):
    root = ET.fromstring(body)
    return [el for el in root.iter() if _local(el.tag) == tag]


def _child_text(el, tag):
    for c in el:
        if _local(c.tag) == tag:
            return c.text
    return None


def client_from_env(lax=False, https=True, sigv=4, **kw):
    """A client for the test server described by the OBSMOUNT_TEST_*
    variables (as printed by start.sh)."""
    var = "OBSMOUNT_TEST_%s%s_URL" % ("LAX_" if lax else "",
                                      "HTTPS" if https else "HTTP")
    kw.setdefault("region", os.environ.get("OBSMOUNT_TEST_REGION",
                                           "us-east-1"))
    kw.setdefault("ca", os.environ.get("OBSMOUNT_TEST_CA"))
    return S3Client(os.environ[var], os.environ["OBSMOUNT_TEST_ACCESS_KEY"],
                    os.environ["OBSMOUNT_TEST_SECRET_KEY"], sigv=sigv, **kw)


# -- command line --------------------------------------------------------

def _parse_args(argv):
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="s3c.py", description="Minimal S3 client (V2/V4 signing, "
        "SSE-C, SSE-KMS). Defaults come from OBSMOUNT_TEST_* variables.")
    p.add_argument("--url", default=env("OBSMOUNT_TEST_HTTPS_URL") or
                   env("OBSMOUNT_TEST_HTTP_URL"),
                   help="endpoint (default $OBSMOUNT_TEST_HTTPS_URL)")
    p.add_argument("--access-key", default=env("OBSMOUNT_TEST_ACCESS_KEY"))
    p.add_argument("--secret-key", default=env("OBSMOUNT_TEST_SECRET_KEY"))
    p.add_argument("--region", default=env("OBSMOUNT_TEST_REGION",
                                           "us-east-1"))
    p.add_argument("--ca", default=env("OBSMOUNT_TEST_CA"),
                   help="PEM file to verify the server (default "
                   "$OBSMOUNT_TEST_CA)")
    p.add_argument("--insecure", action="store_true",
                   help="do not verify the server certificate")
    p.add_argument("--sigv", type=int, choices=(2, 4), default=4)
    p.add_argument("--unsigned-payload", action="store_true",
                   help="V4: send UNSIGNED-PAYLOAD instead of the hash")
    p.add_argument("--sse-c-key", metavar="B64",
                   help="SSE-C key (put/get/head/copy destination)")
    p.add_argument("--copy-source-sse-c-key", metavar="B64",
                   help="SSE-C key of the copy source")
    p.add_argument("--kms", metavar="KEYID", help="SSE-KMS key id (put/copy)")
    p.add_argument("-H", "--header", action="append", default=[],
                   metavar="'NAME: VALUE'", help="extra request header")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="print status and response headers to stderr")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    c = sub.add_parser("put", help="put BUCKET KEY [FILE|-]")
    c.add_argument("bucket"), c.add_argument("key")
    c.add_argument("file", nargs="?", default="-")
    c = sub.add_parser("get", help="get BUCKET KEY [FILE|-]")
    c.add_argument("bucket"), c.add_argument("key")
    c.add_argument("file", nargs="?", default="-")
    c.add_argument("--range", help="e.g. bytes=0-99")
    c = sub.add_parser("head", help="head BUCKET KEY (prints headers)")
    c.add_argument("bucket"), c.add_argument("key")
    c = sub.add_parser("delete", help="delete BUCKET [KEY]")
    c.add_argument("bucket"), c.add_argument("key", nargs="?")
    c = sub.add_parser("mb", help="mb BUCKET")
    c.add_argument("bucket")
    c = sub.add_parser("rb", help="rb BUCKET [--force]")
    c.add_argument("bucket")
    c.add_argument("--force", action="store_true",
                   help="delete all objects and uploads first")
    c = sub.add_parser("copy", help="copy SRCBUCKET SRCKEY DSTBUCKET DSTKEY")
    for a in ("src_bucket", "src_key", "dst_bucket", "dst_key"):
        c.add_argument(a)
    c.add_argument("--replace-metadata", action="store_true")
    c = sub.add_parser("ls", help="ls [BUCKET [PREFIX]]")
    c.add_argument("bucket", nargs="?")
    c.add_argument("prefix", nargs="?")
    c.add_argument("--delimiter")
    sub.add_parser("genkey", help="print a random base64 SSE-C key")
    return p.parse_args(argv)


def main(argv=None):
    a = _parse_args(argv)
    if a.cmd == "genkey":
        print(new_sse_c_key())
        return 0
    for name in ("url", "access_key", "secret_key"):
        if not getattr(a, name):
            sys.stderr.write("s3c: --%s missing (or set OBSMOUNT_TEST_* "
                             "variables)\n" % name.replace("_", "-"))
            return 2
    c = S3Client(a.url, a.access_key, a.secret_key, region=a.region,
                 sigv=a.sigv, ca=a.ca, insecure=a.insecure,
                 unsigned_payload=a.unsigned_payload)
    h = {}
    for line in a.header:
        name, _, value = line.partition(":")
        h[name.strip()] = value.strip()
    if a.sse_c_key:
        h.update(sse_c_headers(a.sse_c_key))
    if a.copy_source_sse_c_key:
        h.update(copy_source_sse_c_headers(a.copy_source_sse_c_key))
    if a.kms:
        h.update(kms_headers(a.kms))
    try:
        r = _run(c, a, h)
    except S3Error as e:
        sys.stderr.write("s3c: %s\n" % e)
        if a.verbose:
            _dump(e.response)
        return 1
    except (OSError, http.client.HTTPException) as e:
        sys.stderr.write("s3c: %s\n" % e)
        return 1
    if a.verbose and r is not None:
        _dump(r)
    return 0


def _dump(r):
    sys.stderr.write("%d %s\n" % (r.status, r.reason))
    for k, v in sorted(r.headers.items()):
        sys.stderr.write("%s: %s\n" % (k, v))


def _run(c, a, h):
    if a.cmd == "put":
        if a.file == "-":
            data = sys.stdin.buffer.read()
            return c.put_object(a.bucket, a.key, data, headers=h)
        with open(a.file, "rb") as f:
            return c.put_object(a.bucket, a.key, f, headers=h)
    if a.cmd == "get":
        if a.range:
            h["Range"] = a.range
        if a.file == "-":
            r = c.get_object(a.bucket, a.key, headers=h,
                             out=sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return r
        with open(a.file, "wb") as f:
            return c.get_object(a.bucket, a.key, headers=h, out=f)
    if a.cmd == "head":
        r = c.head_object(a.bucket, a.key, headers=h)
        for k, v in sorted(r.headers.items()):
            print("%s: %s" % (k, v))
        return r
    if a.cmd == "delete":
        if a.key is None:
            return c.delete_bucket(a.bucket)
        return c.delete_object(a.bucket, a.key, headers=h)
    if a.cmd == "mb":
        return c.create_bucket(a.bucket, headers=h)
    if a.cmd == "rb":
        if a.force:
            return c.delete_bucket_recursive(a.bucket)
        return c.delete_bucket(a.bucket)
    if a.cmd == "copy":
        return c.copy_object(a.src_bucket, a.src_key, a.dst_bucket,
                             a.dst_key, headers=h,
                             metadata_directive="REPLACE"
                             if a.replace_metadata else None)
    if a.cmd == "ls":
        if not a.bucket:
            for b in c.list_buckets():
                print(b)
            return None
        keys, prefixes = c.list_objects(a.bucket, a.prefix, a.delimiter)
        for p in prefixes:
            print(p)
        for k in keys:
            print(k)
        return None
    raise AssertionError(a.cmd)


if __name__ == "__main__":
    sys.exit(main())
