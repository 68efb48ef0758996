# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared pytest fixtures: the Ceph RGW test server and fresh buckets.

The server is started once per test session by tests/server/start.sh (which
reuses a running one) unless its exports are already in the environment, and
stopped at the end only if this session started it.
"""
import os
import shlex
import subprocess
import sys
import uuid

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(TESTS, "server"))
sys.path.insert(0, os.path.join(TESTS, "proxy"))


def _parse_exports(text):
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("export "):
            line = line[len("export "):]
        if "=" not in line or line.startswith("#"):
            continue
        name, _, value = line.partition("=")
        parts = shlex.split(value)
        env[name] = parts[0] if parts else ""
    return env


@pytest.fixture(scope="session")
def rgw():
    """Dict of the server's exports (URLs, keys, CA path, region, KMS key ids)."""
    started = False
    if not os.environ.get("OBSMOUNT_TEST_HTTP_URL"):
        # A server that was already running belongs to someone else: reuse
        # it and leave it running.
        running = subprocess.run(
            [os.path.join(TESTS, "server", "start.sh"), "--status"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            timeout=120).returncode == 0
        out = subprocess.run(
            [os.path.join(TESTS, "server", "start.sh")],
            check=True, stdout=subprocess.PIPE, timeout=900,
        ).stdout.decode()
        env = _parse_exports(out)
        assert env.get("OBSMOUNT_TEST_HTTP_URL"), "start.sh printed no exports"
        os.environ.update(env)
        started = not running
    keys = [k for k in os.environ if k.startswith("OBSMOUNT_TEST_")]
    yield {k: os.environ[k] for k in keys}
    if started and os.environ.get("OBSMOUNT_KEEP_SERVER") != "1":
        subprocess.run([os.path.join(TESTS, "server", "stop.sh")], timeout=300)


def new_bucket_name(prefix="t"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:16])
