"""agv-agent as a systemd service under a real systemd 252 (PID 1 in an
nspawn container), installed from its .deb as docs/deployment.md says.

One container serves the whole file (session fixture `container`); the tests
run in order as one deployment's life: install, deploy the PKI, enable,
reload, renew under load, watchdog, socket activation, stop, upgrade,
remove, purge.
Each test asserts what an operator would see with systemctl, journalctl and
agv-agent status."""

import json
import os
import re
import subprocess
import time
import urllib.request

import pytest

from conftest import DEMO_SIGNER, MCP_TESTS, REAL_SIGNER, SANITIZED, SOURCE_DIR
import agvtest  # tests/integration: OpenSSL-backed test PKIs

UNIT = "agv-agent.service"
PKI = "/etc/pki/rolesanywhere"
DROPIN = "/etc/agv-agent/agent.conf.d/50-system-test.conf"
SLOW = 4 if SANITIZED else 1

MSGID_AGENT_STARTED = "c9aa5d57052844008e2c0523bff8a976"
MSGID_CONFIG_RELOADED = "a0912b522a83429791d60ccfaa1f0f4f"
MSGID_CONFIG_RELOAD_FAILED = "4a9eb843cdd648d4a0779ec3ba084339"
MSGID_SYSTEMD_UNIT_STARTED = "39f53479d3a045ac8e11786248231fbf"


# ---- helpers ------------------------------------------------------------

def wait_for(pred, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout * SLOW
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def show(c, *props, unit=UNIT):
    out = c.run(["systemctl", "show", unit] + ["-p" + p for p in props]).stdout
    return dict(l.split("=", 1) for l in out.splitlines() if "=" in l)


def journal(c, *args):
    out = c.run(["journalctl", "-o", "json", "--no-pager", "-u", UNIT] + list(args)).stdout
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def status(c, user=None):
    r = c.run(["agv-agent", "status", "--json"], check=False, user=user)
    try:
        return r.returncode, json.loads(r.stdout), r
    except ValueError:
        return r.returncode, None, r


def norm_serial(s):
    return s.replace(":", "").upper().lstrip("0")


def strings_in(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from strings_in(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from strings_in(v)
    elif isinstance(obj, str):
        yield obj


def active_serial_is(st, serial):
    """The active certificate's serial (docs/status.md: certificate.serial)."""
    cert = (st or {}).get("certificate") or {}
    return isinstance(cert, dict) and norm_serial(cert.get("serial") or "") == norm_serial(serial)


def child_pid(st):
    ch = (st or {}).get("child") or {}
    pid = ch.get("pid") if isinstance(ch, dict) else None
    return pid if isinstance(pid, int) and pid > 0 else None


def write_dropin(c, text):
    c.write(DROPIN, text)


def deploy_pair_like_the_guide(c, cert, key, ca=None):
    """The renewal steps of the deployment guide, run inside the machine:
    files arrive in /tmp, `install -m 444/440`, `chown root:GROUP`, rm."""
    c.write("/tmp/client.crt", agvtest.cert_pem(cert).decode(), 0o644)
    c.write("/tmp/client.key", agvtest.key_pem(key).decode(), 0o600)
    script = ""
    if ca is not None:
        c.write("/tmp/ca.pem", agvtest.cert_pem(ca.ca_cert).decode(), 0o644)
        script += "install -m 444 /tmp/ca.pem %s/ca.pem; rm /tmp/ca.pem\n" % PKI
    script += ("install -m 444 /tmp/client.crt {p}/client.crt\n"
               "install -m 440 /tmp/client.key {p}/client.key\n"
               "chown root:agentic-vault {p}/client.key\n"
               "rm /tmp/client.crt /tmp/client.key\n").format(p=PKI)
    c.sh(script)


def demo_signer_ready():
    return os.path.exists(os.path.join(DEMO_SIGNER, "demo-signer.mjs")) and \
        os.path.isdir(os.path.join(DEMO_SIGNER, "node_modules"))


def base_dropin():
    """The deployment guide's VM configuration, with the demo signer in place
    of agentic-vault-mcp (same MCP shape, local throwaway key)."""
    text = "[agent]\nlog_level = info\n"
    if demo_signer_ready():
        text += ("[child]\n"
                 "command = /usr/bin/node /opt/agv-demo-signer/demo-signer.mjs\n"
                 "user = agentic-vault\n"
                 "group = agentic-vault\n"
                 "environment = AWS_PROFILE=rolesanywhere-kms HOME=/var/lib/agv-agent/signer\n")
    return text


@pytest.fixture(scope="module")
def pki():
    return agvtest.TestPKI()


# ---- the deployment's life ----------------------------------------------

def test_package_installed_enables_nothing(container):
    c = container
    assert "Setting up agv-agent" in c.apt_output
    # sysusers.d: the app group and the signer's user exist.
    assert c.run(["getent", "group", "agentic-vault"]).stdout.startswith("agentic-vault:")
    pw = c.run(["getent", "passwd", "agentic-vault"]).stdout.split(":")
    assert pw[6].strip() == "/usr/sbin/nologin"
    # tmpfiles.d: the PKI directory, 0755 root:root.
    assert c.run(["stat", "-c", "%a %U %G", PKI]).stdout.split() == ["755", "root", "root"]
    # Nothing enabled or started by surprise.
    for unit in (UNIT, "agv-agent.socket"):
        assert c.run(["systemctl", "is-enabled", unit], check=False).stdout.strip() == "disabled"
        assert c.run(["systemctl", "is-active", unit], check=False).stdout.strip() == "inactive"
    # The catalog was compiled, the default config is a conffile and valid.
    assert MSGID_AGENT_STARTED in c.run(["journalctl", "--list-catalog"]).stdout
    conff = c.run(["dpkg-query", "-W", "-f=${Conffiles}", "agv-agent"]).stdout
    assert "/etc/agv-agent/agent.conf" in conff
    r = c.run(["agv-agent", "check-config"], check=False)
    assert r.returncode == 0, r.stderr
    assert c.run(["man", "-w", "agv-agent"], check=False).returncode == 0


def test_enable_now_reaches_running_after_ready(container, pki):
    c = container
    cert, key = pki.client(days=365)
    c.current = cert
    deploy_pair_like_the_guide(c, cert, key, ca=pki)
    write_dropin(c, base_dropin())
    c.run(["systemctl", "enable", "--now", UNIT], timeout=120 * SLOW)
    p = show(c, "ActiveState", "SubState", "Type", "StatusText", "MainPID", "NotifyAccess")
    assert (p["ActiveState"], p["SubState"], p["Type"]) == ("active", "running", "notify")
    assert p["StatusText"], "the agent sends STATUS="
    assert c.run(["systemctl", "is-enabled", UNIT]).stdout.strip() == "enabled"
    # Type=notify, READY=1 only after the first full assessment: the moment
    # the start job returns, the status already reports the deployed pair.
    rc, st, r = status(c)
    assert active_serial_is(st, agvtest.serial_hex(cert)), json.dumps(st, indent=1)
    # systemd got the agent's STATUS= with READY=1; the journal has its entry.
    started = [e for e in journal(c, "-b") if e.get("MESSAGE_ID") == MSGID_AGENT_STARTED]
    assert started and p["StatusText"] in started[-1]["MESSAGE"]
    # `systemctl status` shows the agent's own STATUS line.
    out = c.run(["systemctl", "status", "--no-pager", UNIT], check=False).stdout
    assert re.search(r'Status: "(ok|warning|critical)', out), out
    assert "active (running)" in out


def test_runs_with_only_its_capabilities_and_repairs_owner(container):
    c = container
    pid = show(c, "MainPID")["MainPID"]
    caps = dict(l.split(":\t") for l in c.run(["cat", "/proc/%s/status" % pid]).stdout.splitlines()
                if l.startswith("Cap"))
    # CAP_CHOWN(0) CAP_FOWNER(3) CAP_KILL(5) CAP_SETGID(6) CAP_SETUID(7)
    assert int(caps["CapBnd"], 16) == 0xE9
    assert int(caps["CapEff"], 16) == 0xE9, caps
    # Which it uses: a key chowned away from the app group is given back.
    c.run(["chown", "root:root", PKI + "/client.key"])
    wait_for(lambda: c.run(["stat", "-c", "%U:%G %a", PKI + "/client.key"]).stdout.strip()
             == "root:agentic-vault 440", what="client.key owner repaired")


def test_journal_structured_fields_and_catalog(container):
    c = container
    entries = journal(c, "-b")
    ours = [e for e in entries if e.get("SYSLOG_IDENTIFIER") == "agv-agent" or e.get("_COMM") == "agv-agent"]
    assert ours
    started = [e for e in ours if e.get("MESSAGE_ID") == MSGID_AGENT_STARTED]
    assert started and started[-1].get("PRIORITY") in ("5", "6")
    assert all("CODE_FUNC" in e for e in started), "native journal entries carry CODE_*"
    # journalctl -x adds the catalog text of our MESSAGE_IDs.
    out = c.run(["journalctl", "-x", "--no-pager", "-u", UNIT, "MESSAGE_ID=" + MSGID_AGENT_STARTED]).stdout
    assert "Subject: agv-agent started" in out
    assert "agv-agent status" in out


def test_status_for_group_member_refused_for_others(container):
    c = container
    c.sh("id alice >/dev/null 2>&1 || useradd -M -G agentic-vault alice; "
         "id bob >/dev/null 2>&1 || useradd -M bob")
    rc, st, r = status(c, user="alice")
    assert st is not None and st.get("state") in ("ok", "warning", "critical"), r.stdout + r.stderr
    assert rc in (0, 1, 2)
    rc, st, r = status(c, user="bob")
    assert rc == 3 and (st or {}).get("state") == "unknown"
    assert "ermission denied" in r.stderr or "agentic-vault" in r.stderr, r.stderr
    # The text form says the same to a human.
    r = c.run(["agv-agent", "status"], check=False, user="bob")
    assert "UNKNOWN" in r.stdout


def test_reload_applies_and_refuses_invalid(container):
    c = container
    pid = show(c, "MainPID")["MainPID"]
    _, before, _ = status(c)
    gen = before["configuration"]["generation"]
    extra = "/etc/agv-agent/agent.conf.d/60-reload.conf"
    c.write(extra, "[pki]\nkey_mode = 0400\n")
    c.run(["systemctl", "reload", UNIT])
    st = wait_for(lambda: (lambda s: s if s and s["configuration"]["generation"] > gen else None)(status(c)[1]),
                  what="configuration generation to advance")
    assert extra in st["configuration"]["files"]
    assert any(e.get("MESSAGE_ID") == MSGID_CONFIG_RELOADED for e in journal(c, "-b"))
    # The new key_mode is enforced on the key (permission repair).
    wait_for(lambda: c.run(["stat", "-c", "%a", PKI + "/client.key"]).stdout.strip() == "400",
             what="client.key repaired to the reloaded key_mode 0400")
    # An invalid file is refused; the service and its last good config stay.
    gen = st["configuration"]["generation"]
    c.write(extra, "[pki]\nkey_mode = 0400\nkey_mode = banana\n")
    c.run(["systemctl", "reload", UNIT])
    failed = wait_for(lambda: [e for e in journal(c, "-b") if e.get("MESSAGE_ID") == MSGID_CONFIG_RELOAD_FAILED],
                      what="reload failure entry")
    assert "60-reload.conf:3" in json.dumps(failed[-1]) or "60-reload.conf:3" in \
        c.run(["journalctl", "--no-pager", "-u", UNIT, "-p", "err"]).stdout
    p = show(c, "ActiveState", "MainPID")
    assert p == {"ActiveState": "active", "MainPID": pid}
    _, st, _ = status(c)
    assert st["configuration"]["generation"] == gen
    assert "60-reload.conf" in (st["configuration"]["last_reload_error"] or "")
    assert c.run(["stat", "-c", "%a", PKI + "/client.key"]).stdout.strip() == "400"
    # Back to the guide's 0440.
    c.run(["rm", "-f", extra])
    c.run(["systemctl", "reload", UNIT])
    wait_for(lambda: c.run(["stat", "-c", "%a", PKI + "/client.key"]).stdout.strip() == "440",
             what="client.key back to 0440")


def mcp_loop(c, tool=None):
    sdk = os.path.join(MCP_TESTS, "node_modules", "@modelcontextprotocol", "sdk")
    env = dict(os.environ, AGV_MCP_SDK=sdk)
    if tool:
        env["AGV_MCP_TOOL"] = tool
    p = subprocess.Popen(["/usr/bin/node", os.path.join(os.path.dirname(__file__), "mcp_loop.mjs"),
                          "nsenter", "-t", str(c.leader), "-a", "-r", "-w", "agv-agent", "mcp"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env, text=True, cwd="/")
    line = p.stderr.readline()
    if "mcp_loop: calling" not in line:
        p.kill()
        out, err = p.communicate(timeout=30)
        raise AssertionError("the MCP client could not start calling:\n" + line + err)
    return p


def finish_loop(p):
    out, err = p.communicate(timeout=60 * SLOW)  # closes stdin: the client stops calling
    assert p.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("on_renewal", ["none", "restart"])
def test_renewal_under_load(container, pki, on_renewal):
    """The guide's renewal steps while an MCP client keeps calling the
    signer through the agent: zero failed calls, the new serial active, the
    child kept (on_renewal = none) or replaced without failures (restart)."""
    c = container
    assert demo_signer_ready(), ("the demo signer (contrib/demo-signer, `npm ci` there) is "
                                 "needed for this test")
    write_dropin(c, base_dropin() + "on_renewal = %s\n" % on_renewal)
    c.run(["systemctl", "reload", UNIT])
    st = wait_for(lambda: (lambda s: s if child_pid(s) else None)(status(c)[1]), timeout=60,
                  what="the signer to run")
    pid = child_pid(st)
    loop = mcp_loop(c)
    try:
        cert, key = pki.client(days=365)
        deploy_pair_like_the_guide(c, cert, key)
        st = wait_for(lambda: (lambda s: s if active_serial_is(s, agvtest.serial_hex(cert)) else None)(status(c)[1]),
                      timeout=60, what="the new serial to be active")
        if on_renewal == "restart":
            st = wait_for(lambda: (lambda s: s if child_pid(s) and child_pid(s) != pid else None)(status(c)[1]),
                          timeout=60, what="the signer to be replaced")
        time.sleep(1)  # keep calling across the switch a little longer
    finally:
        result = finish_loop(loop)
    assert result["calls"] > 0
    assert result["failures"] == 0, result
    if on_renewal == "none":
        assert child_pid(st) == pid
    c.current = cert


def real_signer_ready():
    return os.path.exists(os.path.join(REAL_SIGNER, "bin", "agentic-vault-mcp"))


def test_real_signer_under_hardened_unit(container, pki):
    """agentic-vault-mcp itself (Node, AWS SDK) as user agentic-vault under
    the unit's full hardening: it starts, its health check reaches the
    tests' KMS stand-in (SigV4 checked), a tool call through the agent works
    and it survives a renewal (on_renewal = restart) with zero failed calls.
    Its audit lines land in the journal with a priority and AGV_CHILD_*."""
    if not real_signer_ready():
        pytest.skip("the real signer is not installed in %s (contrib/real-signer.sh: %s)" % (
            REAL_SIGNER, open(os.path.join(REAL_SIGNER, "UNAVAILABLE")).read().strip()
            if os.path.exists(os.path.join(REAL_SIGNER, "UNAVAILABLE")) else "not run"))
    c = container
    secret = "agv-system-secret-%d" % os.getpid()
    kms = subprocess.Popen(["/usr/bin/python3", os.path.join(SOURCE_DIR, "tests", "aws", "kms_standin.py"),
                            "--access-key", "AKIAAGVSYSTEMTEST01", "--secret-key", secret],
                           stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(kms.stdout.readline())
        # the container shares the host's network namespace: loopback reaches the stand-in
        write_dropin(c, "[agent]\nlog_level = info\n[child]\n"
                     "command = /opt/agv-real-signer/bin/agentic-vault-mcp --key-id alias/agentic-vault-signer "
                     "--region eu-west-1 --expected-address %s\n"
                     "user = agentic-vault\ngroup = agentic-vault\n"
                     "environment = AWS_ENDPOINT_URL_KMS=http://127.0.0.1:%d AWS_ACCESS_KEY_ID=AKIAAGVSYSTEMTEST01 "
                     "AWS_SECRET_ACCESS_KEY=%s HOME=/var/lib/agv-agent/signer\n"
                     "health_tool = health_check\nrestart_on_tool_failure = health_check:1\n"
                     "ping_timeout = 30s\nping_interval = 60s\non_renewal = restart\n"
                     % (info["address"], info["port"], secret))
        c.run(["systemctl", "reload", UNIT])
        def healthy_signer(s, not_pid=None):
            # healthy, the result of this very child, and that child is the real signer
            h = ((s or {}).get("child") or {}).get("health") or {}
            pid = child_pid(s)
            if not pid or pid == not_pid or h.get("ok") is not True or h.get("pid") != pid:
                return None
            cmd = c.run(["cat", "/proc/%d/cmdline" % pid], check=False).stdout
            return s if "agentic-vault-mcp" in cmd else None

        st = wait_for(lambda: healthy_signer(status(c)[1]), timeout=120, what="the real signer to be healthy")
        pid = child_pid(st)
        assert not [r for r in st["reasons"] if r["code"].startswith("child_")], st["reasons"]
        # it runs as the unit's signer user, in the unit's cgroup
        assert c.run(["stat", "-c", "%U", "/proc/%d" % pid]).stdout.strip() == "agentic-vault"

        loop = mcp_loop(c, "get_address")
        try:
            cert, key = pki.client(days=365)
            deploy_pair_like_the_guide(c, cert, key)
            wait_for(lambda: healthy_signer(status(c)[1], not_pid=pid), timeout=120,
                     what="the real signer to be replaced after the renewal and healthy")
            time.sleep(1)  # keep calling across the switch a little longer
        finally:
            result = finish_loop(loop)
        assert result["calls"] > 0
        assert result["failures"] == 0, result
        c.current = cert

        with urllib.request.urlopen("http://127.0.0.1:%d/_standin/stats" % info["port"], timeout=10) as r:
            stats = json.load(r)
        assert stats["refused"] == {}, stats
        assert stats["ok"].get("GetPublicKey", 0) >= 2  # two signers, each looked up the key
        # the audit lines in the real journal: a readable message, info priority, fields kept
        audit = [e for e in journal(c, "AGV_CHILD_ACTION=get_address")]
        assert audit, "no get_address audit line in the journal"
        assert audit[-1]["PRIORITY"] == "6"
        assert audit[-1]["MESSAGE"].split(": ", 1)[1].startswith("get_address approved: Retrieved wallet address")
        assert audit[-1]["AGV_CHILD_RESULT"] == "approved"
        # Node 20 warns at start (the signer wants 22); logged, never fatal
        st = status(c)[1]
        assert st["child"]["restarts"] == 0, st["child"]
    finally:
        kms.kill()
        kms.wait()
        write_dropin(c, base_dropin())
        c.run(["systemctl", "reload", UNIT], check=False)


def test_watchdog_restarts_frozen_agent(container):
    c = container
    c.sh("mkdir -p /run/systemd/system/agv-agent.service.d && printf '[Service]\\n"
         "WatchdogSec=3s\\nTimeoutAbortSec=3s\\nRestartSec=1s\\n' "
         "> /run/systemd/system/agv-agent.service.d/watchdog.conf && systemctl daemon-reload")
    try:
        c.run(["systemctl", "restart", UNIT], timeout=120 * SLOW)
        p = show(c, "MainPID", "NRestarts", "WatchdogUSec")
        assert p["WatchdogUSec"] == "3s"
        c.run(["kill", "-STOP", p["MainPID"]])
        wait_for(lambda: (lambda q: q["MainPID"] not in ("0", p["MainPID"]) and q["ActiveState"] == "active"
                          and q)(show(c, "MainPID", "ActiveState")), timeout=90, what="restart by systemd")
        q = show(c, "NRestarts")
        assert int(q["NRestarts"]) == int(p["NRestarts"]) + 1
        log = c.run(["journalctl", "--no-pager", "-b", "-u", UNIT]).stdout
        assert "Watchdog timeout" in log
        rc, st, r = status(c)
        assert st is not None and st["pid"] != int(p["MainPID"]), r.stderr
    finally:
        c.sh("rm -rf /run/systemd/system/agv-agent.service.d && systemctl daemon-reload")


def test_socket_activation(container):
    c = container
    c.run(["systemctl", "stop", UNIT], timeout=60 * SLOW)
    c.run(["systemctl", "enable", "--now", "agv-agent.socket"])
    try:
        assert c.run(["stat", "-c", "%a %U %G", "/run/agv-agent/agent.sock"]).stdout.split() == \
            ["660", "root", "agentic-vault"]
        assert c.run(["systemctl", "is-active", UNIT], check=False).stdout.strip() == "inactive"
        # A status query by a group member starts the agent on demand.
        rc, st, r = status(c, user="alice")
        assert st is not None and st.get("state") in ("ok", "warning", "critical"), r.stdout + r.stderr
        assert c.run(["systemctl", "is-active", UNIT], check=False).stdout.strip() == "active"
        # It serves on the socket systemd passed (same inode, still ours).
        rc, st, r = status(c, user="alice")
        assert st is not None
    finally:
        c.run(["systemctl", "disable", "--now", "agv-agent.socket"], check=False)
        c.run(["systemctl", "restart", UNIT], timeout=120 * SLOW)


def test_stop_is_graceful(container):
    c = container
    cgroup_before = c.run(["systemctl", "show", UNIT, "-p", "ControlGroup", "--value"]).stdout.strip()
    since = c.run(["date", "+%Y-%m-%d %H:%M:%S"]).stdout.strip()
    c.run(["systemctl", "stop", UNIT], timeout=120 * SLOW)
    p = show(c, "ActiveState", "Result", "MainPID")
    assert p == {"ActiveState": "inactive", "Result": "success", "MainPID": "0"}
    log = c.run(["journalctl", "--no-pager", "-u", UNIT, "--since", since]).stdout
    assert "SIGKILL" not in log and "timed out" not in log, log
    assert c.run(["pgrep", "-u", "agentic-vault"], check=False).returncode == 1, "signer left running"
    assert c.run(["pgrep", "-x", "agv-agent"], check=False).returncode == 1
    assert cgroup_before


def test_upgrade_keeps_local_config(container, upgrade_deb):
    """A real dpkg upgrade (higher version): the edited conffile is kept, a
    running agent is restarted onto the new binary and stays enabled."""
    c = container
    path, version = upgrade_deb
    c.run(["systemctl", "start", UNIT], timeout=120 * SLOW)
    pid = show(c, "MainPID")["MainPID"]
    c.sh("sed -i 's/^#rescan_interval = 5m/rescan_interval = 2m/' /etc/agv-agent/agent.conf")
    subprocess.run(["cp", path, c.path("/root/upgrade.deb")], check=True)
    r = c.run(["apt-get", "install", "-y", "--no-install-recommends", "/root/upgrade.deb"],
              env={"DEBIAN_FRONTEND": "noninteractive"}, timeout=180)
    out = r.stdout + r.stderr
    assert "Unpacking agv-agent (%s) over (" % version in out, out
    assert c.run(["dpkg-query", "-W", "-f=${Version}", "agv-agent"]).stdout == version
    assert "rescan_interval = 2m" in c.run(["cat", "/etc/agv-agent/agent.conf"]).stdout, out
    # A running service is restarted onto the new binary; still enabled.
    wait_for(lambda: show(c, "MainPID", "ActiveState") != {"MainPID": pid, "ActiveState": "active"}
             and show(c, "ActiveState")["ActiveState"] == "active", what="restart after upgrade")
    assert c.run(["systemctl", "is-enabled", UNIT]).stdout.strip() == "enabled"
    rc, st, r = status(c)
    assert st is not None, r.stdout + r.stderr


def test_remove_stops_and_keeps_config(container):
    """apt remove: the agent and the signer are stopped before their files
    go, systemd forgets the units, the configuration stays (dpkg state rc)."""
    c = container
    assert show(c, "ActiveState")["ActiveState"] == "active"
    c.run(["apt-get", "remove", "-y", "agv-agent"], env={"DEBIAN_FRONTEND": "noninteractive"}, timeout=180)
    assert c.run(["pgrep", "-x", "agv-agent"], check=False).returncode == 1
    assert c.run(["pgrep", "-u", "agentic-vault"], check=False).returncode == 1, "signer left running"
    assert c.run(["systemctl", "show", UNIT, "-p", "LoadState", "--value"]).stdout.strip() == "not-found"
    assert c.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", "agv-agent"]).stdout.strip() == "rc"
    assert "rescan_interval = 2m" in c.run(["cat", "/etc/agv-agent/agent.conf"]).stdout
    assert c.run(["test", "-e", "/usr/bin/agv-agent"], check=False).returncode == 1


def test_purge_removes_cleanly(container):
    c = container
    c.run(["apt-get", "purge", "-y", "agv-agent"], env={"DEBIAN_FRONTEND": "noninteractive"}, timeout=180)
    assert c.run(["pgrep", "-x", "agv-agent"], check=False).returncode == 1
    assert c.run(["pgrep", "-u", "agentic-vault"], check=False).returncode == 1
    r = c.run(["systemctl", "show", UNIT, "-p", "LoadState", "--value"]).stdout.strip()
    assert r == "not-found"
    assert c.run(["dpkg-query", "-W", "agv-agent"], check=False).returncode != 0, "still known to dpkg"
    # Configuration, state, runtime files and the enablement symlinks (made
    # by `systemctl enable`, recorded by deb-systemd-helper) are gone.
    leftovers = c.run(["sh", "-c", "ls -d /etc/agv-agent /var/lib/agv-agent /run/agv-agent "
                       "/usr/bin/agv-agent /etc/systemd/system/*/agv-agent* "
                       "/var/lib/systemd/deb-systemd-helper-enabled/agv-agent* "
                       "/var/lib/systemd/deb-systemd-helper-enabled/*/agv-agent* 2>/dev/null"],
                      check=False).stdout
    assert leftovers.strip() == ""
    # The operator's certificate and key are not ours to delete.
    assert c.run(["test", "-f", PKI + "/client.key"], check=False).returncode == 0
