"""Processes the alert command starts in the background do not outlive it
(issue 11, defect 5). The signer's side is tests/mcp/descendants.test.mjs."""

import os
import shutil
import tempfile

import pytest

from agvtest import TestPKI, wait_until
from alerttest import alerts_status, deploy


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def shared_dir():
    d = tempfile.mkdtemp(prefix="agv-leftover-")
    os.chmod(d, 0o1777)  # the hook runs as nobody
    yield d
    # never leave a sleeper behind, whatever the test did
    for name in os.listdir(d):
        if name.startswith("bg."):
            try:
                os.kill(int(open(os.path.join(d, name)).read()), 9)
            except (ValueError, ProcessLookupError, PermissionError):
                pass
    shutil.rmtree(d, ignore_errors=True)


def test_hook_background_process_is_killed(agents, shared_dir):
    script = os.path.join(shared_dir, "hook.sh")
    with open(script, "w") as f:
        # a hook that leaves a process behind (and the pipe open with it)
        f.write(f'#!/bin/sh\nsleep 1000 &\necho $! > "{shared_dir}/bg.$AGV_ALERT_STAGE"\necho started\n')
    os.chmod(script, 0o755)
    a = agents({"alerts": {"command": script, "retry_max": "1s"}})
    deploy(a, TestPKI(), days=6)
    a.start()
    wait_until(lambda: alerts_status(a)["channels"]["command"]["last_result"] == "ok", what="hook finished")
    bg = os.path.join(shared_dir, "bg.7d")
    pid = int(open(bg).read())
    wait_until(lambda: not alive(pid), what="the hook's background process killed")
    assert "Killed what alert command" in a.log()
