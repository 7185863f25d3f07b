"""Expiry alerts as an operator sees them in the real journal (systemd 252
in an nspawn container, package installed): one entry per stage with its
MESSAGE_ID, rising PRIORITY and AGV_* fields; `journalctl -x` explains the
renewal; the fired stages survive a restart. Time moves with the test-only
[test] clock_offset drop-in and `systemctl reload`."""

import datetime
import json

import agvtest
from test_service import SLOW, UNIT, deploy_pair_like_the_guide, journal, wait_for

MSGID_CERT_EXPIRING = "d86420afd47f4f77b94d8037b72442d3"
MSGID_CERT_EXPIRED = "9b610b581ce144eab05574eea225c2bb"
DROPIN = "/etc/agv-agent/agent.conf.d/60-alerts-test.conf"
DAY = 86400


def expiry_entries(c):
    return [e for e in journal(c, "-b") if e.get("MESSAGE_ID") in (MSGID_CERT_EXPIRING, MSGID_CERT_EXPIRED)]


def test_expiry_alerts_in_the_journal(container):
    c = container
    now = datetime.datetime.now(datetime.timezone.utc)
    pki = agvtest.TestPKI()
    cert, key = pki.client(not_after=(now + datetime.timedelta(days=10)).replace(microsecond=0),
                           not_before=now - datetime.timedelta(days=1))
    serial = agvtest.serial_hex(cert)
    deploy_pair_like_the_guide(c, cert, key, ca=pki)
    c.write(DROPIN, "[agent]\nlog_level = info\n")
    c.run(["systemctl", "restart", UNIT], timeout=120 * SLOW)

    (e,) = wait_for(lambda: expiry_entries(c), what="expiry entry")
    assert e["MESSAGE_ID"] == MSGID_CERT_EXPIRING
    assert e["PRIORITY"] == "4"  # warning at the 14d stage
    assert e["AGV_ALERT_STAGE"] == "14d"
    assert e["AGV_CERT_SERIAL"] == serial
    assert e["AGV_DAYS_LEFT"] == "10"
    assert e["AGV_CERT_ROLE"] == "client"
    assert e["AGV_CERT_NOT_AFTER"].endswith("Z")
    # the catalog explains cause and renewal steps
    out = c.run(["journalctl", "-x", "--no-pager", "-u", UNIT, "MESSAGE_ID=" + MSGID_CERT_EXPIRING]).stdout
    assert "install -m 444" in out and "Cert Renewal" in out, out
    st = json.loads(c.run(["stat", "-c", '{"mode":"%a","owner":"%U"}', "/var/lib/agv-agent/alerts.json"]).stdout)
    assert st == {"mode": "600", "owner": "root"}

    # a restart fires nothing again
    c.run(["systemctl", "restart", UNIT], timeout=120 * SLOW)
    wait_for(lambda: c.run(["systemctl", "is-active", UNIT], check=False).stdout.strip() == "active",
             what="restarted")
    assert len(expiry_entries(c)) == 1

    # travel to 2 days left, then past expiry: priority rises
    na = cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    for left, n in ((2 * DAY, 2), (-DAY, 3)):
        off = int((na - datetime.datetime.now(datetime.timezone.utc)).total_seconds() - left)
        c.write(DROPIN, f"[agent]\nlog_level = info\n[test]\nclock_offset = {off}\n")
        c.run(["systemctl", "reload", UNIT], timeout=60 * SLOW)
        wait_for(lambda: len(expiry_entries(c)) == n, what=f"entry {n}")
    entries = expiry_entries(c)
    assert [x["AGV_ALERT_STAGE"] for x in entries] == ["14d", "3d", "expired"]
    assert [int(x["PRIORITY"]) for x in entries] == [4, 3, 1]
    assert entries[-1]["MESSAGE_ID"] == MSGID_CERT_EXPIRED
    c.run(["rm", "-f", DROPIN])
    c.run(["systemctl", "stop", UNIT], timeout=60 * SLOW)
