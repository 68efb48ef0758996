# SPDX-License-Identifier: GPL-2.0-or-later
"""Server-side encryption through a real mount, and the protocol guard
checked from the wire.

Each mount has url= on the plain-HTTP port *through the recording proxy*
(tests/proxy/s3proxy.py) and https_url= on the TLS port, so every request
that was sent over plain HTTP is in the proxy's recording. After the tests
of a mount, every recorded request is checked against an independent
transcription of the service's four tables (below, written from
shared/spec/sse-protocol-rules.md, not from the C code) and our key rule:
no SSE-C key material on plain HTTP, and no request that the tables forbid
over HTTP or with V2 (which includes every V2-signed KMS write).

Objects carry their encryption in their names ("plain-", "kms-", "ssec-"),
renames keep the prefix, so the checker knows the encryption of the source
and target of every request. The server is Ceph RGW 20 with require-ssl
off (the lax port pair) so that what the tables allow over HTTP reaches it,
and a second set of checks runs against the require-ssl port.
"""
import base64
import errno
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TESTS, "server"))
sys.path.insert(0, os.path.join(TESTS, "proxy"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3c  # noqa: E402
from conftest import new_bucket_name  # noqa: E402
from s3proxy import S3Proxy, header_values  # noqa: E402
from test_fs import Mount, errno_of, obsmount_bin, read  # noqa: E402

MIB = 1024 * 1024
PART_MIB = 5

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/fuse"),
    reason="needs root and /dev/fuse")

# ---- the tables, transcribed independently ---------------------------------
# (operation, source, target) -> (transports, signatures); "-" = no side.
H, S = "http", "https"
ANY_T, TLS = {H, S}, {S}
ANY_S, V4 = {2, 4}, {4}
TABLES = {}
for op, t, s in [("PutObject", TLS, ANY_S), ("PostObject", TLS, ANY_S),
                 ("InitiateMultipartUpload", TLS, ANY_S),
                 ("HeadObject", TLS, ANY_S), ("GetObject", TLS, ANY_S),
                 ("UploadPart", TLS, ANY_S),
                 ("CompleteMultipartUpload", ANY_T, ANY_S)]:
    TABLES[(op, "C")] = (t, s)
for op, t, s in [("PutObject", TLS, V4), ("PostObject", TLS, V4),
                 ("InitiateMultipartUpload", TLS, V4),
                 ("HeadObject", ANY_T, ANY_S), ("GetObject", TLS, V4),
                 ("UploadPart", TLS, V4),
                 ("CompleteMultipartUpload", ANY_T, ANY_S)]:
    TABLES[(op, "KMS")] = (t, s)
for src, dst, t, s in [("none", "KMS", TLS, V4), ("KMS", "KMS", TLS, V4),
                       ("C", "KMS", TLS, V4), ("none", "C", TLS, ANY_S),
                       ("KMS", "C", TLS, ANY_S), ("C", "C", TLS, ANY_S),
                       ("none", "none", ANY_T, ANY_S),
                       ("KMS", "none", ANY_T, ANY_S),
                       ("C", "none", ANY_T, ANY_S)]:
    TABLES[("CopyObject", src, dst)] = (t, s)
for src, dst, t, s in [("none", "KMS", ANY_T, ANY_S), ("KMS", "KMS", ANY_T, ANY_S),
                       ("C", "KMS", ANY_T, ANY_S), ("none", "C", TLS, ANY_S),
                       ("KMS", "C", TLS, ANY_S), ("C", "C", TLS, ANY_S),
                       ("none", "none", ANY_T, ANY_S),
                       ("KMS", "none", ANY_T, ANY_S),
                       ("C", "none", ANY_T, ANY_S)]:
    TABLES[("UploadPartCopy", src, dst)] = (t, s)
assert len(TABLES) == 7 + 7 + 9 + 9


def allowed(op, src, dst, carries_key):
    """Transports and signatures the tables and the key rule allow."""
    if op in ("CopyObject", "UploadPartCopy"):
        t, s = TABLES[(op, src, dst)]
    elif op in ("HeadObject", "GetObject"):
        # A read without a key cannot read an SSE-C object (the server
        # refuses it and returns nothing): only a keyed read is table 1's.
        enc = src if (src != "C" or carries_key) else "none"
        t, s = TABLES.get((op, enc), (ANY_T, ANY_S))
    elif op == "other":
        t, s = ANY_T, ANY_S
    else:
        t, s = TABLES.get((op, dst), (ANY_T, ANY_S))
    if carries_key:
        t = t & TLS
    return t, s


def enc_of_key(key):
    base = key.rstrip("/").rsplit("/", 1)[-1]
    if base.startswith("ssec"):
        return "C"
    if base.startswith("kms"):
        return "KMS"
    return "none"


def classify(rec, bucket):
    """(operation, source key, target key) of a recorded request."""
    q = urllib.parse.parse_qs(rec["query"], keep_blank_values=True)
    path = urllib.parse.unquote(rec["path"])
    prefix = "/" + bucket + "/"
    key = path[len(prefix):] if path.startswith(prefix) else ""
    copy_src = header_values(rec, "x-amz-copy-source")
    src_key = ""
    if copy_src:
        cs = urllib.parse.unquote(copy_src[0].split("?")[0])
        src_key = cs.split("/", 2)[2] if cs.count("/") >= 2 else cs
    m = rec["method"]
    if not key:
        return "other", "", ""
    if m == "HEAD":
        return "HeadObject", key, ""
    if m == "GET":
        return ("other" if "uploadId" in q else "GetObject"), key, ""
    if m == "PUT":
        if "partNumber" in q:
            return ("UploadPartCopy" if copy_src else "UploadPart"), src_key, key
        return ("CopyObject" if copy_src else "PutObject"), src_key, key
    if m == "POST":
        if "uploads" in q:
            return "InitiateMultipartUpload", "", key
        if "uploadId" in q:
            return "CompleteMultipartUpload", "", key
    return "other", "", ""


def sig_of(rec):
    auth = (header_values(rec, "Authorization") or [""])[0]
    if auth.startswith("AWS4-HMAC-SHA256"):
        return 4
    if auth.startswith("AWS "):
        return 2
    return 4 if "X-Amz-Signature" in rec["query"] else 2


def carries_key(rec):
    return any(n.lower().endswith("customer-key") for n, _ in rec["headers"])


def check_recording(records, bucket):
    """Every request recorded on plain HTTP obeys the tables and the key
    rule. Returns the number of requests checked per operation."""
    seen = {}
    bad = []
    for rec in records:
        op, src, dst = classify(rec, bucket)
        key = carries_key(rec)
        t, s = allowed(op, enc_of_key(src) if src else "none",
                       enc_of_key(dst) if dst else "none", key)
        if op in ("HeadObject", "GetObject"):
            t, s = allowed(op, enc_of_key(src), "none", key)
        sig = sig_of(rec)
        seen[op] = seen.get(op, 0) + 1
        why = []
        if key:
            why.append("SSE-C key material on plain HTTP")
        if H not in t:
            why.append("the tables require HTTPS")
        if sig not in s:
            why.append("the tables forbid V%d" % sig)
        kms_hdr = [v for v in header_values(rec, "x-amz-server-side-encryption")
                   if v == "aws:kms"]
        if kms_hdr and sig == 2:
            why.append("a V2-signed SSE-KMS request")
        if why:
            bad.append("%s %s %s (src %r dst %r): %s" % (
                rec["method"], rec["path"], rec["query"], src, dst,
                "; ".join(why)))
    assert not bad, "requests that broke the rules on plain HTTP:\n" + "\n".join(bad)
    return seen


# ---- fixtures ----------------------------------------------------------------

def b64key():
    return base64.b64encode(os.urandom(32)).decode()


def key_md5(k):
    return base64.b64encode(hashlib.md5(base64.b64decode(k)).digest()).decode()


@pytest.fixture(scope="module")
def keys():
    return {"new": b64key(), "old": b64key(), "other": b64key()}


@pytest.fixture(scope="module")
def lax(rgw):
    return s3c.client_from_env(lax=True, https=True)


def write_keyfile(path, lines, mode=0o600):
    with open(path, "w") as f:
        f.write("# current key first\n" + "\n".join(lines) + "\n")
    os.chmod(path, mode)


# name -> (sse option kind, sigv, guard)
MOUNTS = {
    "ssec-v4": ("c", 4, "upgrade"),
    "ssec-v2": ("c", 2, "upgrade"),
    "kms-v4": ("kms", 4, "upgrade"),
    "kms-v2": ("kms", 2, "upgrade"),
    "plain-v4": ("none", 4, "upgrade"),
    "plain-v2-strict": ("none", 2, "strict"),
}


class EncMount:
    def __init__(self, rgw, keys, kind, sigv, guard, upstream_var="OBSMOUNT_TEST_LAX_HTTP_URL",
                 https_var="OBSMOUNT_TEST_LAX_HTTPS_URL"):
        self.rgw, self.keys, self.kind, self.sigv, self.guard = rgw, keys, kind, sigv, guard
        self.s3 = s3c.client_from_env(lax=True, https=True)
        self.bucket = new_bucket_name("enc")
        self.s3.create_bucket(self.bucket)
        self.work = tempfile.mkdtemp(prefix="obsmount-enc-")
        self.proxy = S3Proxy(rgw[upstream_var]).start()
        self.keyfile = os.path.join(self.work, "keys")
        write_keyfile(self.keyfile, [keys["new"], keys["old"]])
        opts = ["sigv=%d" % sigv, "guard=" + guard, "part_size=%d" % PART_MIB]
        if kind == "c":
            opts.append("sse=c:" + self.keyfile)
        elif kind == "kms":
            opts.append("sse=kms:" + rgw["OBSMOUNT_TEST_KMS_KEY1"])
        self.m = Mount(rgw, self.bucket, self.work, False, opts, [])
        # url= through the proxy, https_url= straight to the TLS port
        o = self.m.argv[self.m.argv.index("-o") + 1].split(",")
        o = [x for x in o if not x.startswith(("url=", "https_url="))]
        o += ["url=" + self.proxy.url, "https_url=" + rgw[https_var]]
        self.m.argv[self.m.argv.index("-o") + 1] = ",".join(o)
        self.prefix = {"c": "ssec", "kms": "kms", "none": "plain"}[kind]

    def want_head(self, key, enc, ssec_key=None):
        """HEAD over HTTPS with an independent client; assert encryption."""
        h = s3c.sse_c_headers(ssec_key) if ssec_key else None
        r = self.s3.head_object(self.bucket, key, headers=h)
        alg = r.header("x-amz-server-side-encryption")
        calg = r.header("x-amz-server-side-encryption-customer-algorithm")
        if enc == "C":
            assert calg == "AES256", (key, dict(r.headers))
            assert r.header("x-amz-server-side-encryption-customer-key-md5") == \
                key_md5(ssec_key)
        elif enc == "KMS":
            assert alg == "aws:kms", (key, dict(r.headers))
            return r.header("x-amz-server-side-encryption-aws-kms-key-id")
        else:
            assert not alg and not calg, (key, dict(r.headers))
        return None

    def stop(self):
        try:
            self.m.stop()
        finally:
            self.proxy.stop()
            self.s3.delete_bucket_recursive(self.bucket)
            shutil.rmtree(self.work, ignore_errors=True)


@pytest.fixture(scope="module", params=sorted(MOUNTS))
def em(request, rgw, keys):
    kind, sigv, guard = MOUNTS[request.param]
    e = EncMount(rgw, keys, kind, sigv, guard)
    e.name = request.param
    seed(e)
    e.m.start()
    yield e
    try:
        seen = check_recording(e.proxy.records(), e.bucket)
        # the recording is not empty: the mount really used plain HTTP
        assert sum(seen.values()) > 0
    finally:
        e.stop()


def seed(e):
    """Objects written by another client before the mount starts."""
    k = e.keys
    put = e.s3.put_object
    put(e.bucket, "seed/plain-a", b"plain data\n")
    put(e.bucket, "seed/kms-a", b"kms data\n",
        headers=s3c.kms_headers(e.rgw["OBSMOUNT_TEST_KMS_KEY2"]))
    put(e.bucket, "seed/ssec-old", b"old key data\n", headers=s3c.sse_c_headers(k["old"]))
    put(e.bucket, "seed/ssec-other", b"unknown key\n", headers=s3c.sse_c_headers(k["other"]))


def data_of(n, tag):
    seed_ = hashlib.sha256(tag.encode()).digest()
    return (seed_ * (n // len(seed_) + 1))[:n]


def cur_key(e):
    return e.keys["new"] if e.kind == "c" else None


def mount_enc(e):
    return {"c": "C", "kms": "KMS", "none": "none"}[e.kind]


# ---- through every mount ------------------------------------------------------

@pytest.mark.parametrize("size", [1, 12 * MIB + 3])
def test_write_read_rename_chmod_keep_encryption(em, size):
    e, m = em, em.m
    os.makedirs(m.path("w"), exist_ok=True)
    name = "%s-%d" % (e.prefix, size)
    data = data_of(size, name)
    with open(m.path("w", name), "wb") as f:
        f.write(data)
    kid = e.want_head("w/" + name, mount_enc(e), cur_key(e))
    if e.kind == "kms":
        assert kid == e.rgw["OBSMOUNT_TEST_KMS_KEY1"]
    assert read(m.path("w", name)) == data
    # rename (CopyObject) keeps it encrypted the same way
    os.rename(m.path("w", name), m.path("w", name + "-moved"))
    e.want_head("w/" + name + "-moved", mount_enc(e), cur_key(e))
    # chmod (copy onto itself with REPLACE)
    os.chmod(m.path("w", name + "-moved"), 0o600)
    e.want_head("w/" + name + "-moved", mount_enc(e), cur_key(e))
    assert read(m.path("w", name + "-moved")) == data
    # rewrite in place: append (multipart: unchanged parts by UploadPartCopy)
    with open(m.path("w", name + "-moved"), "ab") as f:
        f.write(b"tail")
    e.want_head("w/" + name + "-moved", mount_enc(e), cur_key(e))
    assert read(m.path("w", name + "-moved")) == data + b"tail"
    # the server's object, read with an independent client, is the same
    h = s3c.sse_c_headers(cur_key(e)) if e.kind == "c" else None
    got = e.s3.get_object(e.bucket, "w/" + name + "-moved", headers=h).body
    assert got == data + b"tail"
    if e.kind == "c":
        # without the key, nobody reads it
        for fn in (e.s3.head_object, e.s3.get_object):
            with pytest.raises(s3c.S3Error):
                fn(e.bucket, "w/" + name + "-moved")
        with pytest.raises(s3c.S3Error):
            e.s3.get_object(e.bucket, "w/" + name + "-moved",
                            headers=s3c.sse_c_headers(e.keys["old"]))


def test_seeded_objects(em):
    """Objects of every encryption written by others: read, rename, chmod."""
    e, m = em, em.m
    start = os.path.getsize(m.logpath)
    assert read(m.path("seed", "plain-a")) == b"plain data\n"
    if e.guard == "strict":
        # GET of SSE-KMS needs HTTPS and V4: refused, not downgraded
        assert errno_of(read, m.path("seed", "kms-a")) == errno.EACCES
        assert re.search(r"refused by the protocol guard.*GetObject.*SSE-KMS.*fix:",
                         m.read_log(start)), m.read_log(start)
        # so is a rename of it (CopyObject SSE-KMS -> SSE-KMS: table 3)
        assert errno_of(os.rename, m.path("seed", "kms-a"), m.path("seed", "kms-b")) == \
            errno.EACCES
        e.want_head("seed/kms-a", "KMS")
    else:
        assert read(m.path("seed", "kms-a")) == b"kms data\n"
        os.rename(m.path("seed", "kms-a"), m.path("seed", "kms-b"))
        # never less encrypted than before: KMS stays KMS (or becomes C)
        after = "C" if e.kind == "c" else "KMS"
        e.want_head("seed/kms-b", after, cur_key(e) if after == "C" else None)
        assert read(m.path("seed", "kms-b")) == b"kms data\n"
    if e.kind == "c":
        # written under the older key of the ring: readable, and a rename
        # moves it to the current key
        assert read(m.path("seed", "ssec-old")) == b"old key data\n"
        os.rename(m.path("seed", "ssec-old"), m.path("seed", "ssec-old2"))
        e.want_head("seed/ssec-old2", "C", e.keys["new"])
        assert read(m.path("seed", "ssec-old2")) == b"old key data\n"
        # a plain object renamed in an SSE-C mount gets the current key
        os.rename(m.path("seed", "plain-a"), m.path("seed", "ssec-from-plain"))
        e.want_head("seed/ssec-from-plain", "C", e.keys["new"])
    # a key not in the ring: an error, never data
    assert errno_of(read, m.path("seed", "ssec-other")) in (errno.EACCES, errno.EIO,
                                                            errno.EPERM, errno.ENOKEY)
    # the key never shows in the daemon's log
    log = m.read_log()
    for k in e.keys.values():
        assert k not in log


# ---- mount-time refusals ---------------------------------------------------------

def run_mount(rgw, work, opts):
    pw = os.path.join(work, "passwd")
    with open(pw, "w") as f:
        f.write("%s:%s\n" % (rgw["OBSMOUNT_TEST_ACCESS_KEY"], rgw["OBSMOUNT_TEST_SECRET_KEY"]))
    os.chmod(pw, 0o600)
    mp = os.path.join(work, "mnt")
    os.makedirs(mp, exist_ok=True)
    argv = [obsmount_bin(), "nobucket-refused", mp, "-f", "-o",
            ",".join(["passwd_file=" + pw, "cafile=" + rgw["OBSMOUNT_TEST_CA"]] + opts)]
    p = subprocess.run(argv, capture_output=True, timeout=60)
    return p.returncode, p.stderr.decode(errors="replace")


@pytest.mark.parametrize("case", ["no-https", "strict-http", "strict-kms-v2", "loose-keyfile",
                                  "bad-keyfile"])
def test_mount_refused(rgw, keys, case):
    work = tempfile.mkdtemp(prefix="obsmount-enc-refuse-")
    try:
        kf = os.path.join(work, "keys")
        write_keyfile(kf, [keys["new"]], 0o644 if case == "loose-keyfile" else 0o600)
        if case == "bad-keyfile":
            write_keyfile(kf, ["not-a-key", keys["new"]])
        http, https = rgw["OBSMOUNT_TEST_HTTP_URL"], rgw["OBSMOUNT_TEST_HTTPS_URL"]
        opts = {
            "no-https": ["url=" + http, "sse=c:" + kf],
            "strict-http": ["url=" + http, "https_url=" + https, "sse=c:" + kf,
                            "guard=strict"],
            "strict-kms-v2": ["url=" + https, "sse=kms", "sigv=2", "guard=strict"],
            "loose-keyfile": ["url=" + https, "sse=c:" + kf],
            "bad-keyfile": ["url=" + https, "sse=c:" + kf],
        }[case]
        rc, err = run_mount(rgw, work, opts)
        assert rc != 0, err
        lines = [x for x in err.splitlines() if x.startswith("obsmount:")]
        assert lines, err
        want = {
            "no-https": r"HTTPS",
            "strict-http": r"guard.*HTTPS|HTTPS.*guard",
            "strict-kms-v2": r"V4",
            "loose-keyfile": r"(permission|mode|group|other|0600|chmod)",
            "bad-keyfile": r"line 2",
        }[case]
        assert re.search(want, lines[0], re.I), lines[0]
        for k in keys.values():
            assert k not in err
        assert not os.path.ismount(os.path.join(work, "mnt"))
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---- require-ssl on: the server itself refuses keys over HTTP --------------------

def test_require_ssl_server_upgrade(rgw, keys):
    """With the strict gateway behind the proxy, an SSE-C and an SSE-KMS
    mount work (everything encrypted goes to TLS) and the recording holds
    no key and nothing the tables forbid."""
    for kind in ("c", "kms"):
        e = EncMount(rgw, keys, kind, 4, "upgrade", upstream_var="OBSMOUNT_TEST_HTTP_URL",
                     https_var="OBSMOUNT_TEST_HTTPS_URL")
        e.s3 = s3c.client_from_env(https=True)
        try:
            e.m.start()
            data = data_of(6 * MIB, kind)
            p = e.m.path(e.prefix + "-big")
            with open(p, "wb") as f:
                f.write(data)
            try:
                os.rename(p, p + "2")
            except OSError:
                raise AssertionError(e.m.read_log())
            assert read(p + "2") == data
            e.want_head(e.prefix + "-big2", mount_enc(e), cur_key(e))
            check_recording(e.proxy.records(), e.bucket)
        finally:
            e.stop()
        time.sleep(0.1)


# ---- key hygiene: keys stay out of core dumps and swap -------------------------

def daemon_pid(mp):
    """The obsmount process serving mount point @mp (found by its argv)."""
    me = os.path.realpath(obsmount_bin())
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            argv = open("/proc/%s/cmdline" % d, "rb").read().split(b"\0")
            exe = os.path.realpath("/proc/%s/exe" % d)
        except OSError:
            continue
        if exe == me and mp.encode() in argv:
            return int(d)
    return None


def secret_mappings(pid):
    """VmFlags of each mapping of @pid: a list of sets."""
    out = []
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            if line.startswith("VmFlags:"):
                out.append(set(line.split()[1:]))
    return out


@pytest.mark.parametrize("foreground", [True, False], ids=["fg", "daemon"])
def test_keys_out_of_core_dumps(rgw, keys, foreground):
    """The process serving the mount (after daemonizing too) is not dumpable
    and holds each secret in locked pages excluded from core dumps."""
    work = tempfile.mkdtemp(prefix="obsmount-enc-nodump-")
    s3 = s3c.client_from_env(https=True)
    bucket = new_bucket_name("nodump")
    s3.create_bucket(bucket)
    kf = os.path.join(work, "keys")
    write_keyfile(kf, [keys["new"], keys["old"]])
    log = os.path.join(work, "obsmount.log")
    m = Mount(rgw, bucket, work, True, ["sse=c:" + kf, "log_file=" + log, "log_level=info"],
              [])
    if not foreground:
        m.argv.remove("-f")
    pid = None
    try:
        if foreground:
            m.start()
            pid = m.proc.pid
        else:
            subprocess.run(m.argv, check=True, timeout=60)
            assert os.path.ismount(m.dir)
            pid = daemon_pid(m.dir)
        assert pid, "no obsmount process for %s" % m.dir
        with open(m.path("ssec-f"), "wb") as f:
            f.write(b"data")
        # the daemon read the flag back after the fork, and says so
        text = open(log).read()
        assert "process not dumpable; keys locked in memory" in text, text
        assert "warning" not in text.lower(), text
        # the pages of the secrets, as the kernel sees them: two keys of the
        # ring (raw and header form) and the secret access key at least
        both = [f for f in secret_mappings(pid) if {"dd", "lo"} <= f]
        assert len(both) >= 5, secret_mappings(pid)
        # locked memory is what the secrets take, nothing like the whole heap
        with open("/proc/%d/status" % pid) as f:
            locked_kb = int(re.search(r"VmLck:\s+(\d+) kB", f.read()).group(1))
        assert 0 < locked_kb <= 1024, locked_kb
    finally:
        if foreground:
            m.stop()
        else:
            subprocess.run(["fusermount3", "-u", m.dir], check=False)
            for _ in range(200):
                if not pid or not os.path.exists("/proc/%d" % pid):
                    break
                time.sleep(0.05)
        s3.delete_bucket_recursive(bucket)
        shutil.rmtree(work, ignore_errors=True)


# ---- bucket default encryption ---------------------------------------------------

def put_bucket_kms_default(s3, bucket, key_id):
    body = ('<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            "<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm>"
            "<KMSMasterKeyID>%s</KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule>"
            "</ServerSideEncryptionConfiguration>" % key_id).encode()
    r = s3.request("PUT", bucket, query={"encryption": ""}, body=body)
    assert r.status == 200, r


@pytest.mark.parametrize("guard", ["upgrade", "strict"])
def test_bucket_default_kms(rgw, keys, guard):
    """A bucket whose default encryption is SSE-KMS, mounted with a plain
    HTTP url=, https_url= and no sse=: under guard=upgrade files store
    (small and multipart), read back and rename, every object is SSE-KMS,
    and nothing about them went over plain HTTP (the gateway requires TLS
    for SSE-KMS). guard=strict refuses the write (table 2) instead of
    sending it over HTTP."""
    e = EncMount(rgw, keys, "none", 4, guard, upstream_var="OBSMOUNT_TEST_HTTP_URL",
                 https_var="OBSMOUNT_TEST_HTTPS_URL")
    e.s3 = s3c.client_from_env(https=True)
    kid = rgw["OBSMOUNT_TEST_KMS_KEY1"]
    try:
        put_bucket_kms_default(e.s3, e.bucket, kid)
        e.m.argv += ["-o", "log_level=info"]
        e.m.start()
        if guard == "strict":
            def store():
                with open(e.m.path("kms-small"), "wb") as f:
                    f.write(b"x")
            assert errno_of(store) == errno.EACCES
            assert re.search(r"op=PutObject key='kms-small': refused by the protocol guard "
                             r"\(PutObject, source none, target SSE-KMS.*table 2",
                             e.m.read_log()), e.m.read_log()
            # strict sends what the tables allow as the mount asks: a HEAD
            # (table 2) may use plain HTTP, a write may not
            sent = [r for r in e.proxy.records() if "/kms-" in r["path"]
                    and r["method"] in ("PUT", "POST")]
            check_recording(e.proxy.records(), e.bucket)
            assert not sent, ["%s %s" % (r["method"], r["path"]) for r in sent]
            return
        for n, size in (("kms-small", 3), ("kms-big", 12 * MIB + 5)):
            data = data_of(size, n)
            p = e.m.path(n)
            try:
                with open(p, "wb") as f:
                    f.write(data)
            except OSError:
                raise AssertionError(e.m.read_log())
            assert e.want_head(n, "KMS") == kid
            assert read(p) == data
            os.rename(p, p + "-2")
            assert e.want_head(n + "-2", "KMS") == kid
            assert read(p + "-2") == data
        log = e.m.read_log()
        assert "bucket '%s' default encryption: SSE-KMS key '%s'" % (e.bucket, kid) in log, log
        assert not e.m.bad_lines(), e.m.bad_lines()
        recs = e.proxy.records()
        check_recording(recs, e.bucket)
        # nothing about these objects on plain HTTP; under guard=strict the
        # tables alone rule, and they have no row for DELETE (it follows url=)
        about = [r for r in recs if "/kms-" in r["path"]
                 and (r["method"] != "DELETE" or guard != "strict")]
        assert not about, ["%s %s" % (r["method"], r["path"]) for r in about]
    finally:
        e.stop()


def test_server_refusal_over_http_is_eacces(rgw, keys):
    """A default encryption set after the mount started: the server refuses
    the PUT over plain HTTP (400 InvalidRequest); that is EACCES with one
    line naming the rule, not EINVAL."""
    e = EncMount(rgw, keys, "none", 4, "strict", upstream_var="OBSMOUNT_TEST_HTTP_URL",
                 https_var="OBSMOUNT_TEST_HTTPS_URL")
    e.s3 = s3c.client_from_env(https=True)
    try:
        e.m.start()
        put_bucket_kms_default(e.s3, e.bucket, rgw["OBSMOUNT_TEST_KMS_KEY1"])
        start = os.path.getsize(e.m.logpath)

        def store():
            with open(e.m.path("late"), "wb") as f:
                f.write(b"x")
        assert errno_of(store) == errno.EACCES
        log = e.m.read_log(start)
        assert re.search(r"op=PutObject key='late': the server refused it over plain HTTP "
                         r"\(status 400, code 'InvalidRequest'.*tables 1 and 2.*fix: ", log), log
    finally:
        e.stop()


# ---- objects of unknown encryption: probed over HTTPS ---------------------------
# A mount without the SSE-C key meets SSE-C and SSE-KMS objects written by
# another client. Both endpoints sit behind a recording proxy (the TLS one
# terminates TLS with a certificate of the test's own), so the wire shows
# where every request about those objects went.

@pytest.fixture(scope="module")
def tls_pair():
    """A self-signed certificate for 127.0.0.1: (cert path, key path)."""
    work = tempfile.mkdtemp(prefix="obsmount-enc-tls-")
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-addext", "basicConstraints=critical,CA:TRUE"],
                   check=True, capture_output=True, timeout=60)
    yield cert, key
    shutil.rmtree(work, ignore_errors=True)


def seeded_keys(rec, bucket):
    """The object keys a recorded request names (path, copy source)."""
    _, src, dst = classify(rec, bucket)
    path = urllib.parse.unquote(rec["path"])
    prefix = "/" + bucket + "/"
    named = {k for k in (src, dst) if k}
    if path.startswith(prefix) and path != prefix:
        named.add(path[len(prefix):])
    return named


# name -> (sse kind, sigv, guard); sse=kms with guard=strict and a plain url=
# is refused at mount (table 2 writes), see test_mount_refused.
PROBE_MOUNTS = {
    "none-v4-upgrade": ("none", 4, "upgrade"),
    "none-v2-upgrade": ("none", 2, "upgrade"),
    "none-v4-strict": ("none", 4, "strict"),
    "kms-v4-upgrade": ("kms", 4, "upgrade"),
    "kms-v2-upgrade": ("kms", 2, "upgrade"),
    "c-v4-upgrade": ("c", 4, "upgrade"),
    "c-v2-upgrade": ("c", 2, "upgrade"),
}


@pytest.mark.parametrize("name", sorted(PROBE_MOUNTS))
def test_unknown_encryption_probed_over_https(rgw, keys, tls_pair, name):
    """With url= plain HTTP and https_url= available, no request about an
    SSE-C or SSE-KMS object (as seeded) crosses plain HTTP, not even the
    first HEAD that learns what the object is; no customer key crosses
    plain HTTP; no request about an SSE-KMS object is signed V2. Objects
    known to be plain still use url=. DELETE (a rename's second half) has
    no row in the tables: under guard=upgrade it takes HTTPS and V4 like
    every request about a possibly encrypted object; under guard=strict
    the tables alone rule and it follows url= (the spec's note)."""
    kind, sigv, guard = PROBE_MOUNTS[name]
    cert, tkey = tls_pair
    e = EncMount(rgw, keys, kind, sigv, guard)
    tls = S3Proxy(rgw["OBSMOUNT_TEST_LAX_HTTPS_URL"], upstream_ca=rgw["OBSMOUNT_TEST_CA"],
                  tls_cert=cert, tls_key=tkey).start()
    try:
        o = e.m.argv[e.m.argv.index("-o") + 1].split(",")
        o = [x for x in o if not x.startswith(("https_url=", "cafile="))]
        o += ["https_url=" + tls.url, "cafile=" + cert]
        e.m.argv[e.m.argv.index("-o") + 1] = ",".join(o)
        put = e.s3.put_object
        put(e.bucket, "seed/plain-a", b"plain a\n")
        put(e.bucket, "seed/plain-b", b"plain b\n")
        put(e.bucket, "seed/kms-a", b"kms a\n",
            headers=s3c.kms_headers(rgw["OBSMOUNT_TEST_KMS_KEY2"]))
        put(e.bucket, "seed/ssec-a", b"ssec a\n", headers=s3c.sse_c_headers(keys["other"]))
        enc = {"seed/plain-a": "none", "seed/plain-b": "none", "seed/kms-a": "KMS",
               "seed/ssec-a": "C"}
        # multipart-sized, for appends that copy their parts (UploadPartCopy)
        big = bytes(range(256)) * (11 * MIB // 256)
        put(e.bucket, "seed/kms-big", big, headers=s3c.kms_headers(rgw["OBSMOUNT_TEST_KMS_KEY2"]))
        enc["seed/kms-big"] = "KMS"
        if kind == "c":
            # under a key of the mount's ring (an older one)
            put(e.bucket, "seed/ssec-mine", b"ssec mine\n", headers=s3c.sse_c_headers(keys["old"]))
            put(e.bucket, "seed/ssec-big", big, headers=s3c.sse_c_headers(keys["old"]))
            enc["seed/ssec-mine"] = enc["seed/ssec-big"] = "C"
        e.m.start()
        m = e.m

        assert sorted(os.listdir(m.path("seed"))) == sorted(k[len("seed/"):] for k in enc)
        for n in ("plain-a", "plain-b", "kms-a"):
            os.stat(m.path("seed", n))
        assert errno_of(os.stat, m.path("seed", "ssec-a")) in (0, errno.EACCES)
        assert read(m.path("seed", "plain-a")) == b"plain a\n"
        assert errno_of(read, m.path("seed", "ssec-a")) == errno.EACCES
        # a plain object renamed and chmodded; under sse=kms it becomes SSE-KMS
        plain2 = "kms-from-plain" if kind == "kms" else "plain-a2"
        enc["seed/" + plain2] = {"kms": "KMS", "c": "C"}.get(kind, "none")
        os.rename(m.path("seed", "plain-a"), m.path("seed", plain2))
        os.chmod(m.path("seed", plain2), 0o640)
        e.want_head("seed/" + plain2, enc["seed/" + plain2], keys["new"] if kind == "c" else None)
        if guard == "strict":
            # GetObject and CopyObject of SSE-KMS need HTTPS and V4: refused
            assert errno_of(read, m.path("seed", "kms-a")) == errno.EACCES
            assert errno_of(os.rename, m.path("seed", "kms-a"),
                            m.path("seed", "kms-a2")) == errno.EACCES
            assert errno_of(os.chmod, m.path("seed", "kms-a"), 0o640) == errno.EACCES
        else:
            assert read(m.path("seed", "kms-a")) == b"kms a\n"
            os.rename(m.path("seed", "kms-a"), m.path("seed", "kms-a2"))
            # what the mount writes is encrypted its way (SSE-C) or stays SSE-KMS
            enc["seed/kms-a2"] = "C" if kind == "c" else "KMS"
            os.chmod(m.path("seed", "kms-a2"), 0o640)
            e.want_head("seed/kms-a2", enc["seed/kms-a2"],
                        keys["new"] if kind == "c" else None)
            assert read(m.path("seed", "kms-a2")) == b"kms a\n"
            # an append to a multipart-sized object copies its parts (in
            # an SSE-C mount it would become SSE-C: ssec-big below instead)
            if kind != "c":
                with open(m.path("seed", "kms-big"), "ab") as f:
                    f.write(b"tail")
                assert read(m.path("seed", "kms-big")) == big + b"tail"
                e.want_head("seed/kms-big", "KMS")
        if kind == "c":
            assert read(m.path("seed", "ssec-mine")) == b"ssec mine\n"
            os.rename(m.path("seed", "ssec-mine"), m.path("seed", "ssec-mine2"))
            enc["seed/ssec-mine2"] = "C"
            os.chmod(m.path("seed", "ssec-mine2"), 0o640)
            e.want_head("seed/ssec-mine2", "C", keys["new"])
            with open(m.path("seed", "ssec-big"), "ab") as f:
                f.write(b"tail")
            assert read(m.path("seed", "ssec-big")) == big + b"tail"
        os.stat(m.path("seed", "plain-b"))
        assert read(m.path("seed", "plain-b")) == b"plain b\n"

        plain_recs, tls_recs = e.proxy.records(), tls.records()
        bad = []
        for rec in plain_recs:
            # strict: the tables alone, which have no row for DELETE
            if rec["method"] == "DELETE" and guard == "strict":
                continue
            named = [k for k in seeded_keys(rec, e.bucket) if enc.get(k, "none") != "none"]
            if named:
                bad.append("about %s over plain HTTP: %s %s?%s" % (
                    ",".join(named), rec["method"], rec["path"], rec["query"]))
            if carries_key(rec):
                bad.append("customer key over plain HTTP: %s %s" % (rec["method"],
                                                                     rec["path"]))
        for rec in plain_recs + tls_recs:
            if rec["method"] == "DELETE" and guard == "strict":
                continue
            kms = [k for k in seeded_keys(rec, e.bucket) if enc.get(k) == "KMS"]
            if kms and sig_of(rec) == 2:
                bad.append("V2-signed about %s: %s %s?%s" % (",".join(kms), rec["method"],
                                                              rec["path"], rec["query"]))
        assert not bad, "\n".join(bad)
        # the rules the tables give still hold for everything on plain HTTP
        check_recording(plain_recs, e.bucket)
        # the encrypted objects were asked about, over TLS
        over_tls = set().union(*(seeded_keys(r, e.bucket) for r in tls_recs))
        assert {"seed/kms-a", "seed/ssec-a"} <= over_tls, sorted(over_tls)
        # and plain objects, once known, used url=
        plain_gets = [r for r in plain_recs if r["method"] == "GET"
                      and urllib.parse.unquote(r["path"]).endswith("/seed/plain-b")]
        assert plain_gets, [(r["method"], r["path"]) for r in plain_recs]
        log = m.read_log()
        for k in keys.values():
            assert k not in log
    finally:
        try:
            e.stop()
        finally:
            tls.stop()


@pytest.mark.parametrize("guard", ["upgrade", "strict"])
def test_unknown_encryption_http_only_probe(rgw, keys, guard):
    """A mount with no HTTPS endpoint at all: the keyless HEAD is the only
    way to learn an object's encryption, so it goes over plain HTTP (an
    SSE-C object answers 400: EACCES, and no key material is sent); the
    guard says so once at debug level, not once per object."""
    e = EncMount(rgw, keys, "none", 4, guard)
    try:
        o = e.m.argv[e.m.argv.index("-o") + 1].split(",")
        o = [x for x in o if not x.startswith("https_url=")]
        o += ["log_level=debug", "dbg=guard"]
        e.m.argv[e.m.argv.index("-o") + 1] = ",".join(o)
        e.s3.put_object(e.bucket, "plain-a", b"plain\n")
        e.s3.put_object(e.bucket, "kms-a", b"kms\n",
                        headers=s3c.kms_headers(rgw["OBSMOUNT_TEST_KMS_KEY2"]))
        e.s3.put_object(e.bucket, "kms-b", b"kms\n",
                        headers=s3c.kms_headers(rgw["OBSMOUNT_TEST_KMS_KEY2"]))
        e.s3.put_object(e.bucket, "ssec-a", b"ssec\n", headers=s3c.sse_c_headers(keys["other"]))
        e.m.start()
        for n in ("plain-a", "kms-a", "kms-b"):
            os.stat(e.m.path(n))
        assert errno_of(os.stat, e.m.path("ssec-a")) == errno.EACCES
        assert read(e.m.path("plain-a")) == b"plain\n"
        heads = {urllib.parse.unquote(r["path"]).rsplit("/", 1)[-1]
                 for r in e.proxy.records() if r["method"] == "HEAD"}
        assert {"plain-a", "kms-a", "kms-b", "ssec-a"} <= heads, heads
        assert not any(carries_key(r) for r in e.proxy.records())
        log = e.m.read_log()
        said = re.findall(r"keyless probe of an object of unknown encryption over plain HTTP"
                          r".*no HTTPS endpoint.*table 1", log)
        assert len(said) == 1, log
    finally:
        e.stop()
