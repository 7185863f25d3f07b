"""Careless-administrator configurations the daemon must refuse with a clear
file:line message, without blocking and without applying any of it."""

import os
import subprocess
import time

from agvtest import AGENT, SLOW, wait_until


def test_fifo_dropin_rejected_without_blocking_reload_or_check(agents):
    a = agents().start()
    fifo = os.path.join(a.dir, "agent.conf.d", "50-oops.conf")
    os.mkfifo(fifo)  # nobody ever writes to it
    before = a.status()["configuration"]["generation"]
    # the reload returns (a blocking open would hang the loop right here)
    r = a.cli("reload", "--socket", a.socket, timeout=20)
    assert r.returncode != 0, r
    assert "50-oops.conf" in r.stdout + r.stderr and "FIFO" in r.stdout + r.stderr, r
    st = a.status()
    assert st["configuration"]["generation"] == before
    assert "FIFO" in (st["configuration"]["last_reload_error"] or "")
    # check-config says the same and exits
    r = subprocess.run([AGENT, "check-config", "--config", a.config_path], capture_output=True, text=True,
                       timeout=20 * SLOW)
    assert r.returncode != 0
    assert f"{fifo}: is a FIFO, not a regular file" in r.stdout + r.stderr, r


def test_child_user_minus_one_refused_at_start(agents):
    a = agents({"child": {"command": "/bin/sleep 1000", "user": "4294967295"}})
    rc = a.start(expect_fail=True)
    assert rc != 0
    log = a.log()
    assert f"{a.config_path}:" in log and "[child] user" in log and "not a usable id" in log, log


def test_unsafe_socket_and_cert_modes_refused_with_file_and_line(agents):
    a = agents({"agent": {"socket_mode": "0666"}, "pki": {"cert_mode": "4444"}})
    rc = a.start(expect_fail=True)
    assert rc != 0
    log = a.log()
    assert "[agent] socket_mode: 0666 lets every local user connect" in log, log
    assert "[pki] cert_mode: 4444 has set-uid" in log, log
    # and no socket was created
    assert not os.path.exists(a.socket)


def test_huge_durations_rejected(agents):
    a = agents().start()
    a.update_config("agent", client_timeout="100000w")
    a.update_config("pki", rescan_interval="100000w")
    r = a.cli("reload", "--socket", a.socket)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "client_timeout: must be from 1s to 1h" in out, out
    assert "rescan_interval: must be from 1s to 1d" in out, out
    # the old values still work: a connection is not dropped at once
    c = a.client()
    assert c.call("version")["ok"]
    time.sleep(0.2)
    assert c.call("version")["ok"]
    c.close()
