"""[credentials]: the agent trades its activated certificate for AWS
credentials at the Roles Anywhere stand-in (which verifies the SigV4-X.509
signature, chain and ARNs like AWS), serves them over the control socket,
refreshes before expiry and exchanges again at once after a renewal."""

import datetime
import json
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from agvtest import SLOW, TestPKI, cert_pem, deploy_pair, install_file, serial_hex, wait_until
from alerttest import webhook  # noqa: F401
from credtest import cred_status, credentials, issued_for, parse_exp, reasons, wait_state


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


@pytest.mark.parametrize("kind", ["rsa2048", "p256", "p384"])
def test_exchange_with_each_key_type(agents, endpoint, kind):
    a = agents(endpoint.section(session_duration="30m"))
    cert, key = endpoint.pki.client(key=kind)
    deploy_pair(a.pki_dir, cert, key, ca=endpoint.pki)
    a.start()
    st = wait_state(a, "valid")
    (req,) = endpoint.ok_requests()
    # the stand-in verified a signature by exactly this certificate
    assert req["serial"] == cert.serial_number
    alg = req["headers"][[k.lower() for k, _ in req["headers"]].index("authorization")][1].split()[0]
    assert alg == ("AWS4-X509-RSA-SHA256" if kind == "rsa2048" else "AWS4-X509-ECDSA-SHA256")
    assert json.loads(req["body"]) == {"durationSeconds": 1800}

    ok, c = credentials(a)
    assert ok, c
    assert c["Version"] == 1
    issued = issued_for(endpoint, c["AccessKeyId"])
    assert c["SecretAccessKey"] == issued["secretAccessKey"]
    assert c["SessionToken"] == issued["sessionToken"]
    assert c["Expiration"] == issued["expiration"]
    left = (parse_exp(c["Expiration"]) - utcnow()).total_seconds()
    assert 1700 < left <= 1800

    assert st["serial"] == serial_hex(cert)
    assert st["role_arn"] == endpoint.s.role_arns[0]
    assert st["endpoint"] == endpoint.host
    assert st["exchanges"] == 1 and st["failures"] == 0
    assert st["last_error"] is None
    assert parse_exp(st["expiration"]) == parse_exp(c["Expiration"])
    assert a.status()["state"] == "ok"
    # nothing secret in the status
    text = json.dumps(a.status())
    assert issued["secretAccessKey"] not in text and issued["sessionToken"] not in text


def test_metrics(agents, endpoint):
    endpoint.s.set(script=["500"])
    a = agents(endpoint.section(retry_max="1s"))
    a.start()
    wait_state(a, "valid")
    r = a.call("metrics")
    assert r["ok"], r
    text = r["result"]["text"]
    ok, c = credentials(a)
    exp = parse_exp(c["Expiration"]).timestamp()
    lines = {l.rsplit(" ", 1)[0]: l.rsplit(" ", 1)[1] for l in text.splitlines() if l.startswith("agv_credentials_")}
    role = endpoint.s.role_arns[0]
    assert float(lines[f'agv_credentials_expiration_seconds{{role_arn="{role}"}}']) == exp
    assert float(lines['agv_credentials_exchanges_total{result="success"}']) == 1
    assert float(lines['agv_credentials_exchanges_total{result="server_error"}']) == 1
    assert float(lines["agv_credentials_exchange_duration_seconds"]) > 0
    assert c["SecretAccessKey"] not in text


def make_intermediate(pki):
    from agvtest import make_key
    k = make_key("p384")
    now = utcnow()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AgenticVault Issuing CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(pki.ca_cert.subject)
            .public_key(k.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=400))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(pki.ca_key, hashes.SHA256()))

    class Issuer:
        ca_cert, ca_key = cert, k
    return Issuer


def deploy_with_bundle(agent, cert, key, root, inter):
    """ca.pem holds root and issuing CA (the bundle of the CA that issued
    the client certificate), so the certificate module verifies the chain."""
    deploy_pair(agent.pki_dir, cert, key)
    install_file(os.path.join(agent.pki_dir, "ca.pem"), cert_pem(root.ca_cert) + cert_pem(inter.ca_cert), 0o444)


def test_intermediate_ca_sent_as_chain(agents, endpoint, tmp_path):
    inter = make_intermediate(endpoint.pki)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(cert_pem(inter.ca_cert))
    a = agents(endpoint.section(intermediates=str(chain)))
    cert, key = endpoint.pki.client(key="p256", issuer=inter)
    deploy_with_bundle(a, cert, key, endpoint.pki, inter)
    a.start()
    wait_state(a, "valid")
    (req,) = endpoint.ok_requests()
    hdrs = {k.lower(): v for k, v in req["headers"]}
    import base64
    assert base64.b64decode(hdrs["x-amz-x509-chain"]) == inter.ca_cert.public_bytes(serialization.Encoding.DER)
    assert credentials(a)[0]


def test_without_intermediates_the_chain_is_untrusted(agents, endpoint):
    inter = make_intermediate(endpoint.pki)
    a = agents(endpoint.section(retry_max="1s"))
    cert, key = endpoint.pki.client(key="p256", issuer=inter)
    deploy_with_bundle(a, cert, key, endpoint.pki, inter)
    a.start()
    st = wait_state(a, "failed")
    assert st["last_error"]["type"] == "untrusted_certificate"
    assert "Untrusted" in st["last_error"]["message"]
    assert "intermediates" in st["last_error"]["fix"]


def test_session_name_and_duration_bounds(agents, endpoint):
    a = agents(endpoint.section(session_duration="15m", role_session_name="vm-42"))
    a.start()
    wait_state(a, "valid")
    (req,) = endpoint.ok_requests()
    assert json.loads(req["body"]) == {"durationSeconds": 900, "roleSessionName": "vm-42"}


def test_ready_does_not_wait_for_aws(agents, endpoint):
    endpoint.s.slow_seconds = 4 * SLOW
    endpoint.s.set(script=["slow"])
    a = agents(endpoint.section())
    a.start()  # READY=1 while the exchange is still in flight
    assert endpoint.s.count() == 0
    assert cred_status(a)["state"] == "pending"
    ok, err = credentials(a)
    assert not ok and err["code"] == "credentials_pending"
    # the loop is not blocked meanwhile: status keeps answering
    for _ in range(20):
        assert a.status()["state"]
    wait_state(a, "valid")
    assert credentials(a)[0]


def test_refresh_before_expiration(agents, endpoint):
    # the profile grants 20 s; the agent refreshes ahead of that
    endpoint.s.profile_max_duration = 20
    a = agents(endpoint.section())
    a.start()
    wait_state(a, "valid")
    ok, first = credentials(a)
    nr = cred_status(a)["next_refresh"]
    assert parse_exp(nr) < parse_exp(first["Expiration"])
    wait_until(lambda: len(endpoint.ok_requests()) >= 2, 30, what="a refresh")
    wait_until(lambda: credentials(a)[1]["AccessKeyId"] != first["AccessKeyId"], 10, what="new credentials served")
    ok, second = credentials(a)
    assert ok and parse_exp(second["Expiration"]) > parse_exp(first["Expiration"])
    assert cred_status(a)["exchanges"] >= 2
    # the refresh came before the old ones expired
    t_refresh = endpoint.ok_requests()[1]["time"]
    assert t_refresh < parse_exp(first["Expiration"]).timestamp()


def test_renewal_exchanges_at_once(agents, endpoint):
    a = agents(endpoint.section())
    a.start()
    wait_state(a, "valid")
    ok, old = credentials(a)
    cert, key = endpoint.pki.client(key="p384")
    deploy_pair(a.pki_dir, cert, key)
    wait_until(lambda: any(r["serial"] == cert.serial_number and r["verdict"] == "ok" for r in endpoint.s.requests),
               20, what="exchange with the renewed certificate")
    wait_until(lambda: cred_status(a)["serial"] == serial_hex(cert), 10, what="status names the new serial")
    ok, new = credentials(a)
    assert ok and new["AccessKeyId"] != old["AccessKeyId"]
    assert issued_for(endpoint, new["AccessKeyId"])["serial"] == cert.serial_number


def test_renewal_to_untrusted_ca_keeps_old_credentials_and_alerts(agents, endpoint, webhook):  # noqa: F811 (fixture)
    a = agents({**endpoint.section(retry_max="2s"),
                "alerts": {"webhook_url": webhook.url, "retry_max": "1s", "delivery_timeout": "2s"}})
    a.start()
    wait_state(a, "valid")
    ok, old = credentials(a)
    # a well-formed renewal from a CA the trust anchor does not know; its CA
    # is installed too, so the certificate module itself activates it
    other = TestPKI()
    cert, key = other.client()
    deploy_pair(a.pki_dir, cert, key, ca=other)
    wait_until(lambda: any(r["serial"] == cert.serial_number for r in endpoint.s.requests), 20,
               what="exchange attempt with the renewed certificate")
    wait_until(lambda: reasons(a, "renewed_certificate_rejected"), 15, what="renewed_certificate_rejected")
    (r,) = reasons(a, "renewed_certificate_rejected")
    assert r["level"] == "critical"
    # the old credentials keep being served while they are valid
    ok, now = credentials(a)
    assert ok and now["AccessKeyId"] == old["AccessKeyId"]
    st = cred_status(a)
    assert st["last_error"]["type"] == "untrusted_certificate"
    assert "Untrusted" in st["last_error"]["message"]
    # an alert through the channels
    bodies = webhook.wait_bodies(1, name="AgvRenewedCertificateRejected")
    b = bodies[0]
    assert b["status"] == "firing"
    assert b.get("serial") in (serial_hex(cert), None) or serial_hex(cert) in json.dumps(b)
    assert "Untrusted" in json.dumps(b)
    assert "AgvRenewedCertificateRejected" in a.log() or "renewed certificate" in a.log().lower()
    # nothing secret reached the webhook
    for req in webhook.requests:
        assert old["SecretAccessKey"].encode() not in req["raw"]
        assert old["SessionToken"].encode() not in req["raw"]
