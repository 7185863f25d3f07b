"""The alert pipeline beyond the client certificate: the CA certificate's
expiry, the certificate module's renewal-incomplete condition (fires once,
resolves), and a corrupt state file (started clean, no crash)."""

import datetime
import os

from agvtest import TestPKI, cert_pem, install_file, serial_hex, wait_until
from alerttest import alerts_status, deploy, utcnow, webhook  # noqa: F401


def test_ca_expiry_alert(agents, webhook):
    a = agents({"alerts": {"webhook_url": webhook.url, "retry_max": "1s"}})
    pki = TestPKI(ca_not_after=(utcnow() + datetime.timedelta(days=20)).replace(microsecond=0))
    deploy(a, pki, days=15)  # the client ends before its CA, as it must
    a.start()
    wait_until(lambda: webhook.bodies("AgvCaCertificateExpiring"), what="CA alert")
    (b,) = webhook.bodies("AgvCaCertificateExpiring")
    assert b["role"] == "ca" and b["stage"] == "30d" and b["severity"] == "info"
    assert b["serial"] == serial_hex(pki.ca_cert)
    assert "trust anchor" in b["description"]
    st = alerts_status(a)
    assert {c["role"] for c in st["certificates"]} == {"client", "ca"}
    # 15 days left on the client: its 30d stage too, separately
    assert [x["stage"] for x in webhook.bodies("AgvCertificateExpiring")] == ["30d"]


def test_renewal_incomplete_fires_once_and_resolves(agents, webhook):
    a = agents({"alerts": {"webhook_url": webhook.url, "retry_max": "1s"},
                "pki": {"renewal_grace": "1s"}})
    pki = TestPKI()
    deploy(a, pki, days=300)
    a.start()
    # only the certificate half of a renewal arrives
    cert2, key2 = pki.client(days=365)
    install_file(os.path.join(a.pki_dir, "client.crt"), cert_pem(cert2), 0o444)
    (b,) = webhook.wait_bodies(1, "AgvRenewalIncomplete", "firing", timeout=20)
    assert b["severity"] == "critical" and b["kind"] == "renewal_incomplete"
    assert "AgvRenewalIncomplete" in alerts_status(a)["active"]
    # the key follows: the condition ends, one resolution is sent
    from agvtest import key_pem, primary_group
    install_file(os.path.join(a.pki_dir, "client.key"), key_pem(key2), 0o440, primary_group())
    webhook.wait_bodies(1, "AgvRenewalIncomplete", "resolved", timeout=20)
    wait_until(lambda: alerts_status(a)["active"] == [], what="no active alert")
    assert len(webhook.bodies("AgvRenewalIncomplete", "firing")) == 1


def test_corrupt_state_file_starts_clean(agents, webhook):
    a = agents({"alerts": {"webhook_url": webhook.url}})
    with open(os.path.join(a.state_dir, "alerts.json"), "w") as f:
        f.write('{"version":1,"fired":[{"role":"client","serial":"AB","stages":["30d"')  # truncated
    pki = TestPKI()
    deploy(a, pki, days=20)
    a.start()
    webhook.wait_bodies(1)
    assert "is corrupt or truncated" in a.log()
    assert os.path.exists(os.path.join(a.state_dir, "alerts.json.corrupt"))
    wait_until(lambda: alerts_status(a)["pending_deliveries"] == 0, what="delivered")


def test_child_failure_alert(agents, webhook):
    a = agents({"alerts": {"webhook_url": webhook.url, "retry_max": "1s"},
                "child": {"command": "/bin/false", "start_limit": "2/60s", "restart_backoff_max": "100ms"}})
    pki = TestPKI()
    deploy(a, pki, days=300)
    a.start()
    (b,) = webhook.wait_bodies(1, "AgvChildFailed", "firing", timeout=30)
    assert b["severity"] == "critical" and b["kind"] == "child_failed"
    assert "role" not in b and "serial" not in b
    assert "AgvChildFailed" in alerts_status(a)["active"]
