"""A real Prometheus Alertmanager (Debian prometheus-alertmanager) receives
the expiry alert with the documented labels, and sees it resolve after the
certificate is renewed."""

from agvtest import TestPKI, serial_hex, wait_until
from alerttest import alertmanager, alerts_status, deploy  # noqa: F401


def agv_alerts(am):
    return [x for x in am.alerts() if x["labels"].get("job") == "agv-agent"]


def test_alert_appears_and_resolves_after_renewal(agents, alertmanager):
    a = agents({"alerts": {"alertmanager_url": alertmanager.url, "alertmanager_resend": "1s",
                           "instance": "vm-am", "retry_max": "1s"}})
    pki = TestPKI()
    cert = deploy(a, pki, days=2)
    a.start()
    (x,) = wait_until(lambda: agv_alerts(alertmanager), what="alert in Alertmanager")
    labels = x["labels"]
    assert labels["alertname"] == "AgvCertificateExpiring"
    assert labels["instance"] == "vm-am"
    assert labels["serial"] == serial_hex(cert)
    assert labels["severity"] == "critical"
    assert labels["subject"] == "CN=agentic-vault-vm"
    assert "expires in 2 days" in x["annotations"]["summary"]
    assert "install -m 444" in x["annotations"]["description"]
    assert x["status"]["state"] == "active"
    wait_until(lambda: alerts_status(a)["channels"]["alertmanager"]["last_result"] == "ok", what="posted")

    # re-posted while active (resend 1s): Alertmanager's updatedAt moves on
    first = x["updatedAt"]
    wait_until(lambda: agv_alerts(alertmanager) and agv_alerts(alertmanager)[0]["updatedAt"] != first,
               what="re-post")

    new = deploy(a, pki, days=365)
    wait_until(lambda: any(c["serial"] == serial_hex(new) for c in alerts_status(a)["certificates"]),
               what="renewal")
    # endsAt was posted: Alertmanager no longer lists it as active
    wait_until(lambda: agv_alerts(alertmanager) == [], what="alert resolved in Alertmanager")
    assert alerts_status(a)["active"] == []


def test_unreachable_alertmanager_is_retried_and_shown(agents, alertmanager):
    a = agents({"alerts": {"alertmanager_url": "http://127.0.0.1:9/", "retry_max": "1s",
                           "delivery_timeout": "1s"}})
    pki = TestPKI()
    deploy(a, pki, days=5)
    a.start()
    wait_until(lambda: alerts_status(a)["channels"]["alertmanager"]["failed"] >= 2, what="retries")
    st = a.status()
    assert "alert_delivery_failing" in [r["code"] for r in st["reasons"]]
    assert st["alerts"]["channels"]["alertmanager"]["last_result"] == "failed"
    # fix the URL: the pending alert arrives
    a.update_config("alerts", alertmanager_url=alertmanager.url)
    a.reload()
    wait_until(lambda: agv_alerts(alertmanager), what="alert after fixing the URL")
    wait_until(lambda: "alert_delivery_failing" not in [r["code"] for r in a.status()["reasons"]],
               what="failure cleared")
