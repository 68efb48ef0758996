#!/usr/bin/env python3
"""Recording, fault-injecting HTTP proxy for S3 tests.

Sits in front of the plain-HTTP port of an S3 server (or, terminating TLS
with a certificate of the test's own, in front of its TLS port).  Every request is
forwarded unchanged (request line, header names, values and order, Host
included), bodies are streamed in both directions, and every request is
written as one JSON line to a recording file.  Rules (JSON) can make the
proxy answer with S3 errors, delay, reset or truncate connections, or
corrupt response bodies.

Standard library only.  See README.md next to this file.
"""

import argparse
import json
import os
import re
import secrets
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["S3Proxy", "Rule", "load_records", "header_values", "main"]

CHUNK = 1 << 20          # streaming unit, both directions
CONTROL_PREFIX = "/__proxy__/"
CONTROL_BODY_MAX = 16 << 20

ACTIONS = {
    # action name: forward to the upstream by default?
    "error": False,
    "internal_error": False,
    "slow_down": False,
    "delay": True,
    "reset_request": False,
    "reset_response": True,
    "truncate": True,
    "malformed_xml": True,
    "error_200": False,
    "flip_byte": True,

}

ERROR_DEFAULTS = {
    "internal_error": (500, "InternalError",
                       "We encountered an internal error. Please try again."),
    "slow_down": (503, "SlowDown", "Please reduce your request rate."),
    "error": (500, "InternalError",
              "We encountered an internal error. Please try again."),
    "error_200": (200, "InternalError",
                  "We encountered an internal error. Please try again."),
}

REASONS = {
    200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
    409: "Conflict", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}

DEFAULT_MALFORMED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<Name>bucket</Name><IsTruncated>false<IsTruncated><Contents><Key>"
    b"broken&key</Ke"
)


class _ClientGone(Exception):
    """The client connection ended or must be dropped."""


class _UpstreamError(Exception):
    pass


# --------------------------------------------------------------------------
# rules

class Rule:
    """One fault-injection rule.  See README.md for the JSON format."""

    def __init__(self, spec, index=0):
        if not isinstance(spec, dict):
            raise ValueError("rule must be a JSON object")
        self.spec = dict(spec)
        self.name = str(spec.get("name") or "rule%d" % index)
        action = spec.get("action")
        if action not in ACTIONS:
            raise ValueError("rule %s: unknown action %r" % (self.name, action))
        self.action = action
        method = spec.get("method")
        if method is None or method == "*":
            self.methods = None
        elif isinstance(method, str):
            self.methods = {method.upper()}
        else:
            self.methods = {str(m).upper() for m in method}
        self.path_re = re.compile(spec["path"]) if spec.get("path") is not None else None
        self.query_re = re.compile(spec["query"]) if spec.get("query") is not None else None
        self.headers = []
        for name, want in (spec.get("headers") or {}).items():
            if isinstance(want, bool):
                self.headers.append((name.lower(), want, None))
            else:
                self.headers.append((name.lower(), True, re.compile(str(want))))
        self.after = int(spec.get("after", 0) or 0)
        times = spec.get("times")
        self.times = None if times is None else int(times)
        self.forward = bool(spec.get("forward", ACTIONS[action]))
        self.delay_ms = float(spec.get("delay_ms", 0) or 0)
        if action == "delay":
            self.delay_ms += float(spec.get("ms", 0) or 0)
        self.nbytes = spec.get("bytes")
        if self.nbytes is not None:
            self.nbytes = int(self.nbytes)
        self.matched = 0
        self.fired = 0

    def matches(self, method, path, query, headers):
        if self.methods is not None and method.upper() not in self.methods:
            return False
        if self.path_re is not None and not self.path_re.search(path):
            return False
        if self.query_re is not None and not self.query_re.search(query):
            return False
        for name, present, value_re in self.headers:
            values = [v for n, v in headers if n.lower() == name]
            if not present:
                if values:
                    return False
                continue
            if not values:
                return False
            if value_re is not None and not any(value_re.search(v) for v in values):
                return False
        return True

    def state(self):
        d = dict(self.spec)
        d["name"] = self.name
        d["matched"] = self.matched
        d["fired"] = self.fired
        return d


def parse_rules(data):
    """Rules from decoded JSON: a list, or an object with a "rules" list."""
    if isinstance(data, dict):
        data = data.get("rules", [])
    if not isinstance(data, list):
        raise ValueError("rules must be a list")
    return [Rule(spec, i) for i, spec in enumerate(data)]


# --------------------------------------------------------------------------
# recording helpers

def load_records(path):
    """All records of a recording file (a partly written last line is skipped)."""
    out = []
    try:
        with open(path, "r", encoding="utf-8") as f:
            for line in f:
                if not line.endswith("\n"):
                    break
                line = line.strip()
                if line:
                    out.append(json.loads(line))
    except FileNotFoundError:
        pass
    return out


def header_values(record, name):
    """Values of header `name` (case-insensitive) in a record, in order."""
    name = name.lower()
    return [v for n, v in record["headers"] if n.lower() == name]


def s3_error_xml(code, message, resource, request_id, host_id):
    def esc(s):
        return (str(s).replace("&", "&amp;").replace("<", "&lt;")
                .replace(">", "&gt;"))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            "<Error><Code>%s</Code><Message>%s</Message>"
            "<Resource>%s</Resource><RequestId>%s</RequestId>"
            "<HostId>%s</HostId></Error>"
            % (esc(code), esc(message), esc(resource), esc(request_id),
               esc(host_id))).encode("utf-8")


def _tokens(values):
    out = []
    for v in values:
        out.extend(t.strip().lower() for t in v.split(",") if t.strip())
    return out


# --------------------------------------------------------------------------
# upstream connection

class _Upstream:
    def __init__(self, host, port, timeout, tls=None):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            try:
                self.sock = tls.wrap_socket(self.sock, server_hostname=host)
            except OSError:
                self.sock.close()
                raise
        self.rfile = self.sock.makefile("rb", 65536)

    def stale(self):
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        try:
            r, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(r)

    def close(self):
        for obj in (self.rfile, self.sock):
            try:
                obj.close()
            except OSError:
                pass

    def read_head(self):
        """(version, status, reason, [(name, value)], raw_bytes)."""
        line = self.rfile.readline(65537)
        if not line:
            raise _UpstreamError("upstream closed the connection")
        raw = [line]
        parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise _UpstreamError("bad status line from upstream: %r" % line)
        try:
            status = int(parts[1])
        except ValueError:
            raise _UpstreamError("bad status line from upstream: %r" % line)
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        while True:
            line = self.rfile.readline(65537)
            if not line:
                raise _UpstreamError("upstream closed inside response head")
            raw.append(line)
            if line in (b"\r\n", b"\n"):
                break
            text = line.decode("latin-1").rstrip("\r\n")
            if text[:1] in (" ", "\t") and headers:
                n, v = headers[-1]
                headers[-1] = (n, v + " " + text.strip())
                continue
            name, _, value = text.partition(":")
            headers.append((name.strip(), value.strip()))
        return parts[0], status, reason, headers, b"".join(raw)


# --------------------------------------------------------------------------
# request handler

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "s3proxy"
    sys_version = ""

    # -- plumbing ----------------------------------------------------------

    def setup(self):
        super().setup()
        self.proxy = self.server.proxy
        self.conn_id = self.proxy._new_conn(self.connection)
        self.seq = 0
        self.upstream = None
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self._drop_upstream()
            self.proxy._end_conn(self.connection)

    def log_message(self, fmt, *args):
        if self.proxy.verbose:
            sys.stderr.write("s3proxy: %s - %s\n" % (self.address_string(), fmt % args))

    def handle_expect_100(self):
        # Decided per request: either relayed from the upstream or sent by us.
        return True

    def handle_one_request(self):
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.requestline = ""
                self.request_version = ""
                self.command = ""
                self.send_error(414)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self._handle()
            self.wfile.flush()
        except (_ClientGone, OSError, ValueError):
            self.close_connection = True

    def _write_now(self, data):
        try:
            self.wfile.write(data)
        except OSError as e:
            raise _ClientGone(str(e))

    def _write(self, data):
        # The last piece of a response is held back until the request is
        # recorded, so a client never sees a response before its record.
        held, self._held = self._held, data
        if held:
            self._write_now(held)

    def _flush_held(self):
        held, self._held = self._held, b""
        if held:
            self._write_now(held)

    def _finish_record(self):
        rec = self.rec
        if rec is not None and not rec.get("_done"):
            rec["_done"] = True
            rec["duration_ms"] = round((time.time() - rec["time"]) * 1000, 3)
            self.proxy._record({k: v for k, v in rec.items() if k != "_done"})

    def _drop_upstream(self):
        if self.upstream is not None:
            self.upstream.close()
            self.upstream = None

    def _reset_client(self):
        """Abort the client connection with a TCP RST."""
        self._finish_record()
        try:
            self._flush_held()
            self.wfile.flush()
        except (OSError, ValueError, _ClientGone):
            pass
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.rfile.close()
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True
        raise _ClientGone("reset by rule")

    def _send_continue(self):
        if self.expect and not self.continue_sent:
            self._flush_held()
            self._write_now(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.continue_sent = True

    # -- request body ------------------------------------------------------

    def _body(self):
        """Yield (raw_bytes, decoded_length) pieces of the request body."""
        rf = self.rfile
        if self.req_chunked:
            while True:
                line = rf.readline(65537)
                if not line.endswith(b"\n"):
                    raise _ClientGone("bad chunk size line")
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise _ClientGone("bad chunk size line")
                yield line, 0
                if size == 0:
                    while True:
                        line = rf.readline(65537)
                        if not line:
                            raise _ClientGone("eof in chunk trailer")
                        yield line, 0
                        if line in (b"\r\n", b"\n"):
                            return
                while size > 0:
                    data = rf.read(min(size, CHUNK))
                    if not data:
                        raise _ClientGone("eof in chunk")
                    size -= len(data)
                    yield data, len(data)
                crlf = rf.readline(3)
                if crlf not in (b"\r\n", b"\n"):
                    raise _ClientGone("bad chunk terminator")
                yield crlf, 0
        else:
            remaining = self.req_length
            while remaining > 0:
                data = rf.read(min(remaining, CHUNK))
                if not data:
                    raise _ClientGone("eof in request body")
                remaining -= len(data)
                yield data, len(data)

    def _drain_body(self):
        self._send_continue()
        for _raw, n in self._body():
            self.rec["body_len"] += n

    # -- main --------------------------------------------------------------

    def _handle(self):
        target = self.path
        path_query = target
        if not target.startswith("/"):
            m = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*", target)
            if m:
                path_query = target[m.end():] or "/"
        path, _, query = path_query.partition("?")
        headers = list(self.headers.items())
        method = self.command

        te = _tokens(self.headers.get_all("Transfer-Encoding") or [])
        self.req_chunked = bool(te) and te[-1] == "chunked"
        self.req_length = 0
        if not self.req_chunked:
            cl = self.headers.get("Content-Length")
            if cl is not None:
                try:
                    self.req_length = int(cl)
                    if self.req_length < 0:
                        raise ValueError
                except ValueError:
                    self.send_error(400, "bad Content-Length")
                    self.close_connection = True
                    return
        self.has_body = self.req_chunked or self.req_length > 0
        self.expect = (self.request_version != "HTTP/1.0" and
                       (self.headers.get("Expect") or "").strip().lower() == "100-continue")
        self.continue_sent = False
        self._held = b""
        self.rec = None

        if self.proxy.control and path.startswith(CONTROL_PREFIX):
            self._control(method, path, query)
            return self._flush_held()

        self.seq += 1
        t0 = time.time()
        self.rec = rec = {
            "time": t0, "conn": self.conn_id, "seq": self.seq,
            "method": method, "target": target, "path": path, "query": query,
            "version": self.request_version, "headers": [list(h) for h in headers],
            "body_len": 0, "status": None, "upstream_status": None,
            "resp_body_len": 0, "rule": None, "action": None, "error": None,
        }
        rule = self.proxy._match(method, path, query, headers)
        if rule is not None:
            rec["rule"] = rule.name
            rec["action"] = rule.action
        try:
            self._dispatch(rule, method, path, path_query)
        except _ClientGone as e:
            rec["error"] = rec["error"] or ("client: %s" % e)
            raise
        except _UpstreamError as e:
            rec["error"] = "upstream: %s" % e
            raise _ClientGone(str(e))
        finally:
            self._finish_record()
        self._flush_held()

    def _dispatch(self, rule, method, path, path_query):
        if rule is not None and rule.delay_ms > 0:
            time.sleep(rule.delay_ms / 1000.0)
        action = rule.action if rule is not None else None

        if action == "reset_request":
            self._send_continue()
            limit = rule.nbytes
            if limit is None:
                limit = self.req_length // 2 if not self.req_chunked else 65536
            got = 0
            if self.has_body and limit > 0:
                for _raw, n in self._body():
                    got += n
                    self.rec["body_len"] = got
                    if got >= limit:
                        break
            self.rec["error"] = "reset in request body by rule"
            self._reset_client()

        if action in ERROR_DEFAULTS and not rule.forward:
            self._drain_body()
            return self._send_error_rule(rule, method, path, None)

        self._forward(rule, method, path, path_query)

    def _send_error_rule(self, rule, method, path, upstream_headers):
        status, code, message = ERROR_DEFAULTS[rule.action]
        status = int(rule.spec.get("status", status))
        code = rule.spec.get("code", code)
        message = rule.spec.get("message", message)
        request_id = None
        for n, v in upstream_headers or []:
            if n.lower() == "x-amz-request-id":
                request_id = v
        request_id = request_id or secrets.token_hex(8).upper()
        host_id = secrets.token_urlsafe(24)
        body = s3_error_xml(code, message, path, request_id, host_id)
        hdrs = [
            ("x-amz-request-id", request_id),
            ("x-amz-id-2", host_id),
            ("Content-Type", "application/xml"),
            ("Date", formatdate(usegmt=True)),
            ("Server", "s3proxy"),
        ]
        if rule.action == "slow_down" or status == 503:
            hdrs.append(("Retry-After", str(rule.spec.get("retry_after", 1))))
        if method == "HEAD":
            body = b""
        hdrs.append(("Content-Length", str(len(body))))
        self._send_local(status, hdrs, body)

    def _send_local(self, status, hdrs, body, reason=None):
        if self.close_connection:
            hdrs = hdrs + [("Connection", "close")]
        reason = reason or REASONS.get(status, "Error")
        head = "HTTP/1.1 %d %s\r\n" % (status, reason)
        head += "".join("%s: %s\r\n" % (n, v) for n, v in hdrs) + "\r\n"
        if self.rec is not None:
            self.rec["status"] = status
            self.rec["resp_body_len"] = len(body)
        self._write(head.encode("latin-1") + body)

    # -- forwarding --------------------------------------------------------

    def _upstream_conn(self, fresh=False):
        if fresh or (self.upstream is not None and self.upstream.stale()):
            self._drop_upstream()
        if self.upstream is None:
            try:
                self.upstream = _Upstream(self.proxy.upstream_host,
                                          self.proxy.upstream_port,
                                          self.proxy.upstream_timeout,
                                          self.proxy.upstream_tls)
            except OSError as e:
                raise _UpstreamError("connect: %s" % e)
            return self.upstream, True
        return self.upstream, False

    def _forward(self, rule, method, path, path_query):
        head = "%s %s %s\r\n" % (method, path_query, self.request_version)
        head += "".join("%s: %s\r\n" % (n, v) for n, v in self.headers.items())
        head = (head + "\r\n").encode("latin-1")

        try:
            up, new = self._upstream_conn()
            try:
                up.sock.sendall(head)
            except OSError:
                if new:
                    raise
                up, _ = self._upstream_conn(fresh=True)
                up.sock.sendall(head)
        except (OSError, _UpstreamError) as e:
            self._drop_upstream()
            self.rec["error"] = "upstream: %s" % e
            self._drain_body()
            self.close_connection = True
            return self._send_local(502, [("Content-Type", "text/plain"),
                                          ("Content-Length", str(len(str(e)))),
                                          ("Connection", "close")],
                                    str(e).encode())

        resp = None
        if self.has_body:
            if self.expect:
                r, _, _ = select.select([up.sock], [], [], self.proxy.expect_timeout)
                if r:
                    resp = up.read_head()
                    if resp[1] == 100:
                        self._flush_held()
                        self._write_now(resp[4])
                        self.continue_sent = True
                        resp = None
                    elif 100 < resp[1] < 200:
                        resp = None
                        self._send_continue()
                    else:
                        # final answer before the body: the client will not
                        # send it (or we cannot tell); do not reuse anything.
                        self.close_connection = True
                if not r:
                    self._send_continue()
            if resp is None:
                upstream_ok = True
                for raw, n in self._body():
                    self.rec["body_len"] += n
                    if upstream_ok:
                        try:
                            up.sock.sendall(raw)
                        except OSError:
                            upstream_ok = False   # read its response below
                if not upstream_ok:
                    self.close_connection = True
        while resp is None or (100 <= resp[1] < 200 and resp[1] != 101):
            resp = up.read_head()
        self._relay(rule, method, path, up, resp)

    def _relay(self, rule, method, path, up, resp):
        version, status, reason, hdrs, raw_head = resp
        self.rec["upstream_status"] = status
        action = rule.action if rule is not None else None
        lower = [(n.lower(), v) for n, v in hdrs]
        te = _tokens([v for n, v in lower if n == "transfer-encoding"])
        conn_tokens = _tokens([v for n, v in lower if n == "connection"])
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            framing, length = "none", 0
        elif te and te[-1] == "chunked":
            framing, length = "chunked", None
        else:
            cls = [v for n, v in lower if n == "content-length"]
            if cls:
                framing, length = "length", int(cls[0])
            else:
                framing, length = "close", None
        upstream_closes = ("close" in conn_tokens or framing == "close" or
                           (version == "HTTP/1.0" and "keep-alive" not in conn_tokens))
        if "close" in conn_tokens or framing == "close":
            self.close_connection = True

        if action == "malformed_xml" or action in ERROR_DEFAULTS:
            # the upstream did the work; its answer is replaced
            for _raw, _n in self._resp_body(up, framing, length):
                pass
            if upstream_closes:
                self._drop_upstream()
            if action != "malformed_xml":
                return self._send_error_rule(rule, method, path, hdrs)
            body = rule.spec.get("body")
            body = DEFAULT_MALFORMED if body is None else body.encode("utf-8")
            if method == "HEAD" or status in (204, 304):
                body = b""
            out = [(n, v) for n, v in hdrs
                   if n.lower() not in ("content-length", "transfer-encoding")]
            out.append(("Content-Length", str(len(body))))
            return self._send_local(status, out, body, reason=reason)

        self._write(raw_head)
        self.rec["status"] = status
        limit = None
        if action in ("truncate", "reset_response"):
            limit = rule.nbytes
            if limit is None:
                limit = length // 2 if length is not None else 1
        # flip_byte: damage one byte of a Content-Length body (offset
        # "bytes", default the middle), headers and length unchanged
        flip = None
        if action == "flip_byte" and framing == "length" and length:
            flip = rule.nbytes if rule.nbytes is not None else length // 2
        sent = 0
        for raw, n in self._resp_body(up, framing, length):
            if flip is not None and sent <= flip < sent + n:
                raw = bytearray(raw)
                raw[flip - sent] ^= 0x01
                raw = bytes(raw)
                self.rec["error"] = "byte %d flipped by rule" % flip
            if limit is not None and sent + n >= limit and n > 0:
                part = raw[:limit - sent]
                self._write(part)
                sent += len(part)
                break
            self._write(raw)
            sent += n
            self.rec["resp_body_len"] = sent
        self.rec["resp_body_len"] = sent
        if limit is not None:
            self._drop_upstream()
            if action == "reset_response":
                self.rec["error"] = "reset in response body by rule"
                self._reset_client()
            self.rec["error"] = "response truncated by rule"
            self.close_connection = True
            return
        if upstream_closes:
            self._drop_upstream()

    def _resp_body(self, up, framing, length):
        rf = up.rfile
        if framing == "none":
            return
        if framing == "length":
            remaining = length
            while remaining > 0:
                data = rf.read1(min(remaining, CHUNK))
                if not data:
                    raise _UpstreamError("upstream closed inside response body")
                remaining -= len(data)
                yield data, len(data)
        elif framing == "close":
            while True:
                data = rf.read1(CHUNK)
                if not data:
                    return
                yield data, len(data)
        else:
            while True:
                line = rf.readline(65537)
                if not line.endswith(b"\n"):
                    raise _UpstreamError("bad chunk line from upstream")
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise _UpstreamError("bad chunk line from upstream")
                yield line, 0
                if size == 0:
                    while True:
                        line = rf.readline(65537)
                        if not line:
                            raise _UpstreamError("eof in chunk trailer")
                        yield line, 0
                        if line in (b"\r\n", b"\n"):
                            return
                while size > 0:
                    data = rf.read1(min(size, CHUNK))
                    if not data:
                        raise _UpstreamError("eof in chunk")
                    size -= len(data)
                    yield data, len(data)
                crlf = rf.readline(3)
                if crlf not in (b"\r\n", b"\n"):
                    raise _UpstreamError("bad chunk terminator from upstream")
                yield crlf, 0

    # -- control API -------------------------------------------------------

    def _control(self, method, path, query):
        self.rec = None
        chunks = []
        total = 0
        self._send_continue()
        for raw, n in self._body():
            if n:
                total += n
                if total > CONTROL_BODY_MAX:
                    self.close_connection = True
                    return self._control_reply(413, {"error": "body too large"})
                chunks.append(raw)
        body = b"".join(chunks)
        name = path[len(CONTROL_PREFIX):].strip("/")
        p = self.proxy
        try:
            if name == "rules" and method in ("PUT", "POST"):
                p.set_rules(json.loads(body.decode("utf-8") or "[]"))
                return self._control_reply(200, {"rules": p.rule_state()})
            if name == "rules" and method == "GET":
                return self._control_reply(200, {"rules": p.rule_state()})
            if (name == "rules" and method == "DELETE") or name == "clear":
                p.clear_rules()
                return self._control_reply(200, {"rules": []})
            if name == "log" and method in ("GET", "HEAD"):
                data = "".join(json.dumps(r) + "\n" for r in p.records()).encode()
                return self._send_local(200, [("Content-Type", "application/x-ndjson"),
                                              ("Content-Length", str(len(data)))],
                                        b"" if method == "HEAD" else data)
            if name == "log" and method in ("DELETE", "POST"):
                p.clear_records()
                return self._control_reply(200, {"cleared": True})
        except (ValueError, re.error) as e:
            return self._control_reply(400, {"error": str(e)})
        return self._control_reply(404, {"error": "unknown control request"})

    def _control_reply(self, status, obj):
        data = (json.dumps(obj) + "\n").encode()
        self._send_local(status, [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(data)))], data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    allow_reuse_address = True

    def get_request(self):
        sock, addr = super().get_request()
        tls = self.proxy.listen_tls
        if tls is not None:
            # the handshake happens on the first read, in the handler's thread
            sock = tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr


# --------------------------------------------------------------------------
# public API

class S3Proxy:
    """The proxy.  Usable from tests::

        p = S3Proxy("http://127.0.0.1:18080", record="rec.jsonl").start()
        ... talk to http://127.0.0.1:%d % p.port ...
        p.set_rules([{"action": "slow_down", "method": "PUT", "times": 1}])
        p.records()
        p.stop()
    """

    def __init__(self, upstream, listen="127.0.0.1:0", record=None, rules=None,
                 rules_file=None, control=False, expect_timeout=2.0,
                 upstream_timeout=300.0, verbose=False, tls_cert=None, tls_key=None,
                 upstream_ca=None):
        u = urllib.parse.urlsplit(upstream if "://" in upstream else "http://" + upstream)
        if u.scheme not in ("http", "https"):
            raise ValueError("only http:// and https:// upstreams are supported")
        self.upstream_host = u.hostname or "127.0.0.1"
        self.upstream_port = u.port or (443 if u.scheme == "https" else 80)
        self.upstream_tls = None
        if u.scheme == "https":
            self.upstream_tls = ssl.create_default_context(cafile=upstream_ca)
        self.listen_tls = None
        if tls_cert:
            self.listen_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.listen_tls.load_cert_chain(tls_cert, tls_key)
        host, _, port = listen.rpartition(":")
        self.listen_host = (host or "127.0.0.1").strip("[]")
        self.listen_port = int(port or 0)
        self.record_path = record
        self.rules_file = rules_file
        self.control = control
        self.expect_timeout = expect_timeout
        self.upstream_timeout = upstream_timeout
        self.verbose = verbose
        self._lock = threading.Lock()
        self._rec_lock = threading.Lock()
        self._rules = []
        self._rules_stamp = None
        self._records = []
        self._rec_file = None
        self._conns = set()
        self._conn_seq = 0
        self._server = None
        self._thread = None
        if rules is not None:
            self.set_rules(rules)
        if rules_file:
            self._maybe_reload()

    # lifecycle

    def start(self):
        if self.record_path:
            self._rec_file = open(self.record_path, "a", encoding="utf-8")
        self._server = _Server((self.listen_host, self.listen_port), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="s3proxy", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self):
        self.start()
        self._thread.join()

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        scheme = "https" if self.listen_tls is not None else "http"
        return "%s://%s:%d" % (scheme, self.listen_host, self.port)

    def stop(self):
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)
        self._server = None
        with self._rec_lock:
            if self._rec_file is not None:
                self._rec_file.close()
                self._rec_file = None

    def __enter__(self):
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # rules

    def set_rules(self, rules):
        """Replace the rules (list of dicts, or {"rules": [...]}); counters restart."""
        parsed = parse_rules(rules)
        with self._lock:
            self._rules = parsed

    def clear_rules(self):
        with self._lock:
            self._rules = []

    def rule_state(self):
        with self._lock:
            return [r.state() for r in self._rules]

    def _maybe_reload(self):
        if not self.rules_file:
            return
        try:
            st = os.stat(self.rules_file)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._rules_stamp:
            return
        if stamp is None:
            with self._lock:
                self._rules = []
                self._rules_stamp = None
            return
        try:
            with open(self.rules_file, "r", encoding="utf-8") as f:
                text = f.read()
            parsed = parse_rules(json.loads(text) if text.strip() else [])
        except (OSError, ValueError, re.error) as e:
            sys.stderr.write("s3proxy: cannot load rules from %s: %s\n"
                             % (self.rules_file, e))
            return
        with self._lock:
            self._rules = parsed
            self._rules_stamp = stamp

    def _match(self, method, path, query, headers):
        self._maybe_reload()
        with self._lock:
            for r in self._rules:
                if not r.matches(method, path, query, headers):
                    continue
                r.matched += 1
                if r.matched <= r.after:
                    continue
                if r.times is not None and r.fired >= r.times:
                    continue
                r.fired += 1
                return r
        return None

    # recording

    def _record(self, rec):
        line = json.dumps(rec, ensure_ascii=False) + "\n"
        with self._rec_lock:
            self._records.append(rec)
            if self._rec_file is not None:
                self._rec_file.write(line)
                self._rec_file.flush()

    def records(self):
        """Records of this proxy instance (since the last clear_records())."""
        with self._rec_lock:
            return [dict(r) for r in self._records]

    def clear_records(self):
        """Forget recorded requests and truncate the recording file."""
        with self._rec_lock:
            self._records = []
            if self._rec_file is not None:
                self._rec_file.seek(0)
                self._rec_file.truncate()
                self._rec_file.flush()

    # connections

    def _new_conn(self, sock):
        with self._lock:
            self._conn_seq += 1
            self._conns.add(sock)
            return self._conn_seq

    def _end_conn(self, sock):
        with self._lock:
            self._conns.discard(sock)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Recording, fault-injecting S3 proxy")
    ap.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT to listen on")
    ap.add_argument("--upstream", required=True,
                    help="http://HOST:PORT or https://HOST:PORT of the S3 server")
    ap.add_argument("--upstream-ca", help="CA file to verify an https:// upstream with")
    ap.add_argument("--tls-cert", help="serve TLS with this certificate (PEM)")
    ap.add_argument("--tls-key", help="private key of --tls-cert (PEM)")
    ap.add_argument("--record", help="append one JSON line per request to this file")
    ap.add_argument("--rules", help="JSON rules file, re-read when it changes")
    ap.add_argument("--control", action="store_true",
                    help="serve the control API under /__proxy__/")
    ap.add_argument("--expect-timeout", type=float, default=2.0,
                    help="seconds to wait for the upstream's 100 Continue")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    proxy = S3Proxy(args.upstream, listen=args.listen, record=args.record,
                    rules_file=args.rules, control=args.control,
                    expect_timeout=args.expect_timeout, verbose=args.verbose,
                    tls_cert=args.tls_cert, tls_key=args.tls_key,
                    upstream_ca=args.upstream_ca)
    proxy.start()
    print("s3proxy listening on %s:%d" % (proxy.listen_host, proxy.port), flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    while not done.wait(0.5):
        pass
    proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
