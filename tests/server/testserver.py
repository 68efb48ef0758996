"""Helpers for tests that need the RGW test server.

ensure_server() returns the OBSMOUNT_TEST_* settings, starting the server
with start.sh (and putting its exports into os.environ) when they are not
already in the environment.  rados_ls()/rados_get() read the raw RADOS
objects behind the S3 objects, to check what really got stored.
"""

import os
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REQUIRED = (
    "OBSMOUNT_TEST_HTTP_URL", "OBSMOUNT_TEST_HTTPS_URL",
    "OBSMOUNT_TEST_LAX_HTTP_URL", "OBSMOUNT_TEST_LAX_HTTPS_URL",
    "OBSMOUNT_TEST_ACCESS_KEY", "OBSMOUNT_TEST_SECRET_KEY",
    "OBSMOUNT_TEST_CA", "OBSMOUNT_TEST_REGION", "OBSMOUNT_TEST_KMS_KEY1",
    "OBSMOUNT_TEST_KMS_KEY2", "OBSMOUNT_TEST_RGW_ROOT",
)
# Path of the cluster configuration as seen inside the root.
IN_ROOT_CONF = "/obsmount/ceph.conf"
DATA_POOL = "default.rgw.buckets.data"


def parse_exports(text):
    """Parse the `export NAME=VALUE` lines printed by start.sh."""
    env = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, _, value = words[1].partition("=")
            env[name] = value
    return env


def ensure_server(timeout=900):
    """Return (settings, started): settings maps OBSMOUNT_TEST_* names to
    values; started tells whether this call started the server."""
    if all(os.environ.get(n) for n in REQUIRED):
        return {n: os.environ[n] for n in REQUIRED}, False
    start = os.path.join(HERE, "start.sh")
    r = subprocess.run([start, "--status"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, timeout=timeout,
                       universal_newlines=True)
    started = r.returncode != 0
    if started:
        r = subprocess.run([start], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout,
                           universal_newlines=True)
        sys.stderr.write(r.stderr)
        if r.returncode != 0:
            raise RuntimeError("start.sh failed (status %d):\n%s" % (
                r.returncode, "\n".join(r.stderr.splitlines()[-40:])))
    env = parse_exports(r.stdout)
    missing = [n for n in REQUIRED if n not in env]
    if missing:
        raise RuntimeError("start.sh did not export %s" % ", ".join(missing))
    os.environ.update(env)
    return env, started


def stop_server(timeout=300):
    subprocess.run([os.path.join(HERE, "stop.sh")], check=True,
                   timeout=timeout)


def gc():
    subprocess.run([os.path.join(HERE, "gc.sh")], check=True, timeout=900)


def _rados(*args):
    root = os.environ["OBSMOUNT_TEST_RGW_ROOT"]
    return subprocess.run(
        ["chroot", root, "/usr/bin/rados", "-c", IN_ROOT_CONF] + list(args),
        check=True, stdout=subprocess.PIPE, timeout=120).stdout


def rados_ls(pool=DATA_POOL):
    """Names of the RADOS objects in a pool (needs root)."""
    return _rados("-p", pool, "ls").decode().splitlines()


def rados_get(oid, pool=DATA_POOL):
    """Raw content of one RADOS object (needs root)."""
    return _rados("-p", pool, "get", oid, "-")


def rados_head_oid(key, pool=DATA_POOL):
    """The RADOS object holding the head (first chunk) of S3 object `key`:
    its name is `<bucket marker>_<key>`.  Unique keys make this
    unambiguous across buckets."""
    names = [n for n in rados_ls(pool) if n.endswith("_" + key)]
    if len(names) != 1:
        raise LookupError("%d RADOS objects for key %r" % (len(names), key))
    return names[0]
