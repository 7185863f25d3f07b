"""`agv-agent request` and `agv-agent install-cert` against the real agent:
the key is made on the VM, the CSR is signed on a "dev machine" with the
exact command the agent prints, the certificate is installed and activated
through the normal watch. Bad certificates are refused with nothing changed;
a SIGKILL at every step of the install is completed or undone by the next
run; rollback; non-root users are refused."""

import datetime
import json
import os
import pwd
import signal
import subprocess

import pytest

from agvtest import AGENT, SLOW, TestPKI, cert_pem, default_pair, serial_hex, wait_until
from pkitest import Poller, cert_section
from renewtest import (DevMachine, install, pair_matches, read, renew, request, sign_block, snapshot)

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID


def serial_of(pem):
    return serial_hex(x509.load_pem_x509_certificate(pem))


@pytest.fixture
def dev(tmp_path):
    default_pair()
    return DevMachine(tmp_path / "devmachine", default_pair.pki)


@pytest.mark.parametrize("key_type,label", [("rsa2048", "RSA-2048"), ("ec-p256", "EC-P256"),
                                            ("ec-p384", "EC-P384"), ("rsa3072", "RSA-3072")])
def test_request_signed_with_printed_command_is_activated(agents, dev, key_type, label):
    a = agents().start()
    before = cert_section(a)
    old_crt = read(os.path.join(a.pki_dir, "client.crt"))
    old_key = read(os.path.join(a.pki_dir, "client.key"))

    req = request(a, "--key-type", key_type, "--out", dev.path("client.csr"))
    assert req["key_type"] == label and not req["reused"]
    # renewal: the subject is the active certificate's
    assert req["subject"] == "/CN=agentic-vault-vm"
    pend = os.path.join(a.pki_dir, "pending")
    assert os.stat(pend).st_mode & 0o777 == 0o700
    assert os.stat(os.path.join(pend, "client.key")).st_mode & 0o777 == 0o400
    # the CSR carries the guide's extensions
    csr = x509.load_pem_x509_csr(read(dev.path("client.csr")))
    assert csr.is_signature_valid
    assert csr.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert csr.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert ExtendedKeyUsageOID.CLIENT_AUTH in csr.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    # status and check show the pending request; nothing else changed
    # (the status reply is cached for up to a second)
    st = wait_until(lambda: cert_section(a)["pending_request"] and cert_section(a), what="pending in status")
    assert st["pending_request"]["key_type"] == label
    assert st["pending_request"]["subject"] == "/CN=agentic-vault-vm"
    assert st["generation"] == before["generation"] and st["state"] == "ok"
    chk = json.loads(a.cli("check", "--config", a.config_path, "--json").stdout)
    assert chk["certificate"]["pending_request"]["key_type"] == label
    text = a.cli("check", "--config", a.config_path).stdout
    assert "pending since" in text and label in text

    # the printed command, run literally on the dev machine
    dev.run(req["sign_command"])
    new_pem = read(dev.path("client.crt"))
    r = install(a, dev.path("client.crt"))
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "Installed" in r.stdout

    new_serial = serial_of(new_pem)
    wait_until(lambda: cert_section(a)["serial"] == new_serial, what="new pair activated")
    st = wait_until(lambda: cert_section(a)["pending_request"] is None and cert_section(a), what="request gone")
    assert st["generation"] == before["generation"] + 1
    assert st["state"] == "ok" and st["key_type"] == label and st["chain"] == "verified"
    assert st["pending_request"] is None
    # the installed files: the certificate as signed, the key with the policy
    assert read(os.path.join(a.pki_dir, "client.crt")) == new_pem
    crt_st = os.stat(os.path.join(a.pki_dir, "client.crt"))
    key_st = os.stat(os.path.join(a.pki_dir, "client.key"))
    assert crt_st.st_mode & 0o7777 == 0o444 and (crt_st.st_uid, crt_st.st_gid) == (0, 0)
    assert key_st.st_mode & 0o7777 == 0o440 and key_st.st_uid == 0 and key_st.st_gid == os.getgid()
    assert pair_matches(a.pki_dir)
    # the request is used up; the previous pair is kept root-only
    assert os.listdir(pend) == []
    prev = os.path.join(a.pki_dir, "previous")
    assert os.stat(prev).st_mode & 0o777 == 0o700
    assert read(os.path.join(prev, "client.crt")) == old_crt
    assert read(os.path.join(prev, "client.key")) == old_key
    # no leftovers in the watched directory
    assert sorted(os.listdir(a.pki_dir)) == ["ca.pem", "client.crt", "client.key", "pending", "previous"]


def test_text_output_command_runs_literally(agents, dev):
    """The human output: the CSR on stdout, the instructions on stderr; the
    printed snippet signs a certificate the agent activates."""
    a = agents().start()
    r = a.cli("request", "--config", a.config_path, "--subject", "/CN=vm-7/O=Example Org", "--key-type", "ec-p256")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("-----BEGIN CERTIFICATE REQUEST-----") and r.stdout.count("-----END") == 1
    assert "never leaves this machine" in r.stderr and "/CN=vm-7/O=Example Org" in r.stderr
    with open(dev.path("client.csr"), "w") as f:
        f.write(r.stdout)
    dev.run(sign_block(r.stderr))
    r = install(a, dev.path("client.crt"))
    assert r.returncode == 0, r.stderr
    wait_until(lambda: cert_section(a)["subject"] == "O=Example Org,CN=vm-7", what="new subject active")


def test_subject_without_active_certificate_is_hostname(agents, dev):
    a = agents()
    for f in ("client.crt", "client.key"):
        os.unlink(os.path.join(a.pki_dir, f))
    req = request(a)
    assert req["subject"] == "/CN=" + os.uname().nodename
    r = request(a, "--subject", "CN=no-slash", "--force", check=False)
    assert r.returncode == 1 and "--subject" in r.stderr and "does not start with '/'" in r.stderr
    r = request(a, "--subject", "/XX=1", "--force", check=False)
    assert r.returncode == 1 and "'XX' is not an attribute type" in r.stderr
    # first install on an empty directory (no daemon): no previous pair
    with open(dev.path("client.csr"), "w") as f:
        f.write(req["csr"])
    dev.run(req["sign_command"])
    r = install(a, dev.path("client.crt"))
    assert r.returncode == 0, r.stderr
    assert pair_matches(a.pki_dir)
    assert not os.path.exists(os.path.join(a.pki_dir, "previous"))
    assert a.cli("check", "--config", a.config_path).returncode == 0


def test_out_into_the_pki_directory_refused(agents):
    """`--out` over client.crt (a typo away) must not break the pair."""
    a = agents()
    before = snapshot(a.pki_dir)
    for target in ("client.crt", "new.csr"):
        r = request(a, "--out", os.path.join(a.pki_dir, target), check=False)
        assert r.returncode == 1 and "somewhere else" in r.stderr, r.stderr
    assert snapshot(a.pki_dir) == before


def test_second_request_keeps_pending_key(agents, dev):
    a = agents()
    first = request(a, "--key-type", "ec-p256")
    key = read(os.path.join(a.pki_dir, "pending", "client.key"))
    again = request(a)
    assert again["reused"] and again["csr"] == first["csr"] and again["since"] == first["since"]
    assert read(os.path.join(a.pki_dir, "pending", "client.key")) == key
    r = a.cli("request", "--config", a.config_path)
    assert r.returncode == 0 and "already pending" in r.stderr and "--force" in r.stderr
    # a different request is refused while one is pending
    r = request(a, "--key-type", "rsa2048", check=False)
    assert r.returncode == 1 and "pending since" in r.stderr and "--force" in r.stderr
    assert read(os.path.join(a.pki_dir, "pending", "client.key")) == key
    forced = request(a, "--key-type", "rsa2048", "--force")
    assert not forced["reused"] and forced["key_type"] == "RSA-2048"
    assert read(os.path.join(a.pki_dir, "pending", "client.key")) != key


def _sign(csr_pem, ca, *, days=365, not_before=None, not_after=None, ca_flag=False, eku=True, key_usage=True):
    """A certificate for the CSR's key, shaped by the options (python
    cryptography, so the broken variants need no openssl config)."""
    csr = x509.load_pem_x509_csr(csr_pem)
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca.ca_cert.subject)
         .public_key(csr.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(not_before or now - datetime.timedelta(minutes=5))
         .not_valid_after(not_after or now + datetime.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca_flag, path_length=None), critical=ca_flag))
    if key_usage:
        b = b.add_extension(x509.KeyUsage(True, False, False, False, False, ca_flag, False, False, False), critical=True)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return cert_pem(b.sign(ca.ca_key, hashes.SHA256()))


def test_bad_certificates_refused_with_nothing_changed(agents, dev, tmp_path):
    a = agents().start()
    req = request(a, "--key-type", "ec-p256")
    csr = req["csr"].encode()
    pki = default_pair.pki
    now = datetime.datetime.now(datetime.timezone.utc)
    other_cert, _ = pki.client(key="p256")  # valid, but for another key
    cases = {
        "another_key": (cert_pem(other_cert), "key_mismatch"),
        "another_ca": (_sign(csr, TestPKI()), "chain_failed"),
        "expired": (_sign(csr, pki, not_before=now - datetime.timedelta(days=30),
                          not_after=now - datetime.timedelta(days=1)), "cert_expired"),
        "no_client_auth": (_sign(csr, pki, eku=False), "cert_eku"),
        "ca_certificate": (_sign(csr, pki, ca_flag=True), "cert_is_ca"),
        "the_ca_itself": (cert_pem(pki.ca_cert), "key_mismatch"),
        "garbage": (b"-----BEGIN CERTIFICATE-----\nAAAA\n", "cert_truncated"),
    }
    before = snapshot(a.pki_dir)
    gen = cert_section(a)["generation"]
    for name, (pem, code) in cases.items():
        p = tmp_path / f"{name}.crt"
        p.write_bytes(pem)
        r = install(a, p)
        assert r.returncode == 2, (name, r.stdout, r.stderr)
        assert "Nothing was changed" in r.stderr and code in r.stderr, (name, r.stderr)
        assert "fix:" in r.stderr
        assert snapshot(a.pki_dir) == before, name
        # --json: the same findings, machine-readable
        r = install(a, p, "--json")
        out = json.loads(r.stdout)
        assert r.returncode == 2 and out["installed"] is False
        assert code in [f["code"] for f in out["findings"]], (name, out)
        assert snapshot(a.pki_dir) == before, name
    st = cert_section(a)
    assert st["generation"] == gen and st["state"] == "ok"
    # nothing pending: refused too
    os.unlink(os.path.join(a.pki_dir, "pending", "client.key"))
    r = install(a, tmp_path / "no_client_auth.crt")
    assert r.returncode == 1 and "agv-agent request" in r.stderr


STEPS_OLD = ["previous", "staged"]          # killed before the journal: rolled back
STEPS_NEW = ["journal", "key", "cert", "cleanup"]  # after it: completed


@pytest.mark.parametrize("step", STEPS_OLD + STEPS_NEW)
def test_sigkill_during_install(agents, dev, step):
    a = agents().start()
    old_serial = cert_section(a)["serial"]
    old_crt = read(os.path.join(a.pki_dir, "client.crt"))
    req = request(a, "--key-type", "ec-p256", "--out", dev.path("client.csr"))
    dev.run(req["sign_command"])
    new_pem = read(dev.path("client.crt"))
    new_serial = serial_of(new_pem)

    poller = Poller(a)
    try:
        r = install(a, dev.path("client.crt"), env={"AGV_TEST_INSTALL_CRASH_AT": step})
        assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr)
        # the agent's active pair is the old or the new one, never a mix
        wait_until(lambda: len(poller.samples) > 3, what="samples")
        chk = json.loads(a.cli("check", "--config", a.config_path, "--json").stdout)
        codes = [f["code"] for f in chk["findings"]]
        assert ("install_interrupted" in codes) == (step in STEPS_NEW), codes
        # the next run completes or undoes it
        r = a.cli("install-cert", "--config", a.config_path, "--recover")
        assert r.returncode == 0, r.stderr
        expect = old_serial if step in STEPS_OLD else new_serial
        # killed before anything was staged, there is nothing to undo
        assert ("" if step == "previous" else "rolled back" if step in STEPS_OLD else "completed") in r.stderr, \
            r.stderr
        wait_until(lambda: poller.samples and poller.samples[-1][1]["serial"] == expect
                   and poller.samples[-1][1]["state"] == "ok", what="agent on the recovered pair")
    finally:
        samples = poller.stop()
    assert {c["serial"] for _, c in samples} <= {old_serial, new_serial}
    assert all(s != "critical" for s, _ in samples)
    assert pair_matches(a.pki_dir)
    assert read(os.path.join(a.pki_dir, "client.crt")) == (old_crt if step in STEPS_OLD else new_pem)
    assert a.cli("check", "--config", a.config_path).returncode == 0
    assert not os.path.exists(os.path.join(a.pki_dir, "pending", "install.journal"))
    assert not [n for n in os.listdir(a.pki_dir) if n.endswith(".agv-new")]
    if step in STEPS_OLD:
        # the pending key was kept: the same certificate installs now
        r = install(a, dev.path("client.crt"))
        assert r.returncode == 0, r.stderr
        wait_until(lambda: cert_section(a)["serial"] == new_serial, what="retry activated")
    else:
        assert os.listdir(os.path.join(a.pki_dir, "pending")) == []


def test_sigkill_at_random_moments(agents, dev):
    """Kills at arbitrary points of real installs (no hook): whatever moment
    it hits, the next run leaves one complete valid pair."""
    import random
    rnd = random.Random(12)
    a = agents()
    for i in range(12):
        req = request(a, "--key-type", "ec-p256", "--out", dev.path("client.csr"))
        dev.run(req["sign_command"])
        p = subprocess.Popen([AGENT, "install-cert", "--config", a.config_path, dev.path("client.crt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import time
        time.sleep(rnd.uniform(0, 0.03 * SLOW))
        p.send_signal(signal.SIGKILL)
        p.wait()
        r = a.cli("install-cert", "--config", a.config_path, "--recover")
        assert r.returncode == 0, r.stderr
        assert pair_matches(a.pki_dir), i
        assert a.cli("check", "--config", a.config_path).returncode == 0, i
        # a request still pending (killed early) is simply used by the next round
        request(a, "--force", "--key-type", "ec-p256")


def test_rollback(agents, dev):
    a = agents().start()
    old_crt = read(os.path.join(a.pki_dir, "client.crt"))
    old_key = read(os.path.join(a.pki_dir, "client.key"))
    old_serial = cert_section(a)["serial"]
    _, new_pem, r = renew(a, dev)
    assert r.returncode == 0, r.stderr
    new_key = read(os.path.join(a.pki_dir, "client.key"))
    wait_until(lambda: cert_section(a)["serial"] == serial_of(new_pem), what="new active")
    gen = cert_section(a)["generation"]

    r = a.cli("install-cert", "--config", a.config_path, "--rollback", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["action"] == "rollback"
    wait_until(lambda: cert_section(a)["serial"] == old_serial, what="old pair active again")
    assert cert_section(a)["generation"] == gen + 1
    assert read(os.path.join(a.pki_dir, "client.crt")) == old_crt
    assert read(os.path.join(a.pki_dir, "client.key")) == old_key
    assert os.stat(os.path.join(a.pki_dir, "client.key")).st_mode & 0o7777 == 0o440
    # previous/ now holds the pair rolled away from: rolling back again toggles
    assert read(os.path.join(a.pki_dir, "previous", "client.key")) == new_key
    r = a.cli("install-cert", "--config", a.config_path, "--rollback")
    assert r.returncode == 0 and "Restored" in r.stdout, r.stderr
    wait_until(lambda: cert_section(a)["serial"] == serial_of(new_pem), what="new pair again")


def test_rollback_refuses_expired_previous(agents, dev):
    a = agents()
    now = datetime.datetime.now(datetime.timezone.utc)
    prev = os.path.join(a.pki_dir, "previous")
    os.mkdir(prev, 0o700)
    c, k = default_pair.pki.client(key="p256", not_before=now - datetime.timedelta(days=400),
                                   not_after=now - datetime.timedelta(days=1))
    from agvtest import key_pem
    with open(os.path.join(prev, "client.crt"), "wb") as f:
        f.write(cert_pem(c))
    with open(os.path.join(prev, "client.key"), "wb") as f:
        f.write(key_pem(k))
    before = snapshot(a.pki_dir)
    r = a.cli("install-cert", "--config", a.config_path, "--rollback")
    assert r.returncode == 2 and "cert_expired" in r.stderr and "Nothing was changed" in r.stderr
    assert snapshot(a.pki_dir) == before


def test_non_root_refused(agents, dev, tmp_path):
    a = agents()
    user = "nobody"
    pwd.getpwnam(user)
    os.chmod(a.dir, 0o755)
    os.chmod(os.path.dirname(a.dir), 0o755)
    os.chmod(a.config_path, 0o644)
    before = snapshot(a.pki_dir)
    r = a.cli("request", "--config", a.config_path, user=user)
    assert r.returncode == 1 and "permission denied" in r.stderr and "sudo" in r.stderr, r.stderr
    cert = tmp_path / "x.crt"
    cert.write_bytes(cert_pem(default_pair()[0]))
    os.chmod(tmp_path, 0o755)
    os.chmod(cert, 0o644)
    for args in (["install-cert", "--config", a.config_path, str(cert)],
                 ["install-cert", "--config", a.config_path, "--rollback"]):
        r = a.cli(*args, user=user)
        assert r.returncode == 1 and "permission denied" in r.stderr, r.stderr
    assert snapshot(a.pki_dir) == before


def test_planted_pending_dir_refused(agents):
    """A pending/ that others can enter (or a symlink) never receives a key."""
    a = agents()
    pend = os.path.join(a.pki_dir, "pending")
    os.mkdir(pend, 0o755)
    r = a.cli("request", "--config", a.config_path)
    assert r.returncode == 1 and "chmod 700" in r.stderr and os.listdir(pend) == []
    os.rmdir(pend)
    target = os.path.join(a.dir, "elsewhere")
    os.mkdir(target, 0o700)
    os.symlink(target, pend)
    r = a.cli("request", "--config", a.config_path)
    assert r.returncode == 1 and "symlink" in r.stderr and os.listdir(target) == []


def test_watcher_ignores_pending_and_previous(agents, dev):
    """Making a request (pending/) is not a pair event: no pass, no finding;
    the staged copies are skipped until they are renamed."""
    a = agents({"pki": {"rescan_interval": "1h"}}).start()
    n = cert_section(a)["assessments"]
    request(a, "--key-type", "ec-p256")
    wait_until(lambda: cert_section(a)["pending_request"], what="pending request in status")
    assert cert_section(a)["assessments"] == n
    assert cert_section(a)["findings"] == []
    # a second agent's check sees no stray key either
    chk = json.loads(a.cli("check", "--config", a.config_path, "--json").stdout)
    assert chk["findings"] == [] and chk["state"] == "ok"
    st = a.cli("status", "--socket", a.socket).stdout
    assert "request" in st and "pending since" in st and "EC-P256" in st, st


def test_agent_start_completes_interrupted_install(agents, dev):
    """A crash (power loss) between the two renames, then a fresh agent: it
    has no last good pair in memory, so it finishes the install before its
    first assessment and comes up ok on the new pair."""
    a = agents()
    req = request(a, "--key-type", "ec-p256", "--out", dev.path("client.csr"))
    dev.run(req["sign_command"])
    new_pem = read(dev.path("client.crt"))
    r = install(a, dev.path("client.crt"), env={"AGV_TEST_INSTALL_CRASH_AT": "key"})
    assert r.returncode == -signal.SIGKILL
    assert not pair_matches(a.pki_dir)  # new key, old certificate on disk
    a.start()
    st = cert_section(a)
    assert st["state"] == "ok" and st["serial"] == serial_of(new_pem) and st["generation"] == 1
    assert "completed an interrupted install" in a.log()
    assert not os.path.exists(os.path.join(a.pki_dir, "pending", "install.journal"))
    assert pair_matches(a.pki_dir)


def test_between_the_renames(agents, dev):
    """Installer stopped between its two renames: the disk holds the new key
    and the old certificate; the agent keeps the old pair active (a warning,
    never a mixed pair), `check` says an install is at work; once it goes
    on, the new pair is activated."""
    a = agents().start()
    old_serial = cert_section(a)["serial"]
    req = request(a, "--key-type", "ec-p256", "--out", dev.path("client.csr"))
    dev.run(req["sign_command"])
    new_serial = serial_of(read(dev.path("client.crt")))
    p = subprocess.Popen([AGENT, "install-cert", "--config", a.config_path, dev.path("client.crt")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, AGV_TEST_INSTALL_STOP_AT="key"))
    try:
        wait_until(lambda: open(f"/proc/{p.pid}/stat").read().split(") ")[1].startswith("T"), what="installer stopped")
        assert not pair_matches(a.pki_dir)
        st = wait_until(lambda: (lambda s: s["state"] == "renewal_pending" and s)(cert_section(a)),
                        what="renewal pending")
        assert st["serial"] == old_serial and a.status()["state"] == "warning"
        chk = json.loads(a.cli("check", "--config", a.config_path, "--json").stdout)
        assert "install_running" in [f["code"] for f in chk["findings"]], chk["findings"]
        # a second installer waits its turn instead of "recovering" a live install
        r = a.cli("install-cert", "--config", a.config_path, "--recover")
        assert r.returncode == 1 and "another" in r.stderr
    finally:
        p.send_signal(signal.SIGCONT)
        out, err = p.communicate(timeout=30 * SLOW)
    assert p.returncode == 0, err
    wait_until(lambda: cert_section(a)["serial"] == new_serial and cert_section(a)["state"] == "ok",
               what="new pair active")
