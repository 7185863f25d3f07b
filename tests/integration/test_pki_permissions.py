"""Permission policy with the real agent: drift repaired under enforce (and
logged before/after), only reported under audit. Needs root for chown, as
in CI."""

import re
import grp
import os
import stat

import pytest

from agvtest import primary_group, wait_until
from pkitest import cert_section

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")


def mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def other_group():
    mine = grp.getgrnam(primary_group()).gr_gid
    for g in ("nogroup", "daemon", "bin", "sys"):
        try:
            gid = grp.getgrnam(g).gr_gid
        except KeyError:
            continue
        if gid != mine:
            return gid
    pytest.skip("no second group")


def perm_file(st, role):
    return [f for f in st["permissions"]["files"] if f["role"] == role][0]


def test_enforce_repairs_drift(agents):
    a = agents().start()
    key = os.path.join(a.pki_dir, "client.key")
    crt = os.path.join(a.pki_dir, "client.crt")
    assert a.status()["permissions"]["policy"] == "enforce"

    os.chmod(key, 0o644)
    wait_until(lambda: mode(key) == 0o440, what="key mode repaired")
    os.chown(key, -1, other_group())
    wait_until(lambda: os.stat(key).st_gid == grp.getgrnam(primary_group()).gr_gid, what="key group repaired")
    os.chmod(crt, 0o666)
    wait_until(lambda: mode(crt) == 0o444, what="cert mode repaired")
    os.chmod(a.pki_dir, 0o777)
    wait_until(lambda: mode(a.pki_dir) == 0o755, what="directory mode repaired")

    st = a.status()
    assert st["permissions"]["repaired"] == 4
    assert st["permissions"]["last_repair"] is not None
    assert perm_file(st, "private_key")["state"] == "ok"
    assert perm_file(st, "private_key")["mode"] == "0440"
    assert st["state"] == "ok"
    assert cert_section(a)["generation"] == 1  # ATTRIB never re-activates
    out = a.cli("metrics", "--config", a.config_path).stdout
    assert "agv_permission_repairs_total 4" in out.splitlines()
    a.stop()
    log = a.log()
    assert f"Repaired permissions of {key}: 0644 0:" in log and "-> 0440 0:" in log


def test_audit_only_reports(agents):
    a = agents({"pki": {"permissions": "audit"}}).start()
    key = os.path.join(a.pki_dir, "client.key")
    os.chmod(key, 0o644)
    wait_until(lambda: any(r["code"] == "permissions" for r in a.status()["reasons"]), what="drift reported")
    st = a.status()
    assert mode(key) == 0o644  # untouched
    r = [r for r in st["reasons"] if r["code"] == "permissions"][0]
    assert r["level"] == "critical"  # a world-readable key
    assert "client.key is 0644" in r["message"] and "expected 0440" in r["message"]
    assert perm_file(st, "private_key")["state"] == "drift"
    assert st["permissions"]["repaired"] == 0
    # the pair itself is still good and active
    assert st["certificate"]["state"] == "ok"

    os.chmod(key, 0o400)  # too strict: the app group cannot read it
    wait_until(lambda: [r["level"] for r in a.status()["reasons"] if r["code"] == "permissions"] == ["warning"],
               what="warning for a too strict key")
    os.chmod(key, 0o440)
    wait_until(lambda: a.status()["state"] == "ok", what="drift gone")


def test_status_text_shows_sections(agents):
    a = agents().start()
    r = a.cli("status", "--config", a.config_path)
    assert r.returncode == 0, r.stdout
    assert "cert expires in" in r.stdout
    assert re.search(r"^certificate  .*, serial [0-9A-F]+, RSA-2048$", r.stdout, re.M), r.stdout
    assert re.search(r"^permissions  enforce: key 0440 \d+:\d+ ok, cert 0444 ", r.stdout, re.M), r.stdout


def test_owner_setting(agents):
    """[pki] owner names who owns the files: the agent gives them to that
    user (and the key to owner:group), and an unprivileged agent's own files
    are then in order."""
    import pwd
    nobody = pwd.getpwnam("nobody")
    a = agents({"pki": {"owner": "nobody"}}).start()
    key = os.path.join(a.pki_dir, "client.key")
    crt = os.path.join(a.pki_dir, "client.crt")
    wait_until(lambda: os.stat(crt).st_uid == nobody.pw_uid and os.stat(key).st_uid == nobody.pw_uid,
               what="files given to nobody")
    assert os.stat(crt).st_gid == nobody.pw_gid
    assert os.stat(key).st_gid == grp.getgrnam(primary_group()).gr_gid  # the key keeps the app group
    st = a.status()
    assert perm_file(st, "certificate")["expected_owner"] == nobody.pw_uid
    assert st["state"] == "ok", st["reasons"]
    # an unknown owner is a config error naming the key
    a.update_config("pki", owner="no-such-user-agv")
    r = a.cli("check-config", "--config", a.config_path)
    assert r.returncode == 1 and "owner" in r.stderr and "no-such-user-agv" in r.stderr
