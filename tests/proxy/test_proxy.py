"""Tests for s3proxy.py against a small in-process upstream server."""

import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import s3proxy  # noqa: E402
from s3proxy import S3Proxy, header_values, load_records  # noqa: E402

MiB = 1 << 20
PATTERN = bytes(range(256)) * 4096          # 1 MiB; byte i of a stream is i % 256
_PATTERN_EXT = PATTERN + bytes(range(256))


def pattern_stream(n, piece=MiB):
    assert piece <= MiB
    sent = 0
    while sent < n:
        k = min(piece, n - sent)
        off = sent % 256
        yield _PATTERN_EXT[off:off + k]
        sent += k


def pattern_sha(n):
    h = hashlib.sha256()
    for p in pattern_stream(n):
        h.update(p)
    return h.hexdigest()


# --------------------------------------------------------------------------
# upstream: a tiny object store / echo server

class Upstream:
    def __init__(self):
        self.objects = {}
        self.requests = []
        self.lock = threading.Lock()
        self.conn_seq = 0
        up = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def setup(self):
                super().setup()
                with up.lock:
                    up.conn_seq += 1
                    self.cid = up.conn_seq

            def handle_expect_100(self):
                if self.path.startswith("/deny"):
                    body = b"<Error><Code>AccessDenied</Code></Error>"
                    self.send_response(403)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    with up.lock:
                        up.requests.append({"method": self.command, "path": self.path,
                                            "conn": self.cid, "denied": True,
                                            "headers": list(self.headers.items())})
                    self.close_connection = True
                    return False
                return super().handle_expect_100()

            def read_body(self):
                h = hashlib.sha256()
                n = 0
                keep = bytearray()
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n"):
                                pass
                            break
                        data = self.rfile.read(size)
                        h.update(data)
                        n += len(data)
                        if len(keep) < 4 * MiB:
                            keep += data
                        self.rfile.readline()
                else:
                    remaining = int(self.headers.get("Content-Length") or 0)
                    while remaining:
                        data = self.rfile.read(min(remaining, MiB))
                        if not data:
                            raise ConnectionError("short body")
                        remaining -= len(data)
                        h.update(data)
                        n += len(data)
                        if len(keep) < 4 * MiB:
                            keep += data
                return n, h.hexdigest(), bytes(keep) if n <= 4 * MiB else None

            def note(self, body_len=0, sha=None):
                with up.lock:
                    up.requests.append({"method": self.command, "path": self.path,
                                        "conn": self.cid, "body_len": body_len,
                                        "sha256": sha,
                                        "headers": list(self.headers.items())})

            def reply(self, status, body=b"", ctype="application/octet-stream",
                      extra=()):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("x-amz-request-id", "UPSTREAM%d" % len(up.requests))
                for k, v in extra:
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_PUT(self):
                n, sha, data = self.read_body()
                self.note(n, sha)
                if data is not None:
                    up.objects[self.path.split("?")[0]] = data
                body = json.dumps({"len": n, "sha256": sha}).encode()
                self.reply(200, body, "application/json", [("ETag", '"%s"' % sha[:32])])

            do_POST = do_PUT

            def do_DELETE(self):
                self.note()
                self.send_response(204)
                self.end_headers()

            def do_HEAD(self):
                self.do_GET()

            def do_GET(self):
                n, _sha, _ = self.read_body()
                self.note(n)
                path = self.path.split("?")[0]
                if path.startswith("/echo"):
                    body = json.dumps({"method": self.command, "path": self.path,
                                       "headers": list(self.headers.items()),
                                       "conn": self.cid}).encode()
                    return self.reply(200, body, "application/json")
                if path.startswith("/list"):
                    body = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
                            b"<ListBucketResult><Name>b</Name></ListBucketResult>")
                    return self.reply(200, body, "application/xml")
                if path.startswith("/close"):
                    return self.reply(200, b"bye", extra=[("Connection", "close")])
                if path.startswith("/gen/"):
                    size = int(path[5:])
                    self.send_response(200)
                    self.send_header("Content-Length", str(size))
                    self.end_headers()
                    if self.command != "HEAD":
                        for p in pattern_stream(size):
                            self.wfile.write(p)
                    return
                if path.startswith("/chunked/"):
                    size = int(path[9:])
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    if self.command != "HEAD":
                        for p in pattern_stream(size, 100000):
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(p), p))
                        self.wfile.write(b"0\r\n\r\n")
                    return
                if path in up.objects:
                    return self.reply(200, up.objects[path])
                body = b"<Error><Code>NoSuchKey</Code></Error>"
                self.reply(404, body, "application/xml")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def hits(self, path_prefix=""):
        with self.lock:
            return [r for r in self.requests if r["path"].startswith(path_prefix)]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.stop()


@pytest.fixture
def proxy(upstream, tmp_path):
    p = S3Proxy(upstream.url, record=str(tmp_path / "rec.jsonl"),
                rules_file=str(tmp_path / "rules.json"), control=True).start()
    yield p
    p.stop()


def conn(p):
    return http.client.HTTPConnection("127.0.0.1", p.port, timeout=30)


def raw_conn(p):
    s = socket.create_connection(("127.0.0.1", p.port), timeout=30)
    return s


def read_response(sock_file):
    """Read one response from a socket file: (status, headers dict, body)."""
    status_line = sock_file.readline()
    status = int(status_line.split()[1])
    headers = {}
    while True:
        line = sock_file.readline()
        if line in (b"\r\n", b""):
            break
        k, _, v = line.decode().partition(":")
        headers[k.strip().lower()] = v.strip()
    body = sock_file.read(int(headers.get("content-length", 0)))
    return status, headers, body


# --------------------------------------------------------------------------
# forwarding

def test_keepalive_many_requests_one_connection(proxy, upstream, tmp_path):
    c = conn(proxy)
    c.request("PUT", "/bucket/a%20b%2Bc", body=b"hello world")
    r = c.getresponse()
    assert r.status == 200
    assert json.loads(r.read())["len"] == 11
    c.request("GET", "/bucket/a%20b%2Bc")
    r = c.getresponse()
    assert r.status == 200 and r.read() == b"hello world"
    c.request("HEAD", "/bucket/a%20b%2Bc")
    r = c.getresponse()
    assert r.status == 200 and r.getheader("Content-Length") == "11"
    assert r.read() == b""
    c.request("GET", "/list/bucket?list-type=2&prefix=a%2Fb&delimiter=%2F")
    r = c.getresponse()
    assert r.status == 200 and b"ListBucketResult" in r.read()
    c.request("GET", "/bucket/missing")
    r = c.getresponse()
    assert r.status == 404 and b"NoSuchKey" in r.read()
    c.request("DELETE", "/bucket/a%20b%2Bc")
    r = c.getresponse()
    assert r.status == 204 and r.read() == b""
    for i in range(20):
        c.request("GET", "/gen/%d" % (i * 1000))
        r = c.getresponse()
        assert r.read() == PATTERN[: i * 1000]
    c.close()

    recs = load_records(str(tmp_path / "rec.jsonl"))
    assert len(recs) == 26
    assert {r["conn"] for r in recs} == {recs[0]["conn"]}
    assert [r["seq"] for r in recs] == list(range(1, 27))
    assert [r["status"] for r in recs[:6]] == [200, 200, 200, 200, 404, 204]
    assert recs[0]["method"] == "PUT" and recs[0]["body_len"] == 11
    assert recs[0]["path"] == "/bucket/a%20b%2Bc"
    assert recs[3]["path"] == "/list/bucket"
    assert recs[3]["query"] == "list-type=2&prefix=a%2Fb&delimiter=%2F"
    assert recs[2]["resp_body_len"] == 0
    assert recs[1]["resp_body_len"] == 11
    assert all(r["rule"] is None for r in recs)
    # upstream side: one connection too, and the raw paths arrived unchanged
    hits = upstream.hits()
    assert len(hits) == 26 and len({h["conn"] for h in hits}) == 1
    assert hits[0]["path"] == "/bucket/a%20b%2Bc"
    assert hits[3]["path"] == "/list/bucket?list-type=2&prefix=a%2Fb&delimiter=%2F"


def test_headers_forwarded_and_recorded_unchanged(proxy, upstream):
    sse = [
        ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
        ("x-amz-server-side-encryption-customer-key", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="),
        ("x-amz-server-side-encryption-customer-key-MD5", "zZ5FnqcIqUjVwvWmyog4zw=="),
    ]
    sent = [("Host", "bucket.s3.example.test:9000"),
            ("X-Amz-Date", "20240101T000000Z"),
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/s3/"
                              "aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"),
            ("X-Amz-Meta-Dup", "one"), ("X-Amz-Meta-Dup", "two"),
            ("x-amz-meta-MixedCase", "  Value With Spaces")] + sse
    c = conn(proxy)
    c.putrequest("GET", "/echo/obj?x-id=GetObject", skip_host=True,
                 skip_accept_encoding=True)
    for k, v in sent:
        c.putheader(k, v)
    c.endheaders()
    r = c.getresponse()
    echo = json.loads(r.read())
    expected = [[k, v.strip()] for k, v in sent]
    assert echo["headers"] == expected
    rec = proxy.records()[-1]
    assert rec["headers"] == expected
    assert header_values(rec, "X-AMZ-META-DUP") == ["one", "two"]
    assert header_values(rec, "x-amz-server-side-encryption-customer-key") == [sse[1][1]]
    assert header_values(rec, "host") == ["bucket.s3.example.test:9000"]
    # a request without the SSE-C headers records none
    c.request("GET", "/echo/plain")
    c.getresponse().read()
    assert header_values(proxy.records()[-1],
                         "x-amz-server-side-encryption-customer-key") == []


def test_large_streamed_body_cli(upstream, tmp_path):
    """64 MiB up and down through the CLI proxy; the proxy stays small."""
    size = 64 * MiB
    rec = tmp_path / "big.jsonl"
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "s3proxy.py"), "--listen", "127.0.0.1:0",
         "--upstream", upstream.url, "--record", str(rec)],
        stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        port = int(line.rsplit(":", 1)[1])
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("PUT", "/bucket/big", body=pattern_stream(size),
                  headers={"Content-Length": str(size)})
        r = c.getresponse()
        info = json.loads(r.read())
        assert r.status == 200
        assert info == {"len": size, "sha256": pattern_sha(size)}
        c.request("GET", "/gen/%d" % size)
        r = c.getresponse()
        h = hashlib.sha256()
        got = 0
        while True:
            data = r.read(MiB)
            if not data:
                break
            got += len(data)
            h.update(data)
        assert got == size and h.hexdigest() == pattern_sha(size)
        c.request("GET", "/chunked/%d" % (8 * MiB))
        r = c.getresponse()
        assert r.getheader("Transfer-Encoding") == "chunked"
        assert hashlib.sha256(r.read()).hexdigest() == pattern_sha(8 * MiB)
        c.close()
        with open("/proc/%d/status" % proc.pid) as f:
            hwm = [l for l in f if l.startswith("VmHWM:")][0]
        hwm_kib = int(hwm.split()[1])
        assert hwm_kib < 48 * 1024, "proxy peak RSS %d KiB" % hwm_kib
    finally:
        proc.terminate()
        proc.wait(10)
    recs = load_records(str(rec))
    assert [r["method"] for r in recs] == ["PUT", "GET", "GET"]
    assert recs[0]["body_len"] == size and recs[0]["status"] == 200
    assert recs[1]["resp_body_len"] == size
    assert recs[2]["resp_body_len"] == 8 * MiB
    assert recs[0]["conn"] == recs[1]["conn"] == recs[2]["conn"]


def test_chunked_request_body(proxy, upstream):
    pieces = [b"a" * 10, b"b" * 70000, b"", b"c" * 3]
    data = b"".join(pieces)
    c = conn(proxy)
    c.request("PUT", "/bucket/chunky", body=iter(pieces), encode_chunked=True)
    r = c.getresponse()
    assert r.status == 200
    assert json.loads(r.read()) == {"len": len(data),
                                    "sha256": hashlib.sha256(data).hexdigest()}
    c.request("GET", "/bucket/chunky")
    assert c.getresponse().read() == data
    rec = proxy.records()[0]
    assert rec["body_len"] == len(data)
    assert header_values(rec, "Transfer-Encoding") == ["chunked"]
    hit = upstream.hits("/bucket/chunky")[0]
    assert ["Transfer-Encoding", "chunked"] in [list(h) for h in hit["headers"]]


def test_chunked_request_with_extensions_and_trailer(proxy, upstream):
    s = raw_conn(proxy)
    s.sendall(b"PUT /bucket/tr HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
    f = s.makefile("rb")
    status, _, body = read_response(f)
    assert status == 200
    assert json.loads(body)["len"] == 11
    assert upstream.objects["/bucket/tr"] == b"hello world"
    s.close()


def test_expect_100_continue(proxy, upstream):
    s = raw_conn(proxy)
    f = s.makefile("rb")
    body = b"x" * 5000
    s.sendall(b"PUT /bucket/exp HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n"
              b"Expect: 100-continue\r\n\r\n")
    assert f.readline() == b"HTTP/1.1 100 Continue\r\n"
    assert f.readline() == b"\r\n"
    s.sendall(body)
    status, _, rbody = read_response(f)
    assert status == 200 and json.loads(rbody)["len"] == 5000
    # same connection, again
    s.sendall(b"PUT /bucket/exp2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
              b"Expect: 100-continue\r\n\r\n")
    assert f.readline().startswith(b"HTTP/1.1 100")
    f.readline()
    s.sendall(b"abc")
    status, _, _ = read_response(f)
    assert status == 200
    assert upstream.objects["/bucket/exp2"] == b"abc"
    s.close()
    recs = proxy.records()
    assert recs[0]["conn"] == recs[1]["conn"]
    assert header_values(recs[0], "Expect") == ["100-continue"]
    # the Expect header crossed to the upstream unchanged
    assert ["Expect", "100-continue"] in [list(h) for h in upstream.hits("/bucket/exp")[0]["headers"]]


def test_expect_final_answer_before_body(proxy, upstream):
    s = raw_conn(proxy)
    f = s.makefile("rb")
    s.sendall(b"PUT /deny/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
              b"Expect: 100-continue\r\n\r\n")
    status, _, body = read_response(f)
    assert status == 403 and b"AccessDenied" in body
    s.close()
    assert proxy.records()[0]["status"] == 403
    assert proxy.records()[0]["body_len"] == 0


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_upload_keepalive(proxy, upstream, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(PATTERN * 3)
    base = "http://127.0.0.1:%d" % proxy.port
    out = subprocess.run(
        ["curl", "-sS", "-f", "-T", str(src), base + "/bucket/c1",
         "-o", "/dev/null", "--next", "-sS", "-f", base + "/bucket/c1",
         "-o", str(tmp_path / "back.bin")],
        capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "back.bin").read_bytes() == PATTERN * 3
    recs = proxy.records()
    assert [r["method"] for r in recs] == ["PUT", "GET"]
    assert recs[0]["body_len"] == 3 * MiB
    assert recs[0]["conn"] == recs[1]["conn"]


# --------------------------------------------------------------------------
# faults

def put_rules(p, rules):
    c = conn(p)
    c.request("PUT", "/__proxy__/rules", body=json.dumps(rules))
    r = c.getresponse()
    data = json.loads(r.read())
    c.close()
    assert r.status == 200, data
    return data


@pytest.mark.parametrize("action,status,code", [
    ("internal_error", 500, "InternalError"),
    ("slow_down", 503, "SlowDown"),
])
def test_error_statuses(proxy, upstream, action, status, code):
    proxy.set_rules([{"name": "boom", "action": action, "method": "PUT",
                      "path": "^/bucket/", "times": 1}])
    c = conn(proxy)
    c.request("PUT", "/bucket/k", body=b"z" * 100000)
    r = c.getresponse()
    body = r.read()
    assert r.status == status
    root = ET.fromstring(body)
    assert root.tag == "Error" and root.findtext("Code") == code
    assert root.findtext("RequestId") == r.getheader("x-amz-request-id")
    assert root.findtext("Resource") == "/bucket/k"
    assert r.getheader("Content-Type") == "application/xml"
    assert upstream.hits("/bucket/k") == []        # never forwarded
    # the connection stays usable; the rule fired only once
    c.request("PUT", "/bucket/k", body=b"ok")
    r = c.getresponse()
    assert r.status == 200 and json.loads(r.read())["len"] == 2
    recs = proxy.records()
    assert (recs[0]["rule"], recs[0]["action"], recs[0]["status"]) == ("boom", action, status)
    assert recs[0]["body_len"] == 100000
    assert recs[1]["rule"] is None and recs[1]["status"] == 200
    assert recs[0]["conn"] == recs[1]["conn"]


def test_error_head_has_no_body(proxy, upstream):
    proxy.set_rules([{"action": "error", "status": 404, "code": "NoSuchKey"}])
    c = conn(proxy)
    c.request("HEAD", "/bucket/k")
    r = c.getresponse()
    assert r.status == 404 and r.read() == b""
    c.request("GET", "/bucket/k")
    r = c.getresponse()
    assert r.status == 404
    assert ET.fromstring(r.read()).findtext("Code") == "NoSuchKey"


def test_error_with_forward(proxy, upstream):
    proxy.set_rules([{"action": "slow_down", "forward": True, "times": 1}])
    c = conn(proxy)
    c.request("PUT", "/bucket/fw", body=b"data")
    r = c.getresponse()
    assert r.status == 503 and b"SlowDown" in r.read()
    assert upstream.objects["/bucket/fw"] == b"data"     # it did reach the upstream
    assert proxy.records()[0]["upstream_status"] == 200


def test_expect_with_local_error(proxy, upstream):
    proxy.set_rules([{"action": "internal_error"}])
    s = raw_conn(proxy)
    f = s.makefile("rb")
    s.sendall(b"PUT /bucket/e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
              b"Expect: 100-continue\r\n\r\n")
    assert f.readline().startswith(b"HTTP/1.1 100")
    f.readline()
    s.sendall(b"abcd")
    status, headers, body = read_response(f)
    assert status == 500 and b"InternalError" in body
    s.close()


def test_delay(proxy, upstream):
    proxy.set_rules([{"action": "delay", "ms": 400, "path": "^/echo", "times": 1}])
    c = conn(proxy)
    t0 = time.monotonic()
    c.request("GET", "/echo/1")
    r = c.getresponse()
    assert r.status == 200
    r.read()
    assert time.monotonic() - t0 >= 0.4
    t0 = time.monotonic()
    c.request("GET", "/echo/2")
    c.getresponse().read()
    assert time.monotonic() - t0 < 0.35
    assert len(upstream.hits("/echo")) == 2
    assert proxy.records()[0]["action"] == "delay"
    assert proxy.records()[0]["duration_ms"] >= 400


def test_reset_request_body(proxy, upstream):
    proxy.set_rules([{"action": "reset_request", "bytes": 1 << 16, "times": 1}])
    s = raw_conn(proxy)
    s.sendall(b"PUT /bucket/r HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (32 * MiB))
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        for p in pattern_stream(32 * MiB, 1 << 16):
            s.sendall(p)
        s.recv(1)
    s.close()
    time.sleep(0.1)
    assert upstream.hits("/bucket/r") == []
    rec = proxy.records()[0]
    assert rec["action"] == "reset_request" and rec["status"] is None
    assert rec["body_len"] >= 1 << 16 and rec["body_len"] < 32 * MiB
    # next connection works normally
    c = conn(proxy)
    c.request("PUT", "/bucket/r", body=b"fine")
    assert c.getresponse().status == 200


def test_reset_request_with_expect(proxy, upstream):
    proxy.set_rules([{"action": "reset_request", "bytes": 10}])
    s = raw_conn(proxy)
    f = s.makefile("rb")
    s.sendall(b"PUT /bucket/r HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
              b"Expect: 100-continue\r\n\r\n")
    assert f.readline().startswith(b"HTTP/1.1 100")
    f.readline()
    s.sendall(b"y" * 100)
    with pytest.raises(ConnectionResetError):
        data = s.recv(100)
        assert data == b""     # RST, not an orderly close
        s.recv(100)
    s.close()


def test_reset_response_body(proxy, upstream):
    size = 4 * MiB
    proxy.set_rules([{"action": "reset_response", "path": "^/gen/", "bytes": 100000}])
    s = raw_conn(proxy)
    s.sendall(b"GET /gen/%d HTTP/1.1\r\nHost: x\r\n\r\n" % size)
    got = b""
    with pytest.raises(ConnectionResetError):
        while True:
            data = s.recv(65536)
            if not data:
                break
            got += data
            time.sleep(0.001)
    s.close()
    head, _, body = got.partition(b"\r\n\r\n")
    assert b"Content-Length: %d" % size in head
    assert len(body) <= 100000
    rec = proxy.records()[0]
    assert rec["action"] == "reset_response" and rec["status"] == 200
    assert rec["resp_body_len"] == 100000
    assert len(upstream.hits("/gen/")) == 1


def test_truncate_response_body(proxy, upstream):
    proxy.set_rules([{"action": "truncate", "path": "^/gen/"}])
    c = conn(proxy)
    c.request("GET", "/gen/1000000")
    r = c.getresponse()
    assert r.getheader("Content-Length") == "1000000"
    with pytest.raises(http.client.IncompleteRead) as ei:
        r.read()
    assert ei.value.partial == PATTERN[:500000]     # default: half the body
    rec = proxy.records()[0]
    assert rec["resp_body_len"] == 500000 and rec["status"] == 200


def test_truncate_chunked_response(proxy, upstream):
    proxy.set_rules([{"action": "truncate", "bytes": 150000}])
    s = raw_conn(proxy)
    s.sendall(b"GET /chunked/1000000 HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    while True:
        data = s.recv(65536)
        if not data:
            break
        got += data
    s.close()
    assert not got.endswith(b"0\r\n\r\n")
    assert proxy.records()[0]["resp_body_len"] == 150000


def test_malformed_xml(proxy, upstream):
    proxy.set_rules([{"action": "malformed_xml", "path": "^/list"}])
    c = conn(proxy)
    c.request("GET", "/list/bucket?list-type=2")
    r = c.getresponse()
    body = r.read()
    assert r.status == 200
    assert int(r.getheader("Content-Length")) == len(body)
    assert body.startswith(b"<?xml")
    with pytest.raises(ET.ParseError):
        ET.fromstring(body)
    assert len(upstream.hits("/list")) == 1
    # connection still usable, custom body works too
    proxy.set_rules([{"action": "malformed_xml", "body": "<a><b></a>"}])
    c.request("GET", "/list/bucket")
    assert c.getresponse().read() == b"<a><b></a>"


def test_error_200(proxy, upstream):
    proxy.set_rules([{"action": "error_200", "method": "POST", "query": "uploadId=",
                      "code": "InternalError"}])
    c = conn(proxy)
    c.request("POST", "/bucket/mp?uploadId=abc", body=b"<CompleteMultipartUpload/>")
    r = c.getresponse()
    body = r.read()
    assert r.status == 200
    root = ET.fromstring(body)
    assert root.tag == "Error" and root.findtext("Code") == "InternalError"
    assert upstream.hits("/bucket/mp") == []
    c.request("POST", "/bucket/mp?uploads", body=b"")
    r = c.getresponse()
    assert r.status == 200 and b"Error" not in r.read()
    recs = proxy.records()
    assert recs[0]["action"] == "error_200" and recs[1]["action"] is None


# --------------------------------------------------------------------------
# matching, counting, reload, control API

def test_times_and_after(proxy, upstream):
    proxy.set_rules([{"name": "mid", "action": "internal_error", "path": "^/echo",
                      "after": 2, "times": 2}])
    c = conn(proxy)
    statuses = []
    for i in range(6):
        c.request("GET", "/echo/%d" % i)
        r = c.getresponse()
        r.read()
        statuses.append(r.status)
    assert statuses == [200, 200, 500, 500, 200, 200]
    assert [r["rule"] for r in proxy.records()] == [None, None, "mid", "mid", None, None]
    st = proxy.rule_state()[0]
    assert st["matched"] == 6 and st["fired"] == 2


def test_matching(proxy, upstream):
    proxy.set_rules([
        {"name": "ssec", "action": "error", "status": 400, "code": "InvalidRequest",
         "headers": {"x-amz-server-side-encryption-customer-key": True}},
        {"name": "nocopy", "action": "slow_down", "method": ["PUT"],
         "headers": {"x-amz-copy-source": False}, "path": "^/b/"},
        {"name": "meta", "action": "internal_error",
         "headers": {"x-amz-meta-mode": "^7"}},
    ])
    c = conn(proxy)

    def go(method, path, headers=None, body=None):
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        r.read()
        return r.status

    assert go("GET", "/echo/x", {"X-Amz-Server-Side-Encryption-Customer-Key": "k"}) == 400
    assert go("PUT", "/b/x", body=b"1") == 503
    assert go("PUT", "/b/x", {"x-amz-copy-source": "/b/y"}, b"") == 200
    assert go("PUT", "/c/x", body=b"1") == 200
    assert go("GET", "/b/x") == 200
    assert go("GET", "/echo/m", {"x-amz-meta-mode": "755"}) == 500
    assert go("GET", "/echo/m", {"x-amz-meta-mode": "644"}) == 200
    assert [r["rule"] for r in proxy.records()] == \
        ["ssec", "nocopy", None, None, None, "meta", None]


def test_rules_file_reload(proxy, upstream, tmp_path):
    rules = tmp_path / "rules.json"
    c = conn(proxy)

    def status():
        c.request("GET", "/echo/r")
        r = c.getresponse()
        r.read()
        return r.status

    assert status() == 200
    rules.write_text(json.dumps([{"action": "internal_error", "times": 1}]))
    assert status() == 500
    assert status() == 200
    rules.write_text(json.dumps({"rules": [{"action": "slow_down"}]}))
    os.utime(rules, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert status() == 503
    assert status() == 503
    rules.write_text("{ not json")                       # kept: previous rules
    os.utime(rules, ns=(time.time_ns(), time.time_ns() + 2_000_000))
    assert status() == 503
    rules.unlink()
    assert status() == 200


def test_control_api(proxy, upstream):
    data = put_rules(proxy, [{"name": "x", "action": "internal_error", "path": "^/echo"}])
    assert data["rules"][0]["name"] == "x"
    c = conn(proxy)
    c.request("GET", "/echo/a")
    r = c.getresponse()
    r.read()
    assert r.status == 500
    c.request("GET", "/__proxy__/rules")
    r = c.getresponse()
    st = json.loads(r.read())["rules"]
    assert st[0]["fired"] == 1
    c.request("GET", "/__proxy__/log")
    r = c.getresponse()
    lines = [json.loads(l) for l in r.read().decode().splitlines()]
    assert [(l["path"], l["rule"]) for l in lines] == [("/echo/a", "x")]
    c.request("POST", "/__proxy__/clear", body=b"")
    r = c.getresponse()
    r.read()
    assert r.status == 200
    c.request("GET", "/echo/b")
    r = c.getresponse()
    r.read()
    assert r.status == 200
    c.request("PUT", "/__proxy__/rules", body=b'[{"action": "nope"}]')
    r = c.getresponse()
    assert r.status == 400 and b"nope" in r.read()
    c.request("DELETE", "/__proxy__/log")
    r = c.getresponse()
    r.read()
    assert proxy.records() == []
    assert upstream.hits("/__proxy__") == []          # never forwarded


def test_control_off_forwards(upstream, tmp_path):
    with S3Proxy(upstream.url) as p:
        c = conn(p)
        c.request("GET", "/__proxy__/log")
        r = c.getresponse()
        r.read()
        assert r.status == 404
        assert len(upstream.hits("/__proxy__/log")) == 1
        assert p.records()[0]["path"] == "/__proxy__/log"


def test_upstream_connection_close(proxy, upstream):
    c = conn(proxy)
    c.request("GET", "/close")
    r = c.getresponse()
    assert r.read() == b"bye" and r.getheader("Connection") == "close"
    c.request("GET", "/echo/after")          # http.client reconnects
    r = c.getresponse()
    assert r.status == 200
    r.read()
    recs = proxy.records()
    assert len(recs) == 2
    assert recs[0]["conn"] != recs[1]["conn"]


def test_upstream_down(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with S3Proxy("http://127.0.0.1:%d" % port) as p:
        c = conn(p)
        c.request("PUT", "/x", body=b"abc")
        r = c.getresponse()
        r.read()
        assert r.status == 502
        assert p.records()[0]["error"].startswith("upstream")


def test_concurrent_clients(proxy, upstream):
    errors = []

    def worker(i):
        try:
            c = conn(proxy)
            for j in range(10):
                body = (b"%d-%d" % (i, j)) * 1000
                c.request("PUT", "/bucket/t%d" % i, body=body)
                r = c.getresponse()
                assert json.loads(r.read())["len"] == len(body)
            c.close()
        except Exception as e:      # pragma: no cover
            errors.append(e)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert errors == []
    recs = proxy.records()
    assert len(recs) == 80
    assert len({r["conn"] for r in recs}) == 8


def test_load_records_skips_partial_line(tmp_path):
    f = tmp_path / "r.jsonl"
    f.write_text('{"a": 1}\n{"b": 2}\n{"c": ')
    assert load_records(str(f)) == [{"a": 1}, {"b": 2}]
    assert load_records(str(tmp_path / "missing.jsonl")) == []


def test_rule_validation():
    with pytest.raises(ValueError):
        s3proxy.parse_rules([{"action": "explode"}])
    with pytest.raises(ValueError):
        s3proxy.parse_rules({"rules": "x"})


def test_expect_upstream_without_100(tmp_path):
    """An upstream that never sends 100 Continue: the proxy sends it itself."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    got = {}

    def serve():
        s, _ = srv.accept()
        f = s.makefile("rb")
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += f.readline()
        got["head"] = head
        got["body"] = f.read(6)
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        f.close()
        s.close()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    with S3Proxy("http://127.0.0.1:%d" % srv.getsockname()[1], expect_timeout=0.2) as p:
        s = raw_conn(p)
        f = s.makefile("rb")
        s.sendall(b"PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        assert f.readline() == b"HTTP/1.1 100 Continue\r\n"
        f.readline()
        s.sendall(b"abcdef")
        status, _, body = read_response(f)
        assert (status, body) == (200, b"ok")
        s.close()
    th.join(5)
    srv.close()
    assert got["body"] == b"abcdef"
    assert got["head"] == (b"PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n"
                           b"Expect: 100-continue\r\n\r\n")
