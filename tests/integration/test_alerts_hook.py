"""The [alerts] command: AGV_ALERT_* environment, run unprivileged, output
to the journal (stderr here), timeout and retry."""

import os
import shutil
import stat
import tempfile

import pytest

from agvtest import TestPKI, serial_hex, wait_until
from alerttest import alerts_status, deploy


@pytest.fixture
def shared_dir():
    # the hook runs as nobody: it needs a directory it can write and reach
    d = tempfile.mkdtemp(prefix="agv-hook-")
    os.chmod(d, 0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


HOOK = """#!/bin/sh
env | grep '^AGV_ALERT_\\|^PATH=\\|^HOME=\\|^NOTIFY_SOCKET=' | grep -v '^AGV_ALERT_JSON' > "{d}/env.$AGV_ALERT_STAGE"
id -u > "{d}/uid"
echo "hook saw $AGV_ALERT_NAME"
"""


def test_hook_env_user_and_output(agents, shared_dir):
    script = os.path.join(shared_dir, "hook.sh")
    with open(script, "w") as f:
        f.write(HOOK.format(d=shared_dir))
    os.chmod(script, 0o755)
    a = agents({"alerts": {"command": script, "instance": "vm-hook", "retry_max": "1s"}})
    pki = TestPKI()
    cert = deploy(a, pki, days=6)
    a.start()
    path = os.path.join(shared_dir, "env.7d")
    wait_until(lambda: os.path.exists(path) and os.path.getsize(path) > 0, what="hook ran")
    wait_until(lambda: alerts_status(a)["channels"]["command"]["last_result"] == "ok", what="hook recorded")
    env = dict(line.split("=", 1) for line in open(path).read().splitlines())
    assert env["AGV_ALERT_NAME"] == "AgvCertificateExpiring"
    assert env["AGV_ALERT_STATUS"] == "firing"
    assert env["AGV_ALERT_STAGE"] == "7d"
    assert env["AGV_ALERT_SEVERITY"] == "warning"
    assert env["AGV_ALERT_SERIAL"] == serial_hex(cert)
    assert env["AGV_ALERT_DAYS_LEFT"] == "6"
    assert env["AGV_ALERT_INSTANCE"] == "vm-hook"
    assert env["AGV_ALERT_NOT_AFTER"].endswith("Z")
    # a clean environment: nothing of the agent's leaks in
    assert "NOTIFY_SOCKET" not in env
    # root agent without command_user: the hook runs as nobody
    if os.geteuid() == 0:
        assert open(os.path.join(shared_dir, "uid")).read().strip() == "65534"
    wait_until(lambda: "hook saw AgvCertificateExpiring" in a.log(), what="hook output logged")


def test_hook_timeout_and_failure_are_retried(agents, shared_dir):
    script = os.path.join(shared_dir, "slow.sh")
    with open(script, "w") as f:
        f.write(f"""#!/bin/sh
n=$(cat {shared_dir}/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > {shared_dir}/count
[ $n -eq 1 ] && exec sleep 30
[ $n -eq 2 ] && exit 3
exit 0
""")
    os.chmod(script, 0o755)
    a = agents({"alerts": {"command": script, "command_timeout": "1s", "retry_max": "1s"}})
    pki = TestPKI()
    deploy(a, pki, days=6)
    a.start()
    wait_until(lambda: alerts_status(a)["channels"]["command"]["delivered"] == 1, timeout=20, what="delivered")
    st = alerts_status(a)["channels"]["command"]
    assert st["failed"] == 2
    log = a.log()
    assert "command killed after its timeout" in log
    assert "command exited with status 3" in log
    assert open(os.path.join(shared_dir, "count")).read().strip() == "3"
    assert alerts_status(a)["pending_deliveries"] == 0
