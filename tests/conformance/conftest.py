"""Starts `planform sandbox serve` for the conformance tests, which use the official SDKs
(boto3, alibabacloud-servicecatalog20210901) as independent judges of the emulator."""

import os
import subprocess
import time

import pytest

KEY = ("testid", "testsecret")
# The RAM user KEY belongs to (`USER=ID:SECRET`): plans name it as their owner.
USER = "conformance"
STS = ("stsid", "stssecret", "ststoken")
# The key of the RAM user `dba`, the demo catalog's approver for RDS (port-sbxreview0001).
DBA = ("dbaid", "dbasecret")


def binary():
    return os.environ.get("PLANFORM_BIN", os.path.join(os.path.dirname(__file__), "../../target/debug/planform"))


class Server:
    def __init__(self, data_dir, extra=(), env=None, keys=True, listen="127.0.0.1:0"):
        self.data_dir = str(data_dir)
        self.extra = list(extra)
        self.env = env
        self.keys = keys
        self.listen = listen
        self.proc = None
        self.endpoint = None
        self.printed = []

    def start(self):
        keys = ["--access-key", f"{USER}=" + ":".join(KEY), "--access-key", ":".join(STS),
                "--access-key", "dba=" + ":".join(DBA)] if self.keys else []
        args = [binary(), "sandbox", "serve", "--listen", self.listen, "--data", self.data_dir, *keys,
                "--preview-ms", "30", "--execute-ms", "60", *self.extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env)
        line = self.proc.stdout.readline()
        while line.startswith("access key: "):
            self.printed.append(line)
            line = self.proc.stdout.readline()
        assert line.startswith("listening on http://"), line
        self.endpoint = line.split("http://", 1)[1].strip()
        return self

    def kill(self):
        self.proc.kill()  # SIGKILL
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("sandbox")).start()
    yield s
    s.stop()


def wait_for(fetch, done, timeout=15.0):
    """Polls fetch() until done(result); returns the result. A bounded wait for a condition."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if done(result):
            return result
        assert time.monotonic() < deadline, f"condition not reached; last: {result!r}"
        time.sleep(0.02)
