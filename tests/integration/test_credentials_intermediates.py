"""[credentials] intermediates as the deployment with an intermediate CA
has it: ca.pem holds only the root (the trust anchor), the intermediates live
in their own file. The certificate module verifies leaf -> intermediates ->
root, watches that file, and the Roles Anywhere stand-in (which checks the
chain through X-Amz-X509-Chain itself) accepts the exchange. A renewed
intermediate is picked up; a broken file is a finding naming it while the
last good pair (and its chain) stay in use."""

import base64
import datetime
import json
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from agvtest import cert_pem, deploy_pair, install_file, make_key, serial_hex, wait_until
from credtest import credentials, endpoint, wait_state  # noqa: F401
from renewtest import DevMachine, renew


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


class Intermediate:
    """An issuing CA under the endpoint's root; renew() certifies the same
    key again (new serial, new validity), as a CA renewal does."""

    def __init__(self, root, days=400):
        self.root = root
        self.ca_key = make_key("p384")
        self.ca_cert = self._certify(days)

    def _certify(self, days, not_before=None):
        now = utcnow()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AgenticVault Issuing CA")])
        return (x509.CertificateBuilder().subject_name(name).issuer_name(self.root.ca_cert.subject)
                .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(not_before or now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                               critical=True)
                .sign(self.root.ca_key, hashes.SHA256()))

    def renew(self):
        self.ca_cert = self._certify(800)
        return self.ca_cert


def der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def sent_chain(req):
    hdrs = {k.lower(): v for k, v in req["headers"]}
    return [base64.b64decode(p) for p in hdrs["x-amz-x509-chain"].split(",")]


def cert_section(agent):
    return agent.status()["certificate"]


def findings(agent):
    return {f["code"]: f for f in cert_section(agent)["findings"]}


def any_finding(agent, code):
    """A finding of the active pair or of the candidate on disk."""
    c = cert_section(agent)
    fs = c["findings"] + ((c.get("candidate") or {}).get("findings") or [])
    return next((f for f in fs if f["code"] == code), None)


def setup_agent(agents, endpoint, inter, chain_pem, **keys):
    """ca.pem: the root only; chain.pem (in the PKI dir): chain_pem."""
    a = agents(endpoint.section(intermediates="chain.pem", **keys))
    cert, key = endpoint.pki.client(key="p256", issuer=inter)
    deploy_pair(a.pki_dir, cert, key, ca=endpoint.pki)
    install_file(os.path.join(a.pki_dir, "chain.pem"), chain_pem, 0o444)
    return a, cert


def test_root_only_bundle_and_intermediates_file(agents, endpoint):
    inter = Intermediate(endpoint.pki)
    a, cert = setup_agent(agents, endpoint, inter, cert_pem(inter.ca_cert))
    a.start()
    wait_state(a, "valid")
    c = cert_section(a)
    assert c["state"] == "ok", c
    assert c["serial"] == serial_hex(cert)
    assert c["chain"] == "verified"
    assert c["intermediates"] == os.path.join(a.pki_dir, "chain.pem")
    # which chain: the intermediate from its file, then the root of ca.pem
    assert [(l["subject"], l["source"]) for l in c["chain_path"]] == [
        ("CN=AgenticVault Issuing CA", "intermediates"),
        ("O=agv-agent tests,CN=AgenticVault Test CA", "ca_bundle")]
    assert c["chain_path"][0]["serial"] == serial_hex(inter.ca_cert)
    assert c["findings"] == []
    # the file is watched and policed like the CA bundle
    assert "0444" in a.status()["permissions"]["intermediates"]
    # and the text form names the intermediate the path went through
    r = a.cli("status", "--socket", a.socket)
    assert "chain verified via CN=AgenticVault Issuing CA" in r.stdout, r.stdout
    assert "intermediates 0444" in r.stdout
    # the stand-in verified the chain through X-Amz-X509-Chain to its anchor
    (req,) = endpoint.ok_requests()
    assert sent_chain(req) == [der(inter.ca_cert)]
    assert credentials(a)[0]
    # the intermediate's expiry is a metric like the leaf's and the CA's
    text = a.call("metrics")["result"]["text"]
    line = next(l for l in text.splitlines()
                if l.startswith("agv_cert_not_after_seconds{") and 'role="intermediate"' in l)
    assert f'serial="{serial_hex(inter.ca_cert)}"' in line
    assert float(line.rsplit(" ", 1)[1]) == inter.ca_cert.not_valid_after.replace(
        tzinfo=datetime.timezone.utc).timestamp()
    # the offline check sees the same chain
    r = a.cli("check", "--config", a.config_path, "--json")
    out = json.loads(r.stdout)
    assert out["certificate"]["chain"] == "verified", r.stdout
    assert out["certificate"]["chain_path"][0]["source"] == "intermediates"


def test_careless_file_root_included_wrong_order(agents, endpoint):
    """The root first, then the intermediate: the chain still verifies, the
    root is named as not belonging there, and AWS gets the intermediate only."""
    inter = Intermediate(endpoint.pki)
    a, _ = setup_agent(agents, endpoint, inter, cert_pem(endpoint.pki.ca_cert) + cert_pem(inter.ca_cert))
    a.start()
    wait_state(a, "valid")
    c = cert_section(a)
    assert c["state"] == "ok" and c["chain"] == "verified"
    f = findings(a)["intermediates_has_root"]
    assert f["severity"] == "warning" and f["file"].endswith("/chain.pem")
    assert "chain.pem" in f["message"] and "CA bundle" in f["fix"]
    (req,) = endpoint.ok_requests()
    assert sent_chain(req) == [der(inter.ca_cert)]


def test_intermediate_renewal_is_picked_up(agents, endpoint):
    inter = Intermediate(endpoint.pki)
    a, cert = setup_agent(agents, endpoint, inter, cert_pem(inter.ca_cert))
    a.start()
    wait_state(a, "valid")
    old_serial = serial_hex(inter.ca_cert)
    renewed = inter.renew()
    install_file(os.path.join(a.pki_dir, "chain.pem"), cert_pem(renewed), 0o444)
    # same pair (generation 1), new path
    c = wait_until(lambda: (lambda s: s if s["chain_path"] and s["chain_path"][0]["serial"] == serial_hex(renewed)
                            else None)(cert_section(a)), 10, what="renewed intermediate in chain_path")
    assert c["generation"] == 1 and c["state"] == "ok" and c["chain"] == "verified"
    assert serial_hex(renewed) != old_serial
    assert "Chain of certificate serial" in a.log()
    # the next exchange (a renewed leaf from the renewed CA) sends the new intermediate
    cert2, key2 = endpoint.pki.client(key="p256", issuer=inter)
    deploy_pair(a.pki_dir, cert2, key2)
    wait_until(lambda: len(endpoint.ok_requests()) == 2, 20, what="exchange with the renewed pair")
    req = endpoint.ok_requests()[1]
    assert req["serial"] == cert2.serial_number
    assert sent_chain(req) == [der(renewed)]
    st = wait_state(a, "valid")
    assert st["serial"] == serial_hex(cert2)


def test_broken_intermediates_file_keeps_the_last_good_pair(agents, endpoint):
    inter = Intermediate(endpoint.pki)
    chain = cert_pem(inter.ca_cert)
    a, cert = setup_agent(agents, endpoint, inter, chain, retry_max="1s")
    a.start()
    wait_state(a, "valid")
    path = os.path.join(a.pki_dir, "chain.pem")

    # cut half-way (a copy interrupted): a finding naming the file and the fix
    install_file(path, chain[: len(chain) // 2], 0o444)
    f = wait_until(lambda: any_finding(a, "intermediates_unparseable"), 10, what="intermediates_unparseable")
    assert f["file"] == path
    assert "chain.pem" in f["message"] and "intermediates" in f["fix"]
    c = cert_section(a)
    assert c["state"] == "renewal_pending"
    pending = findings(a)["renewal_pending"]
    assert "chain.pem" in pending["message"] and "stays active" in pending["message"]
    # the pair and its verified chain stay: generation 1, same path, credentials served
    assert c["generation"] == 1 and c["serial"] == serial_hex(cert)
    assert c["chain"] == "verified" and c["chain_path"][0]["serial"] == serial_hex(inter.ca_cert)
    assert credentials(a)[0]

    # a renewed leaf while the file is broken is not activated ...
    cert2, key2 = endpoint.pki.client(key="p256", issuer=inter)
    deploy_pair(a.pki_dir, cert2, key2)
    wait_until(lambda: cert_section(a).get("candidate_serial") == serial_hex(cert2), 10, what="candidate seen")
    assert cert_section(a)["generation"] == 1
    assert len(endpoint.ok_requests()) == 1

    # ... a symlink in its place is not followed (the disk pair is rejected) ...
    os.unlink(path)
    os.symlink("/etc/passwd", path)
    f = wait_until(lambda: any_finding(a, "file_symlink"), 10, what="file_symlink")
    assert f["file"] == path and "/etc/passwd" in f["message"]
    c = cert_section(a)
    assert c["generation"] == 1 and c["state"] == "rejected"
    assert credentials(a)[0]

    # ... and once the file is whole again the renewed pair goes live with it
    os.unlink(path)
    install_file(path, chain, 0o444)
    wait_until(lambda: cert_section(a)["generation"] == 2, 10, what="renewed pair activated")
    wait_until(lambda: len(endpoint.ok_requests()) == 2, 20, what="exchange with the renewed pair")
    req = endpoint.ok_requests()[1]
    assert req["serial"] == cert2.serial_number and sent_chain(req) == [der(inter.ca_cert)]
    c = cert_section(a)
    assert c["state"] == "ok" and c["findings"] == []


def test_missing_intermediates_file_at_start(agents, endpoint):
    """Configured but absent: nothing is activated, the finding says what to
    install where; installing it activates the pair and the exchange works."""
    inter = Intermediate(endpoint.pki)
    a = agents(endpoint.section(intermediates="chain.pem", retry_max="1s"))
    cert, key = endpoint.pki.client(key="p256", issuer=inter)
    deploy_pair(a.pki_dir, cert, key, ca=endpoint.pki)
    a.start()
    f = findings(a)["intermediates_missing"]
    assert f["severity"] == "critical" and f["file"] == os.path.join(a.pki_dir, "chain.pem")
    assert "remove intermediates=" in f["fix"]
    assert cert_section(a)["generation"] == 0
    install_file(os.path.join(a.pki_dir, "chain.pem"), cert_pem(inter.ca_cert), 0o444)
    wait_until(lambda: cert_section(a)["generation"] == 1, 10, what="pair activated")
    wait_state(a, "valid")
    assert endpoint.ok_requests()[-1]["serial"] == cert.serial_number


def test_install_cert_judges_with_the_intermediates(agents, endpoint, tmp_path):
    """The on-VM renewal (request, sign on the issuing CA's machine,
    install-cert) checks the new certificate through the intermediates file
    as the daemon does: accepted, activated, exchanged with the chain."""
    inter = Intermediate(endpoint.pki)
    a, _ = setup_agent(agents, endpoint, inter, cert_pem(inter.ca_cert))
    a.start()
    wait_state(a, "valid")
    dev = DevMachine(tmp_path / "issuing-ca", inter)
    _, pem, r = renew(a, dev)
    assert r.returncode == 0, (r.stdout, r.stderr)
    new = x509.load_pem_x509_certificate(pem)
    wait_until(lambda: cert_section(a)["serial"] == serial_hex(new), 10, what="installed pair activated")
    wait_until(lambda: len(endpoint.ok_requests()) == 2, 20, what="exchange with the installed pair")
    req = endpoint.ok_requests()[1]
    assert req["serial"] == new.serial_number and sent_chain(req) == [der(inter.ca_cert)]
