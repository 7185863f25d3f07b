"""The whole metrics output (manager, certificate, child, alerts) passes
`promtool check metrics`; the node_exporter textfile is written atomically
and follows status changes; the fleet alert rules pass promtool."""

import os
import subprocess

from agvtest import SOURCE_DIR, TestPKI, serial_hex, wait_until
from alerttest import alerts_status, deploy, webhook  # noqa: F401

PROMTOOL = "/usr/bin/promtool"
RULES = os.path.join(SOURCE_DIR, "contrib", "prometheus")


def promtool_check(text):
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    # promtool prints lint findings and exits non-zero on any problem
    assert r.returncode == 0, f"promtool: {r.stdout}{r.stderr}\n---\n{text}"


def parse(text):
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name_labels, value = line.rsplit(" ", 1)
            out[name_labels] = float(value)
    return out


def test_metrics_valid_and_textfile(agents, webhook, tmp_path):
    textfile = os.path.join(str(tmp_path), "agv-agent.prom")
    webhook.script = [500]
    a = agents({"alerts": {"webhook_url": webhook.url, "textfile": textfile, "retry_max": "1s"}})
    pki = TestPKI()
    cert = deploy(a, pki, days=10)
    a.start()
    wait_until(lambda: alerts_status(a)["channels"]["webhook"]["delivered"] == 1, what="delivered after a retry")

    r = a.cli("metrics", "--socket", a.socket)
    assert r.returncode == 0, r.stderr
    text = r.stdout
    promtool_check(text)
    m = parse(text)
    assert m["agv_up"] == 1
    assert m['agv_alerts_fired_total{alertname="AgvCertificateExpiring",severity="warning"}'] == 1
    assert m['agv_alert_deliveries_total{channel="webhook"}'] == 1
    assert m['agv_alert_delivery_failures_total{channel="webhook"}'] == 1
    assert m["agv_alert_queue_length"] == 0
    assert any(k.startswith("agv_alert_active{") and serial_hex(cert) in k for k in m)
    assert any(k.startswith("agv_cert_not_after_seconds{") for k in m)

    # the textfile follows status changes and is valid too
    def current():
        try:
            return open(textfile).read()
        except FileNotFoundError:
            return None
    wait_until(lambda: (current() or "").find('agv_alert_deliveries_total{channel="webhook"} 1') >= 0,
               what="textfile updated")
    promtool_check(current())
    assert oct(os.stat(textfile).st_mode & 0o777) == "0o644"
    # no temp files left next to it (node_exporter would read a .prom only)
    assert [f for f in os.listdir(str(tmp_path)) if f.startswith("agv-agent.prom.")] == []
    # a clean stop leaves agv_up 0 for the fleet's AgvAgentDown rule
    a.stop()
    final = parse(current())
    assert final["agv_up"] == 0


def test_textfile_unwritable_is_a_reason_not_a_crash(agents, tmp_path):
    a = agents({"alerts": {"textfile": os.path.join(str(tmp_path), "missing-dir", "agv-agent.prom")}})
    pki = TestPKI()
    deploy(a, pki, days=300)
    a.start()
    wait_until(lambda: "metrics_textfile_failed" in [x["code"] for x in a.status()["reasons"]],
               what="textfile reason")
    assert "missing-dir" in a.log()


def test_fleet_rules():
    r = subprocess.run([PROMTOOL, "check", "rules", os.path.join(RULES, "agv-agent.rules.yml")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    # the rules' unit tests: they fire for the right series and stay silent otherwise
    r = subprocess.run([PROMTOOL, "test", "rules", "agv-agent.rules.test.yml"], cwd=RULES,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
