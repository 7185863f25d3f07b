"""Webhook delivery of expiry alerts: body schema, secret handling, retries
on HTTP 500 and on timeouts, no duplicate after a restart."""

import json
import os

from agvtest import TestPKI, serial_hex, wait_until
from alerttest import DAY, alerts_status, deploy, wait_serial, webhook  # noqa: F401

SECRET = "s3cr3t-token-do-not-log-4711"


def base_sections(webhook, **alerts):
    a = {"webhook_url": webhook.url, "retry_max": "1s", "delivery_timeout": "1s", "instance": "vm-test"}
    a.update(alerts)
    return {"alerts": a}


def test_body_schema_and_secret(agents, webhook, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    a = agents(base_sections(webhook, webhook_secret_file=str(secret_file), webhook_slack_text="yes",
                             webhook_headers='"X-Team: pki"'))
    pki = TestPKI()
    cert = deploy(a, pki, days=10)
    a.start()
    # 10 days left: 30d and 14d have passed; only the most severe (14d) fires
    (b,) = webhook.wait_bodies(1)
    assert b["alertname"] == "AgvCertificateExpiring"
    assert b["status"] == "firing"
    assert b["severity"] == "warning"
    assert b["stage"] == "14d"
    assert b["role"] == "client"
    assert b["serial"] == serial_hex(cert)
    assert b["days_left"] == 10
    assert b["instance"] == "vm-test"
    assert b["version"] == 1 and b["source"] == "agv-agent"
    assert "renew" in b["description"].lower()
    assert b["text"].startswith("[WARNING] vm-test: Client certificate")
    for k in ("key", "kind", "subject", "issuer", "not_after", "not_after_unix", "summary", "starts_at"):
        assert k in b, k
    req = webhook.requests[0]
    assert req["headers"]["Authorization"] == "Bearer " + SECRET
    assert req["headers"]["X-Team"] == "pki"
    assert req["headers"]["Content-Type"] == "application/json"
    import hashlib
    import hmac
    assert req["headers"]["X-Agv-Signature-256"] == "sha256=" + hmac.new(SECRET.encode(), req["raw"], hashlib.sha256).hexdigest()

    st = alerts_status(a)
    assert st["fired"] == ["30d", "14d"]
    wait_until(lambda: alerts_status(a)["channels"]["webhook"]["last_result"] == "ok", what="delivery recorded")
    # health: warning at 14d, with a reason naming the fix
    status = a.status()
    reasons = [r for r in status["reasons"] if r["code"] == "cert_expiring"]
    assert reasons and reasons[0]["level"] == "warning"
    a.stop()
    # the secret never reaches a log line or the state file
    assert SECRET not in a.log()
    for root, _, files in os.walk(a.state_dir):
        for f in files:
            assert SECRET not in open(os.path.join(root, f), errors="replace").read()


def test_retry_on_500_then_no_duplicate_after_restart(agents, webhook):
    webhook.script = [500, 500]
    # a token in the URL path (Slack style) must not reach the log either
    a = agents(base_sections(webhook, webhook_url=webhook.url + "/T0KEN-in-path"))
    pki = TestPKI()
    deploy(a, pki, days=5)
    a.start()
    bodies = webhook.wait_bodies(3)
    assert [r["answer"] for r in webhook.requests[:3]] == [500, 500, 200]
    assert all(b["key"] == bodies[0]["key"] for b in bodies)
    wait_until(lambda: alerts_status(a)["pending_deliveries"] == 0, what="queue drained")
    st = alerts_status(a)["channels"]["webhook"]
    assert st["failed"] == 2 and st["delivered"] == 1 and st["last_result"] == "ok"
    assert "MESSAGE_ID" not in a.log()  # stderr mode: plain lines
    assert f"not delivered via webhook (http://127.0.0.1:{webhook.port}) (attempt 1): HTTP status 500" in a.log()
    assert webhook.requests[0]["path"] == "/hook/T0KEN-in-path"
    assert "T0KEN" not in a.log()
    a.stop()
    a.start()
    wait_until(lambda: alerts_status(a)["certificates"], what="certificate planned")
    # the 7d stage fired before the restart: nothing new is sent
    st = alerts_status(a)
    assert st["pending_deliveries"] == 0
    assert len(webhook.requests) == 3


def test_retry_on_timeout_and_persisted_queue(agents, webhook):
    # the first answer comes after the 1s delivery_timeout
    webhook.script = [("sleep", 3, 200)]
    a = agents(base_sections(webhook))
    pki = TestPKI()
    deploy(a, pki, days=2)
    a.start()
    wait_until(lambda: alerts_status(a)["channels"]["webhook"]["failed"] >= 1, what="timeout recorded")
    st = alerts_status(a)
    assert st["channels"]["webhook"]["last_error"] == "timed out"
    codes = [r["code"] for r in a.status()["reasons"]]
    assert "alert_delivery_failing" in codes
    bodies = webhook.wait_bodies(2)
    assert bodies[0]["stage"] == bodies[1]["stage"] == "3d"
    assert bodies[0]["severity"] == "critical"
    wait_until(lambda: alerts_status(a)["pending_deliveries"] == 0, what="queue drained")
    assert "alert_delivery_failing" not in [r["code"] for r in a.status()["reasons"]]


def test_undelivered_alert_survives_restart(agents, webhook):
    webhook.script = [500] * 1000
    a = agents(base_sections(webhook, retry_max="30s"))
    pki = TestPKI()
    cert = deploy(a, pki, days=20)
    a.start()
    webhook.wait_bodies(1)
    wait_until(lambda: alerts_status(a)["channels"]["webhook"]["failed"] >= 1, what="failure recorded")
    a.stop()
    state = json.load(open(os.path.join(a.state_dir, "alerts.json")))
    assert len(state["queue"]) == 1 and state["queue"][0]["channel"] == "webhook"
    with webhook.lock:
        webhook.script = []
        n = len(webhook.requests)
    a.start()
    # retried at once after the restart and delivered exactly once
    wait_until(lambda: alerts_status(a)["pending_deliveries"] == 0, what="queue drained after restart")
    new = webhook.requests[n:]
    assert [r["answer"] for r in new] == [200]
    assert new[0]["body"]["stage"] == "30d" and new[0]["body"]["serial"] == serial_hex(cert)
