"""Time travel through every threshold with the test-only [test] clock_offset
(docs/alerts.md): the agent's wall clock is moved by rewriting the offset
and sending SIGHUP; the CLOCK_REALTIME timer then fires at the stage's exact
time, half a second of real time later. No sleeping through days."""

import datetime
import time

from agvtest import TestPKI, deploy_pair, serial_hex, wait_until
from alerttest import DAY, alerts_status, offset_to, set_offset, utcnow, webhook  # noqa: F401

STAGES = ["30d", "14d", "7d", "3d", "1d", "expired"]
SECONDS = {"30d": 30 * DAY, "14d": 14 * DAY, "7d": 7 * DAY, "3d": 3 * DAY, "1d": DAY, "expired": 0}


def start_agent(agents, webhook, tmp_path, days=100, **alerts):
    a = agents({"alerts": dict({"webhook_url": webhook.url, "retry_max": "1s", "delivery_timeout": "2s"}, **alerts)})
    pki = TestPKI()
    cert, key = pki.client(not_after=(utcnow() + datetime.timedelta(days=days)).replace(microsecond=0),
                           not_before=utcnow() - datetime.timedelta(days=1))
    deploy_pair(a.pki_dir, cert, key, ca=pki)
    a.start()
    wait_until(lambda: alerts_status(a)["certificates"], what="certificate planned")
    return a, pki, cert


def stages_sent(webhook, serial=None):
    return [b["stage"] for b in webhook.bodies(status="firing")
            if b.get("stage") and (serial is None or b["serial"] == serial)]


def test_every_threshold_fires_once_on_time(agents, webhook, tmp_path):
    a, pki, cert = start_agent(agents, webhook, tmp_path)
    assert stages_sent(webhook) == []
    st = alerts_status(a)
    assert st["thresholds"] == STAGES
    assert st["certificates"][0]["next_stage"] == "30d"

    for i, stage in enumerate(STAGES):
        # land just before the stage: the realtime timer must do the rest
        set_offset(a, offset_to(cert, SECONDS[stage] + 0.5))
        assert stages_sent(webhook) == STAGES[:i], "fired early"
        wait_until(lambda: len(stages_sent(webhook)) == i + 1, what=f"stage {stage}")
        assert stages_sent(webhook) == STAGES[:i + 1]
        body = webhook.bodies(status="firing")[-1]
        want = "critical" if SECONDS[stage] <= 3 * DAY else "warning" if SECONDS[stage] <= 14 * DAY else "info"
        assert body["severity"] == want
        assert body["alertname"] == ("AgvCertificateExpired" if stage == "expired" else "AgvCertificateExpiring")
        assert alerts_status(a)["fired"] == STAGES[:i + 1]
    # health levels followed the same clock
    assert alerts_status(a)["certificates"][0]["health"] == "critical"
    a.stop()
    # every stage made its own journal line with rising priority (stderr mode: LEVEL prefix)
    log = a.log()
    assert "NOTICE: Client certificate" in log and "ALERT: Client certificate" in log


def test_clock_jumps_both_ways(agents, webhook, tmp_path):
    a, pki, cert = start_agent(agents, webhook, tmp_path)
    set_offset(a, offset_to(cert, 29 * DAY))
    wait_until(lambda: stages_sent(webhook) == ["30d"], what="30d")

    # backwards: nothing re-fires, the next stage is still 14d
    set_offset(a, offset_to(cert, 60 * DAY))
    st = alerts_status(a)
    assert st["fired"] == ["30d"]
    assert st["certificates"][0]["next_stage"] == "14d"
    assert st["certificates"][0]["health"] == "ok"

    # forwards over 14d, 7d and 3d at once: only the most severe fires
    set_offset(a, offset_to(cert, 2 * DAY))
    wait_until(lambda: len(stages_sent(webhook)) == 2, what="collapsed alert")
    assert stages_sent(webhook) == ["30d", "3d"]
    st = alerts_status(a)
    assert st["fired"] == ["30d", "14d", "7d", "3d"]
    assert st["certificates"][0]["next_stage"] == "1d"
    assert [r["level"] for r in a.status()["reasons"] if r["code"] == "cert_expiring"] == ["critical"]

    # and backwards again: still nothing new
    set_offset(a, offset_to(cert, 20 * DAY))
    assert [r["level"] for r in a.status()["reasons"] if r["code"] == "cert_expiring"] == []
    time.sleep(0.3)
    assert stages_sent(webhook) == ["30d", "3d"]
    assert len(webhook.requests) == 2


def test_renewal_between_thresholds_starts_clean(agents, webhook, tmp_path):
    a, pki, cert = start_agent(agents, webhook, tmp_path)
    old = serial_hex(cert)
    set_offset(a, offset_to(cert, 10 * DAY))
    wait_until(lambda: stages_sent(webhook) == ["14d"], what="14d")

    # renew: the agent's clock is ~90 days ahead, the new cert ends 400 real days out
    new_cert, new_key = pki.client(not_after=(utcnow() + datetime.timedelta(days=400)).replace(microsecond=0),
                                   not_before=utcnow() - datetime.timedelta(days=1))
    deploy_pair(a.pki_dir, new_cert, new_key, ca=pki)
    new = serial_hex(new_cert)
    wait_until(lambda: any(c["serial"] == new for c in alerts_status(a)["certificates"]), what="renewal seen")
    # the old alert resolves; the new certificate has nothing fired
    (res,) = webhook.wait_bodies(1, status="resolved")
    assert res["serial"] == old and res["stage"] == "14d"
    st = alerts_status(a)
    assert st["fired"] == []
    assert st["active"] == []
    assert st["certificates"][0]["next_stage"] == "30d"
    assert [r for r in a.status()["reasons"] if r["code"] == "cert_expiring"] == []

    # its own thresholds fire from the start again
    set_offset(a, offset_to(new_cert, 30 * DAY + 0.5))
    wait_until(lambda: stages_sent(webhook, new) == ["30d"], what="30d of the new cert")
    assert stages_sent(webhook, old) == ["14d"]
