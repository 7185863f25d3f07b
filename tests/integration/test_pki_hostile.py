"""The PKI directory under a hostile local user or a careless administrator
(issue 11): status that is current the moment a fix is picked up, ACLs and
other access-granting xattrs, certificates dated before 1970 or far in the
future, a symlinked directory, hard links that go away, thousands of
key-like files."""

import os
import pathlib
import stat

import pytest

from agvtest import default_pair, install_file, wait_until
from pkitest import cert_section

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown/xattrs need root")


def reasons(st, code):
    return [r for r in st["reasons"] if r["code"] == code]


def log_count(agent, text):
    return agent.log().count(text)


def ca_key_pem():
    from cryptography.hazmat.primitives import serialization
    return default_pair.pki.ca_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption())


# ---- defect 8: status is current as soon as the pass that saw the fix ran ----

def test_status_current_after_ca_key_removed(agents):
    """The operator deletes the CA key; the journal says the finding is
    resolved, and status on a connection that polled a moment ago agrees."""
    a = agents().start()
    c = a.client()
    for name in ("ca.key", "backup.pem"):  # by name, by content
        path = os.path.join(a.pki_dir, name)
        install_file(path, ca_key_pem(), 0o400)
        wait_until(lambda: c.call("status")["result"]["state"] == "critical", what=f"{name} found")
        before = log_count(a, "Resolved ca_key_present")
        assert c.call("status")["result"]["state"] == "critical"  # the reply is cached now
        os.unlink(path)
        wait_until(lambda: log_count(a, "Resolved ca_key_present") > before, what="resolution logged")
        st = c.call("status")["result"]
        assert st["state"] == "ok", st["reasons"]
        assert not reasons(st, "ca_key_present")
    c.close()


def test_status_current_after_manual_fix(agents):
    """Under audit the admin fixes a drifted key mode by hand: the last
    finding goes away, and status says ok at once."""
    a = agents({"pki": {"permissions": "audit"}}).start()
    c = a.client()
    key = os.path.join(a.pki_dir, "client.key")
    os.chmod(key, 0o444)
    wait_until(lambda: reasons(c.call("status")["result"], "permissions"), what="drift reported")
    before = log_count(a, "Resolved permissions")
    assert c.call("status")["result"]["state"] == "critical"
    os.chmod(key, 0o440)
    wait_until(lambda: log_count(a, "Resolved permissions") > before, what="resolution logged")
    st = c.call("status")["result"]
    assert st["state"] == "ok", st["reasons"]
    assert [f["state"] for f in st["permissions"]["files"] if f["role"] == "private_key"] == ["ok"]
    c.close()


# ---- defect 4: validity over the whole ASN.1 time range ----------------------

def test_certificate_expired_before_1970_is_rejected(agents):
    """notAfter in 1969: rejected as expired with its real date; the active
    pair stays; `check` says critical."""
    import datetime
    from agvtest import serial_hex
    from pkitest import guide_install
    a = agents().start()
    active = cert_section(a)["serial"]
    utc = datetime.timezone.utc
    cert, key = default_pair.pki.client(not_before=datetime.datetime(1960, 1, 1, tzinfo=utc),
                                        not_after=datetime.datetime(1969, 12, 31, 23, 59, 59, tzinfo=utc))
    guide_install(a, pathlib.Path(a.dir), cert, key)
    wait_until(lambda: cert_section(a)["state"] == "rejected", what="1969 pair rejected")
    c = cert_section(a)
    assert c["serial"] == active and c["generation"] == 1
    assert c["candidate_serial"] == serial_hex(cert)
    assert c["candidate"]["not_after"] == "1969-12-31T23:59:59Z"
    assert c["candidate"]["not_before"] == "1960-01-01T00:00:00Z"
    f = [f for f in c["candidate"]["findings"] if f["code"] == "cert_expired"]
    assert f and "expired at 1969-12-31T23:59:59Z" in f[0]["message"], c["candidate"]["findings"]
    assert a.status()["state"] == "critical"
    r = a.cli("check", "--config", a.config_path)
    assert r.returncode == 2 and "cert_expired" in r.stdout, r.stdout


def test_certificate_until_9999_is_activated(agents):
    """notBefore before 1970 and notAfter 9999-12-31 (RFC 5280's "no
    well-defined expiration"): valid, activated, dates shown as they are."""
    import datetime
    from agvtest import serial_hex
    from pkitest import guide_install
    import pathlib
    a = agents().start()
    utc = datetime.timezone.utc
    cert, key = default_pair.pki.client(not_before=datetime.datetime(1950, 1, 1, tzinfo=utc),
                                        not_after=datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=utc))
    guide_install(a, pathlib.Path(a.dir), cert, key)
    wait_until(lambda: cert_section(a)["serial"] == serial_hex(cert), what="activation")
    c = cert_section(a)
    assert c["state"] == "ok" and c["generation"] == 2
    assert c["not_before"] == "1950-01-01T00:00:00Z" and c["not_after"] == "9999-12-31T23:59:59Z"
    assert c["seconds_left"] > 250_000_000_000
    out = a.cli("metrics", "--config", a.config_path).stdout
    assert any(l.startswith("agv_cert_not_before_seconds{") and l.endswith(" -631152000") for l in out.splitlines()), out


# ---- defect 3: ACLs ------------------------------------------------------------

def has_acl(path, default=False):
    name = "system.posix_acl_default" if default else "system.posix_acl_access"
    return name in os.listxattr(path)


def setfacl(*args):
    import shutil
    import subprocess
    if not shutil.which("setfacl"):
        pytest.skip("setfacl (Debian package acl) not installed")
    subprocess.run(["setfacl", *args], check=True)


def test_acl_on_key_reported_under_audit(agents):
    """A hostile admin grants nobody read on the key with an ACL: mode stays
    0440, but status is critical and `check` exits 2."""
    a = agents({"pki": {"permissions": "audit"}}).start()
    key = os.path.join(a.pki_dir, "client.key")
    setfacl("-m", "u:nobody:r", key)
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o440
    wait_until(lambda: reasons(a.status(), "acl"), what="ACL reported")
    st = a.status()
    assert st["state"] == "critical"
    r = reasons(st, "acl")[0]
    assert r["level"] == "critical"
    assert f"user:{__import__('pwd').getpwnam('nobody').pw_uid}:r--" in r["message"], r
    assert "setfacl -b" in r["message"]
    f = [f for f in st["permissions"]["files"] if f["role"] == "private_key"][0]
    assert f["state"] == "drift" and f["acl"]
    assert has_acl(key)  # audit changes nothing
    c = a.cli("check", "--config", a.config_path)
    assert c.returncode == 2 and "acl" in c.stdout, c.stdout
    setfacl("-b", key)
    wait_until(lambda: a.status()["state"] == "ok", what="ACL gone")


def test_acl_removed_under_enforce(agents):
    """Under enforce the key's ACL and the directory's default ACL (which the
    next renewal's key would inherit) are removed and logged."""
    a = agents().start()
    key = os.path.join(a.pki_dir, "client.key")
    setfacl("-m", "u:nobody:rw", key)
    wait_until(lambda: not has_acl(key), what="key ACL removed")
    setfacl("-d", "-m", "u:nobody:r", a.pki_dir)
    wait_until(lambda: not has_acl(a.pki_dir, default=True), what="default ACL removed")
    st = a.status()
    assert st["state"] == "ok", st["reasons"]
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o440
    assert st["permissions"]["repaired"] >= 2
    wait_until(lambda: "Removed the ACL of " + key in a.log(), what="journal line")
    assert "Removed the ACL of " + a.pki_dir + " (default: user:" in a.log()


# ---- defect 9: a symlinked directory, hard links, many files ------------------

def test_symlinked_directory_is_not_followed(agents, tmp_path):
    """[pki] dir is a symlink (to a directory someone else controls): its
    pair is neither activated nor chmod-ed; the finding says what to do."""
    from agvtest import deploy_pair
    real = tmp_path / "elsewhere"
    real.mkdir()
    deploy_pair(str(real), *default_pair(), ca=default_pair.pki)
    key = real / "client.key"
    os.chmod(key, 0o644)
    link = tmp_path / "pki-link"
    link.symlink_to(real)
    a = agents({"pki": {"dir": str(link)}}).start()
    st = a.status()
    assert st["state"] == "critical"
    c = st["certificate"]
    assert c["state"] == "invalid" and c["serial"] is None and c["generation"] == 0
    codes = {f["code"]: f for f in c["findings"]}
    assert "dir_symlink" in codes, codes
    assert "is a symlink (never followed)" in codes["file_unreadable"]["message"]
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o644  # never chmod-ed through the link
    # the admin replaces the link with the real directory: picked up
    link.unlink()
    os.rename(real, link)
    wait_until(lambda: cert_section(a)["state"] == "ok", what="real directory activated")


def quiet(agent, for_s=0.6):
    """Wait until no assessment ran for for_s seconds (the 250 ms follow-up
    pass after a burst included)."""
    import time
    last, since = None, time.monotonic()
    while True:
        n = agent.status()["certificate"]["assessments"]
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= for_s:
            return
        time.sleep(0.05)


def all_codes(st):
    c = st["certificate"]
    return [f["code"] for f in c["findings"]] + [f["code"] for f in (c["candidate"] or {}).get("findings", [])]


def test_hard_link_finding_clears_when_link_removed(agents, tmp_path):
    """A second name for the key in another directory is critical; removing
    it clears the finding at once, not at the next periodic rescan."""
    a = agents({"pki": {"rescan_interval": "1h"}}).start()
    key = os.path.join(a.pki_dir, "client.key")
    other = tmp_path / "stolen.key"
    os.link(key, other)
    os.chmod(key, 0o440)  # an IN_ATTRIB in the directory: the link is seen
    wait_until(lambda: "file_hardlink" in all_codes(a.status()), what="hard link reported")
    assert a.status()["state"] == "critical"
    quiet(a)  # the burst's follow-up pass is over: only a watch can tell now
    other.unlink()  # nothing happens in the watched directory itself
    wait_until(lambda: a.status()["state"] == "ok", what="finding cleared")
    assert "file_hardlink" not in all_codes(a.status())


def test_directory_full_of_key_like_files(agents):
    """3,000 key-like files and a CA key among them: the agent answers
    status throughout, the scan finishes in slices, the CA key is found,
    and once judged the files cost no decoding on later passes."""
    a = agents({"pki": {"rescan_interval": "1h"}}).start()
    junk = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives import serialization
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    for i in range(3000):
        with open(os.path.join(a.pki_dir, f"k{i:05}.pem"), "wb") as f:
            f.write(junk if i % 2 else other)  # broken ones and real (non-CA) keys
    install_file(os.path.join(a.pki_dir, "zz-backup.pem"), ca_key_pem(), 0o400)
    c = a.client()
    # status keeps answering while the passes work through the directory
    wait_until(lambda: "ca_key_present" in all_codes(c.call("status")["result"]), timeout=120,
               what="CA key found among 3,000 files")
    wait_until(lambda: "ca_key_scan_incomplete" not in all_codes(c.call("status")["result"]), timeout=120,
               what="scan complete")
    # a later pass (a chmod) judges 3,000 files from memory
    os.chmod(os.path.join(a.pki_dir, "client.crt"), 0o444)
    n = cert_section(a)["assessments"]
    os.chmod(a.pki_dir, 0o755)
    wait_until(lambda: cert_section(a)["assessments"] > n, what="another pass")
    assert "ca_key_scan_incomplete" not in all_codes(a.status())
    c.close()
