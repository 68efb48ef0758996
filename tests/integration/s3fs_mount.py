# SPDX-License-Identifier: GPL-2.0-or-later
"""s3fs-fuse 1.97, run chrooted from the test server's Debian root, on a
bucket of the test server: the other client of the interoperability tests."""
import os
import shutil
import subprocess
import tempfile
import time


def s3fs_root(env):
    """The Debian root holding s3fs, or None (the tests then skip)."""
    root = env.get("OBSMOUNT_TEST_RGW_ROOT", "")
    if root and os.access(os.path.join(root, "usr/bin/s3fs"), os.X_OK):
        return root
    return None


class S3fsMount:
    """One s3fs process; path() names files as seen from the host."""

    def __init__(self, env, bucket, opts=()):
        self.root = s3fs_root(env)
        assert self.root, "no s3fs in the test server's root"
        self.work = tempfile.mkdtemp(prefix="s3fs.", dir=os.path.join(self.root, "tmp"))
        self.inside = self.work[len(self.root):]
        self.dir = os.path.join(self.work, "mnt")
        os.makedirs(self.dir)
        pw = os.path.join(self.work, "passwd")
        with open(pw, "w") as f:
            f.write("%s:%s\n" % (env["OBSMOUNT_TEST_ACCESS_KEY"],
                                 env["OBSMOUNT_TEST_SECRET_KEY"]))
        os.chmod(pw, 0o600)
        o = ["use_path_request_style", "url=" + env["OBSMOUNT_TEST_HTTP_URL"],
             "passwd_file=" + self.inside + "/passwd",
             "endpoint=" + env.get("OBSMOUNT_TEST_REGION", "us-east-1"),
             "stat_cache_expire=1", "allow_other", "use_xattr"] + list(opts)
        self.argv = ["chroot", self.root, "s3fs", bucket, self.inside + "/mnt", "-f",
                     "-o", ",".join(o)]
        self.log = open(os.path.join(self.work, "s3fs.log"), "ab")
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while not os.path.ismount(self.dir):
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise AssertionError("s3fs did not mount: " + self.read_log())
            time.sleep(0.1)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def read_log(self):
        with open(os.path.join(self.work, "s3fs.log"), "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc is not None:
            subprocess.run(["fusermount3", "-u", self.dir], check=False,
                           stderr=subprocess.DEVNULL)
            subprocess.run(["umount", self.dir], check=False, stderr=subprocess.DEVNULL)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        self.log.close()
        shutil.rmtree(self.work, ignore_errors=True)
