"""Every bad input of the issue against the running agent: a clear finding
naming the file, no crash, no activation, the last good pair kept; and the
agent recovers when a good pair follows. Plus `agv-agent check` offline."""

import datetime
import json
import os
import subprocess
import threading

import pytest

from agvtest import AGENT, default_pair, deploy_pair, install_file, cert_pem, key_pem, serial_hex, wait_until
from pkitest import cert_section, write


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def all_codes(st):
    c = st["certificate"]
    codes = [f["code"] for f in c["findings"]]
    if c["candidate"]:
        codes += [f["code"] for f in c["candidate"]["findings"]]
    return codes


def der(cert):
    from cryptography.hazmat.primitives import serialization
    return cert.public_bytes(serialization.Encoding.DER)


def rsa512_pair(pki):
    """A 512-bit RSA key made by the openssl CLI, certified by the test CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    pem = subprocess.run(["openssl", "genrsa", "512"], capture_output=True, check=True).stdout
    k = serialization.load_pem_private_key(pem, None)
    now = utcnow()
    c = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weak")]))
         .issuer_name(pki.ca_cert.subject).public_key(k.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=False)
         .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
         .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
         .sign(pki.ca_key, hashes.SHA256()))
    return c, pem


def bad_pair(kind, pki, d):
    """Write the bad input `kind` into directory d; return the expected code
    and whether it is transient (pending within the grace)."""
    crt, key = os.path.join(d, "client.crt"), os.path.join(d, "client.key")
    now = utcnow()
    if kind == "empty":
        write(crt, b"", 0o444)
        return "cert_empty", True
    if kind == "truncated":
        c, _ = pki.client()
        write(crt, cert_pem(c)[:300], 0o444)
        return "cert_truncated", True
    if kind == "random":
        write(key, os.urandom(1200), 0o440)
        return "key_unparseable", True
    if kind == "other_key":
        c, _ = pki.client()
        _, k2 = pki.client(key="p256")
        install_file(crt, cert_pem(c), 0o444)
        install_file(key, key_pem(k2), 0o440)
        return "key_mismatch", True
    if kind == "encrypted":
        c, k = pki.client()
        install_file(crt, cert_pem(c), 0o444)
        install_file(key, key_pem(k, password=b"secret"), 0o440)
        return "key_encrypted", False
    if kind == "expired":
        c, k = pki.client(not_before=now - datetime.timedelta(days=400), not_after=now - datetime.timedelta(days=1))
        install_file(crt, cert_pem(c), 0o444)
        install_file(key, key_pem(k), 0o440)
        return "cert_expired", False
    if kind == "not_yet_valid":
        c, k = pki.client(not_before=now + datetime.timedelta(days=1), not_after=now + datetime.timedelta(days=300))
        install_file(crt, cert_pem(c), 0o444)
        install_file(key, key_pem(k), 0o440)
        return "cert_not_yet_valid", False
    if kind == "ca_as_client":
        install_file(crt, cert_pem(pki.ca_cert), 0o444)
        install_file(key, key_pem(pki.ca_key), 0o440)
        return "cert_is_ca", False
    if kind == "no_eku":
        c, k = pki.client(eku=False)
        install_file(crt, cert_pem(c), 0o444)
        install_file(key, key_pem(k), 0o440)
        return "cert_eku", False
    if kind == "no_key_usage":
        c, k = pki.client(key_usage=False)
        install_file(crt, cert_pem(c), 0o444)
        install_file(key, key_pem(k), 0o440)
        return "cert_key_usage", False
    if kind == "rsa512":
        c, pem = rsa512_pair(pki)
        install_file(crt, cert_pem(c), 0o444)
        install_file(key, pem, 0o440)
        return "key_weak", False
    if kind == "symlink_shadow":
        os.unlink(key)
        os.symlink("/etc/shadow", key)
        return "file_symlink", False
    if kind == "fifo":
        os.unlink(key)
        os.mkfifo(key, 0o440)
        return "file_not_regular", False
    if kind == "directory":
        os.unlink(key)
        os.mkdir(key, 0o700)
        return "file_not_regular", False
    if kind == "huge":
        os.unlink(crt)
        with open(crt, "wb") as f:
            f.truncate(100 * 1024 * 1024)
        os.chmod(crt, 0o444)
        return "file_too_large", False
    if kind == "deleted":
        os.unlink(crt)
        os.unlink(key)
        return "file_missing", True
    raise ValueError(kind)


KINDS = ["empty", "truncated", "random", "other_key", "encrypted", "expired", "not_yet_valid", "ca_as_client",
         "no_eku", "no_key_usage", "rsa512", "symlink_shadow", "fifo", "directory", "huge", "deleted"]


@pytest.mark.parametrize("kind", KINDS)
def test_bad_input(agents, kind):
    a = agents({"pki": {"renewal_grace": "1s"}}).start()
    good = cert_section(a)
    shadow_before = os.stat("/etc/shadow") if os.path.exists("/etc/shadow") else None
    code, transient = bad_pair(kind, default_pair.pki, a.pki_dir)

    wait_until(lambda: code in all_codes(a.status()), what=f"finding {code}")
    st = a.status()
    c = st["certificate"]
    # the last good pair stays active, nothing new was activated
    assert c["serial"] == good["serial"] and c["generation"] == good["generation"]
    f = [f for f in c["findings"] + (c["candidate"]["findings"] if c["candidate"] else []) if f["code"] == code][0]
    assert f["fix"] and os.path.basename(f["file"] or "client") in f["message"] or kind == "deleted"
    if transient:
        # a renewal half-way: a warning first, critical once the grace is over
        assert st["state"] in ("warning", "critical")
        wait_until(lambda: cert_section(a)["state"] == "renewal_incomplete", what="grace over")
    else:
        assert st["state"] == "critical", st["reasons"]
    assert a.status()["state"] == "critical"
    if shadow_before is not None:
        s = os.stat("/etc/shadow")
        assert (s.st_mode, s.st_uid, s.st_gid) == (shadow_before.st_mode, shadow_before.st_uid, shadow_before.st_gid)

    # a good pair afterwards is picked up right away
    for name in ("client.crt", "client.key"):
        p = os.path.join(a.pki_dir, name)
        if os.path.islink(p) or os.path.exists(p) and not os.path.isfile(p):
            os.rmdir(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
    cert, key = default_pair.pki.client()
    deploy_pair(a.pki_dir, cert, key)
    wait_until(lambda: cert_section(a)["serial"] == serial_hex(cert), what="recovery")
    st = a.status()
    assert st["state"] == "ok", st["reasons"]
    assert st["certificate"]["generation"] == good["generation"] + 1
    assert a.proc.poll() is None


def test_der_certificate_is_accepted(agents):
    """DER where PEM is usual: accepted, as aws_signing_helper does."""
    a = agents().start()
    cert, key = default_pair.pki.client()
    install_file(os.path.join(a.pki_dir, "client.crt"), der(cert), 0o444)
    install_file(os.path.join(a.pki_dir, "client.key"), key_pem(key), 0o440)
    wait_until(lambda: cert_section(a)["serial"] == serial_hex(cert), what="DER pair active")


def test_permissions_flipped_during_renewals(agents):
    """chmod flipping in a loop while pairs are replaced: never a crash, the
    final pair active with the right mode."""
    a = agents().start()
    key = os.path.join(a.pki_dir, "client.key")
    stop = threading.Event()

    def flipper():
        while not stop.is_set():
            try:
                os.chmod(key, 0o666)
                os.chmod(key, 0o400)
            except FileNotFoundError:
                pass

    t = threading.Thread(target=flipper, daemon=True)
    t.start()
    try:
        for _ in range(30):
            cert, k = default_pair.pki.client(key="p256")
            deploy_pair(a.pki_dir, cert, k)
    finally:
        stop.set()
        t.join()
    wait_until(lambda: cert_section(a)["serial"] == serial_hex(cert), what="last pair")
    wait_until(lambda: oct(os.stat(key).st_mode & 0o7777) == "0o440", what="mode repaired")
    assert a.status()["state"] == "ok"


def test_ca_key_in_directory(agents):
    a = agents().start()
    from cryptography.hazmat.primitives import serialization
    pem = default_pair.pki.ca_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption())
    install_file(os.path.join(a.pki_dir, "backup.pem"), pem, 0o400)
    wait_until(lambda: "ca_key_present" in all_codes(a.status()), what="CA key found by content")
    st = a.status()
    assert st["state"] == "critical"
    r = [r for r in st["reasons"] if r["code"] == "ca_key_present"][0]
    assert "backup.pem" in r["message"] and "never be on the VM" in r["message"]
    os.unlink(os.path.join(a.pki_dir, "backup.pem"))
    wait_until(lambda: a.status()["state"] == "ok", what="cleared")


def run_check(*args):
    return subprocess.run([AGENT, "check", *args], capture_output=True, text=True, timeout=60)


def test_check_offline(agents):
    a = agents()  # never started: check needs no daemon
    r = run_check("--config", a.config_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert serial_hex(default_pair()[0]) in r.stdout
    assert "chain        verified" in r.stdout

    c, _ = default_pair.pki.client(eku=False)
    install_file(os.path.join(a.pki_dir, "client.crt"), cert_pem(c), 0o444)
    os.chmod(os.path.join(a.pki_dir, "client.key"), 0o644)
    r = run_check("--config", a.config_path)
    assert r.returncode == 2
    assert "cert_eku" in r.stdout and "fix: Re-sign with -extfile" in r.stdout
    assert "key_mismatch" in r.stdout
    assert "permissions" in r.stdout
    # read-only: the drift is reported, not repaired
    assert os.stat(os.path.join(a.pki_dir, "client.key")).st_mode & 0o777 == 0o644
    # the same result as JSON, in the status sections' shapes
    r = run_check("--config", a.config_path, "--json")
    assert r.returncode == 2
    j = json.loads(r.stdout)
    assert j["state"] == "critical"
    assert j["certificate"]["serial"] == serial_hex(c) and j["certificate"]["key_matches"] is False
    codes = {f["code"] for f in j["findings"]}
    assert {"cert_eku", "key_mismatch"} <= codes, codes
    assert all(f["fix"] for f in j["findings"])
    key = [f for f in j["permissions"] if f["role"] == "private_key"][0]
    assert key["mode"] == "0644" and key["expected_mode"] == "0440" and key["state"] != "ok"

    # --dir points at another directory with the same file names
    other = os.path.join(a.dir, "other")
    os.mkdir(other, 0o755)
    deploy_pair(other, *default_pair(), ca=default_pair.pki)
    r = run_check("--config", a.config_path, "--dir", other)
    assert r.returncode == 0, r.stdout
    assert other in r.stdout


def test_check_usage(agents):
    assert run_check("--bogus").returncode == 64
    assert run_check("--dir", "relative").returncode == 64
    assert run_check("extra").returncode == 64
    r = run_check("--help")
    assert r.returncode == 0 and "--dir" in r.stdout
