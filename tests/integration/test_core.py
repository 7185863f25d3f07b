"""The daemon core: systemd notify protocol, reload, control socket commands
and limits, CLI exit codes. Runs the real binary."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from agvtest import AGENT, SLOW, ControlClient, wait_until


def test_ready_status_stopping(agents):
    a = agents().start()
    msgs = a.notify.snapshot()
    ready = [m for m in msgs if m.get("READY") == "1"]
    assert ready, msgs
    assert ready[0]["STATUS"].startswith("ok"), ready[0]
    assert int(ready[0]["MAINPID"]) == a.proc.pid
    n = len(a.notify.snapshot())
    assert a.stop() == 0
    tail = a.notify.messages[n:]
    assert any(m.get("STOPPING") == "1" for m in tail), tail


def test_status_schema(agents):
    a = agents().start()
    st = a.status()
    assert st["schema_version"] == 1
    assert st["state"] in ("ok", "warning", "critical")
    assert isinstance(st["reasons"], list)
    assert st["pid"] == a.proc.pid
    assert st["config"] == a.config_path
    assert st["uptime_s"] >= 0
    for section in ("certificate", "permissions", "child", "alerts", "credentials"):
        assert section in st


def test_reload_good_config_applies(agents):
    a = agents().start()
    before = a.status()["configuration"]["generation"]
    a.update_config("agent", max_clients=7)
    n = len(a.notify.snapshot())
    a.reload()
    msgs = a.notify.snapshot()[n:]
    reloading = [m for m in msgs if m.get("RELOADING") == "1"]
    assert reloading and int(reloading[0]["MONOTONIC_USEC"]) > 0, msgs
    st = a.status()
    assert st["configuration"]["generation"] == before + 1
    assert st["configuration"]["last_reload_error"] is None
    # the new client cap is live: 7 connections are served, the 8th refused
    held = [a.client() for _ in range(6)]  # plus the one below = 7
    try:
        assert a.call("version")["ok"]
        extra = [a.client() for _ in range(1)]
        c = a.client()
        reply = c.read_line()
        assert reply["ok"] is False and reply["error"]["code"] == "too_many_clients"
        for x in extra:
            x.close()
    finally:
        for h in held:
            h.close()


def test_reload_bad_config_keeps_old(agents):
    a = agents().start()
    a.update_config("agent", max_clients=9)
    a.reload()
    good = a.status()["configuration"]["generation"]
    # an invalid file: one good-looking change plus one bad value
    a.update_config("agent", max_clients=3)
    a.update_config("pki", key_mode="0644")
    n = len(a.notify.snapshot())
    a.reload()
    st = a.status()
    assert st["configuration"]["generation"] == good
    err = st["configuration"]["last_reload_error"]
    assert f"{a.config_path}:" in err and "key_mode" in err, err
    assert st["state"] == "warning"
    assert st["reasons"][0]["code"] == "config_reload_failed"
    statuses = [m["STATUS"] for m in a.notify.snapshot()[n:] if "STATUS" in m]
    assert any("reload failed" in s for s in statuses), statuses
    # the old max_clients (9) is still in force, not the rejected 3
    held = [a.client() for _ in range(8)]
    try:
        assert a.call("version")["ok"]
    finally:
        for h in held:
            h.close()
    # fixing the file and reloading clears the warning
    a.update_config("pki", key_mode="0440")
    a.reload()
    st = a.status()
    assert st["configuration"]["last_reload_error"] is None
    assert st["state"] == "ok"


def test_commands_on_one_connection(agents):
    a = agents().start()
    c = a.client()
    assert c.call("version")["result"]["version"]
    assert c.call("status")["result"]["schema_version"] == 1
    metrics = c.call("metrics")["result"]["text"]
    assert "agv_up 1" in metrics
    names = [x["command"] for x in c.call("help")["result"]["commands"]]
    assert {"status", "version", "reload", "metrics"} <= set(names)
    r = c.call("reload")
    assert r["ok"] and r["result"]["reloaded"] is True
    r = c.call("frobnicate")
    assert r == {"ok": False, "error": {"code": "unknown_command",
                                        "message": r["error"]["message"]}}
    assert "frobnicate" in r["error"]["message"]
    # pipelined: three requests in one write, three replies in order
    c.send_raw(b'{"command":"version"}\n{"command":"nope"}\n{"command":"status"}\n')
    assert c.read_line()["ok"] is True
    assert c.read_line()["error"]["code"] == "unknown_command"
    assert c.read_line()["result"]["schema_version"] == 1
    c.close()


@pytest.mark.parametrize("payload,code", [
    (b"this is not json\n", "parse_error"),
    (b"[1,2,3]\n", "invalid_request"),
    (b'{"command": 42}\n', "invalid_request"),
    (b'{"command":"status"} trailing\n', "parse_error"),
    (b'{"command":"st\xff\xfeatus"}\n', "invalid_utf8"),
    (b'{"command":"\xed\xa0\x80"}\n', "invalid_utf8"),  # UTF-16 surrogate in UTF-8
])
def test_bad_requests_get_error_replies(agents, payload, code):
    a = agents().start()
    c = a.client()
    c.send_raw(payload)
    r = c.read_line()
    assert r["ok"] is False and r["error"]["code"] == code, r
    # the connection survives a bad request
    assert c.call("version")["ok"]
    c.close()


def test_misbehaving_clients_do_not_disturb_others(agents):
    a = agents({"agent": {"client_timeout": "2s", "max_clients": 20}}).start()
    good = a.client()

    # 1 MiB line without newline: error reply, then disconnected
    big = a.client()
    try:
        big.sock.sendall(b'{"command":"' + b"x" * (1024 * 1024))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the agent hung up once the line passed 64 KiB
    r = big.read_line()
    assert r["error"]["code"] == "line_too_long"
    with pytest.raises((ConnectionError, OSError)):
        big.read_line()

    # half-open: a partial request and then silence
    half = a.client()
    half.send_raw(b'{"command":"sta')

    # a reader that never reads: thousands of pipelined requests
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.connect(a.socket)
    stalled.setblocking(False)
    req = b'{"command":"status"}\n' * 2000
    try:
        stalled.send(req)
    except BlockingIOError:
        pass

    # garbage
    junk = a.client()
    junk.send_raw(os.urandom(4096).replace(b"\n", b"") + b"\n")
    assert junk.read_line()["ok"] is False

    # the well-behaved client is answered throughout
    for _ in range(50):
        assert good.call("status")["ok"]

    # the half-open client is dropped after client_timeout, the good one keeps
    # working because it keeps talking
    def half_closed():
        try:
            half.sock.settimeout(0.2)
            data = half.sock.recv(65536)
            return data == b"" or b"timeout" in data
        except socket.timeout:
            return False
    deadline_ok = wait_until(lambda: (good.call("version")["ok"] and half_closed()), 15,
                             interval=0.2, what="idle client dropped")
    assert deadline_ok
    assert good.call("status")["ok"]
    for s in (good, half, junk):
        s.close()
    stalled.close()


def test_connection_flood(agents):
    a = agents({"agent": {"max_clients": 16}}).start()
    good = a.client()
    flood = []
    refused = 0
    for _ in range(200):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(a.socket)
        except (BlockingIOError, ConnectionRefusedError, OSError):
            refused += 1
            s.close()
            continue
        flood.append(s)
    # existing clients keep being answered while the flood is held open
    for _ in range(20):
        assert good.call("status")["ok"]
    st = good.call("status")["result"]
    assert st["state"] in ("ok", "warning")
    for s in flood:
        s.close()
    # after the flood, new clients are served again
    wait_until(lambda: a.call("version")["ok"], 10, what="service after flood")
    good.close()


def test_mutating_commands_need_admin(agents, tmp_path):
    # the socket must be reachable by an unprivileged user: own world-readable dir
    if os.getuid() != 0:
        pytest.skip("needs root to act as another user")
    sockdir = tempfile.mkdtemp(prefix="agv-sock-")
    try:
        os.chmod(sockdir, 0o755)
        path = os.path.join(sockdir, "agent.sock")
        # status for nobody through the socket group (a world-writable
        # socket_mode is refused by the config check)
        a = agents({"agent": {"socket": path, "socket_mode": "0660", "socket_group": "nogroup"}})
        a.socket = path
        a.start()
        r = a.cli("status", "--json", "--socket", path, user="nobody")
        assert r.returncode in (0, 1, 2), r.stderr
        assert json.loads(r.stdout)["schema_version"] == 1
        r = a.cli("reload", "--socket", path, user="nobody")
        assert r.returncode == 1
        assert "permission_denied" in r.stderr
        assert "admin_group" in r.stderr
        # root may
        assert a.cli("reload", "--socket", path).returncode == 0
        # a member of admin_group may: nogroup is nobody's primary group
        a.update_config("agent", admin_group="nogroup")
        a.reload()
        r = a.cli("reload", "--socket", path, user="nobody")
        assert r.returncode == 0, r.stderr
    finally:
        shutil.rmtree(sockdir, ignore_errors=True)


def test_socket_group_and_mode(agents):
    a = agents({"agent": {"socket_mode": "0660"}}).start()
    st = os.stat(a.socket)
    assert oct(st.st_mode & 0o777) == oct(0o660)
    assert st.st_gid == os.getgid()


def test_second_agent_on_same_socket_refuses(agents):
    a = agents().start()
    b = agents(name="second")
    b.write_config(sections=dict(b.sections, agent=dict(b.sections["agent"], socket=a.socket)))
    rc = b.start(expect_fail=True)
    assert rc == 1
    assert "another agent is running" in b.log()
    assert a.call("version")["ok"]


def test_cli_status_exit_codes_and_output(agents):
    a = agents().start()
    r = a.cli("status", "--socket", a.socket)
    assert r.returncode == 0, r
    assert re.search(r"agv-agent .*: ok", r.stdout)
    assert "\x1b[" not in r.stdout  # no colour when not a TTY
    r = a.cli("status", "--json", "--config", a.config_path)
    assert json.loads(r.stdout)["state"] == "ok"
    # unreachable agent: UNKNOWN, exit 3
    r = a.cli("status", "--socket", a.socket + ".missing")
    assert r.returncode == 3
    assert "UNKNOWN" in r.stdout and "is the agent running" in r.stderr
    # a warning state exits 1
    a.update_config("pki", key_mode="0777")
    a.reload()
    r = a.cli("status", "--socket", a.socket)
    assert r.returncode == 1, r.stdout


def test_cli_usage_errors():
    for args in (["status", "--bogus"], ["frob"], ["run", "--log-level", "loud"], ["status", "extra"],
                 ["check", "--bogus"], ["check", "--dir", "relative"], ["mcp", "--x"], ["mcp", "extra"],
                 ["reload", "--json", "x"], ["check-config", "--json"]):
        r = subprocess.run([AGENT, *args], capture_output=True, text=True)
        assert r.returncode == 64, (args, r)
        assert "try 'agv-agent" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    for args in (["--help"], ["status", "--help"], ["run", "--help"], ["check-config", "--help"]):
        r = subprocess.run([AGENT, *args], capture_output=True, text=True)
        assert r.returncode == 0 and "agv-agent" in r.stdout
    r = subprocess.run([AGENT, "--version"], capture_output=True, text=True)
    assert r.stdout.strip().startswith("agv-agent ")


def test_check_config(agents, tmp_path):
    a = agents()
    r = a.cli("check-config", "--config", a.config_path)
    assert r.returncode == 0 and "valid" in r.stdout
    # drop-ins apply in lexical order; an error in one names that file and line
    d = a.config_path + ".d"
    with open(os.path.join(d, "10-ok.conf"), "w") as f:
        f.write("[agent]\nmax_clients = 5\n")
    with open(os.path.join(d, "20-bad.conf"), "w") as f:
        f.write("# comment\n[child]\nping_interval = soon\n[nonsense]\n[pki]\nnot_a_key = 1\n")
    r = a.cli("check-config", "--config", a.config_path)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    bad = os.path.join(d, "20-bad.conf")
    assert any(l.startswith(f"{bad}:3:") and "ping_interval" in l and "90s" in l for l in lines), lines
    assert any(l.startswith(f"{bad}:4:") and "unknown section [nonsense]" in l for l in lines), lines
    assert any(l.startswith(f"{bad}:6:") and "unknown key 'not_a_key'" in l for l in lines), lines
    # missing file
    r = a.cli("check-config", "--config", str(tmp_path / "nope.conf"))
    assert r.returncode == 1 and "nope.conf" in r.stderr and "No such file" in r.stderr


def test_invalid_config_at_start_exits_with_message(agents):
    a = agents({"agent": {"client_timeout": "forever"}})
    rc = a.start(expect_fail=True)
    assert rc == 1
    log = a.log()
    assert f"{a.config_path}:" in log and "client_timeout" in log and "check-config" in log


def test_long_values_and_quoting(agents):
    long_cmd = "/usr/bin/env " + " ".join(f"ARG{i}='value with spaces {i}'" for i in range(40)) + " true"
    assert len(long_cmd) > 1000
    a = agents({"child": {"environment": "A=1 'B=two words'"}})
    a.update_config("alerts", command=long_cmd)
    r = a.cli("check-config", "--config", a.config_path)
    assert r.returncode == 0, r.stderr
    a.update_config("alerts", command="echo 'unterminated")
    r = a.cli("check-config", "--config", a.config_path)
    assert r.returncode == 1 and "unterminated quote" in r.stderr


def test_sigint_stops_gracefully(agents):
    a = agents().start()
    a.proc.send_signal(signal.SIGINT)
    a.proc.wait(10 * SLOW)
    assert a.proc.returncode == 0
    assert not os.path.exists(a.socket)
    a.proc = None
    a.log_file.close()
    a.notify.close()
