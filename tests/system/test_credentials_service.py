"""[credentials] under the hardened unit: the installed agv-agent.service
(ProtectSystem=strict, PrivateTmp, SystemCallFilter, RestrictAddressFamilies
...) reaches the Roles Anywhere endpoint and completes the signed exchange
(the stand-in runs on the host; the container shares its network, and the
endpoint is named `localhost`, so name resolution runs inside the sandbox
too). The credentials reach root and the signer's user through
`agv-agent credential-process`, and no secret reaches the journal."""

import json
import os
import tempfile

import pytest

import agvtest
import rolesanywhere as ra
from test_service import SLOW, UNIT, deploy_pair_like_the_guide, journal, status, wait_for

DROPIN = "/etc/agv-agent/agent.conf.d/70-credentials-test.conf"
ENDPOINT_CA = "/etc/agv-agent/endpoint-ca.pem"
MSGID_CREDENTIALS_OBTAINED = "9a80bb4e103b4e4097e455d3eb0e47c2"
MSGID_CREDENTIALS_FAILED = "38236349954a44eebb80572754f3aba6"


@pytest.fixture(scope="module")
def endpoint():
    pki = agvtest.TestPKI()
    ca_pem, cert_pem, key_pem = ra.make_tls()
    d = tempfile.mkdtemp(prefix="agv-ra-sys-")
    s = ra.StandIn([pki.ca_cert], cert_pem, key_pem, issued_path=os.path.join(d, "issued.json"))
    s.pki, s.ca_pem = pki, ca_pem
    yield s
    s.close()


def cred(st):
    return (st or {}).get("credentials") or ((st or {}).get("sections") or {}).get("credentials") or {}


def test_hardened_unit_exchanges_and_serves(container, endpoint):
    c = container
    cert, key = endpoint.pki.client(key="p256")
    deploy_pair_like_the_guide(c, cert, key, ca=endpoint.pki)
    c.write(ENDPOINT_CA, endpoint.ca_pem.decode(), 0o644)
    c.write(DROPIN, "[agent]\nlog_level = debug\n"
                    "[credentials]\n"
                    f"trust_anchor_arn = {endpoint.trust_anchor_arn}\n"
                    f"profile_arn = {endpoint.profile_arn}\n"
                    f"role_arn = {endpoint.role_arns[0]}\n"
                    f"endpoint = https://localhost:{endpoint.port}\n"
                    f"ca_file = {ENDPOINT_CA}\n")
    c.run(["systemctl", "enable", "--now", UNIT], timeout=120 * SLOW)
    c.run(["systemctl", "restart", UNIT], timeout=120 * SLOW)

    st = wait_for(lambda: (lambda s: s if cred(s).get("state") in ("valid", "failed") else None)(status(c)[1]),
                  what="an exchange")
    assert cred(st)["state"] == "valid", (cred(st), c.run(["journalctl", "-u", UNIT, "--no-pager", "-n", "50"]).stdout)
    ok = [r for r in endpoint.requests if r["verdict"] == "ok"]
    assert ok and ok[-1]["serial"] == cert.serial_number

    r = c.run(["agv-agent", "credential-process"], check=False)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    issued = {x["accessKeyId"]: x for x in endpoint.issued}
    assert out["SecretAccessKey"] == issued[out["AccessKeyId"]]["secretAccessKey"]
    assert r.stderr == ""
    # the signer's user is allowed by default ([child] user)
    user = c.run(["sh", "-c", "sed -n 's/^user *= *//p' /etc/agv-agent/agent.conf /etc/agv-agent/agent.conf.d/*.conf"
                  " | tail -n1"], check=False).stdout.strip()
    if user:
        r = c.run(["agv-agent", "credential-process"], check=False, user=user)
        assert r.returncode == 0, r.stderr

    # a failing exchange is journaled with its fix, still without secrets
    endpoint.set(mode="profile_disabled")
    c.run(["systemctl", "restart", UNIT], timeout=120 * SLOW)
    wait_for(lambda: cred(status(c)[1]).get("state") == "failed", what="failed state")
    entries = journal(c, "-b")
    text = json.dumps(entries)
    got = [e for e in entries if e.get("MESSAGE_ID") == MSGID_CREDENTIALS_OBTAINED]
    assert got, "no 'credentials obtained' entry"
    failed = wait_for(lambda: [e for e in journal(c, "-b") if e.get("MESSAGE_ID") == MSGID_CREDENTIALS_FAILED],
                      what="a 'credential exchange failed' entry")
    assert failed[-1]["AGV_CREDENTIALS_ERROR"] == "profile_disabled"
    assert "enable-profile" in failed[-1]["AGV_FIX"]
    assert "Profile is disabled" in failed[-1]["MESSAGE"]
    # the catalog explains it to `journalctl -x` readers
    out = c.run(["journalctl", "-x", "--no-pager", "-u", UNIT, "MESSAGE_ID=" + MSGID_CREDENTIALS_FAILED]).stdout
    assert "--" in out and len(out.splitlines()) > 3, out
    text = json.dumps(journal(c, "-b"))
    endpoint.set(mode="ok")
    for secret in endpoint.secrets_issued():
        assert secret not in text, "a secret reached the journal"
        assert secret[:24] not in text
    c.run(["rm", "-f", DROPIN, ENDPOINT_CA])
    c.run(["systemctl", "restart", UNIT], timeout=120 * SLOW)
