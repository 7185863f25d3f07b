"""Every way the exchange fails maps to an error type, the message AWS gave
and a fix the user can act on (the deployment guide's troubleshooting rows),
in the status, in the `credentials` command's refusal and in
`agv-agent check --online`; failures while credentials are still valid are a
warning, retries back off and honour a throttling delay."""

import json
import re
import time

import pytest

from agvtest import TestPKI, deploy_pair, wait_until
from credtest import cred_status, credentials, parse_exp, reasons, wait_state
from rolesanywhere import arn_ta, free_port


def _pair(endpoint, a, **kw):
    cert, key = endpoint.pki.client(**kw)
    deploy_pair(a.pki_dir, cert, key, ca=endpoint.pki)


# name -> (prepare(endpoint, agent, tmp_path) -> extra [credentials] keys or None,
#          mapped type, AWS type (None: no reply), part of the message, fix pattern)
CASES = {
    "trust_anchor_disabled": (lambda e, a, t: e.s.set(mode="trust_anchor_disabled"), "trust_anchor_disabled",
                              "AccessDeniedException", "Trust anchor is disabled", r"enable-trust-anchor"),
    "profile_disabled": (lambda e, a, t: e.s.set(mode="profile_disabled"), "profile_disabled",
                         "AccessDeniedException", "Profile is disabled", r"enable-profile"),
    "untrusted_ca": (lambda e, a, t: (lambda p: deploy_pair(a.pki_dir, *p.client(), ca=p))(TestPKI()), "untrusted_certificate",
                     "AccessDeniedException", "Untrusted signing certificate", r"(?i)trust anchor"),
    # (a certificate without them never gets this far: the certificate module
    # refuses it, see test_local_refusal_of_a_certificate_aws_would_reject)
    "insufficient_certificate": (lambda e, a, t: e.s.set(mode="insufficient"), "untrusted_certificate",
                           "AccessDeniedException", "Insufficient certificate", r"clientAuth"),
    "access_denied": (lambda e, a, t: e.s.set(mode="access_denied"), "access_denied",
                      "AccessDeniedException", "Unable to assume role", r"(?i)trust policy"),
    "unknown_trust_anchor": (lambda e, a, t: {"trust_anchor_arn": arn_ta(ident="0000dead-0000-4000-8000-000000000000")},
                             "not_found", "ResourceNotFoundException", "Trust anchor not found", r"(?i)arn"),
    "clock_skew": (lambda e, a, t: setattr(e.s, "clock_offset", 900), "clock_skew",
                   "InvalidSignatureException", "Signature expired", r"(?i)clock"),
    "throttling": (lambda e, a, t: e.s.set(mode="throttle"), "throttled", "ThrottlingException", "Rate exceeded", r"."),
    "server_error": (lambda e, a, t: e.s.set(mode="500"), "server_error", "InternalServerException", "", r"."),
    "garbage": (lambda e, a, t: e.s.set(mode="garbage"), "bad_response", None, "", r"."),
    "empty_credentials": (lambda e, a, t: e.s.set(mode="empty"), "bad_response", None, "", r"."),
    "no_credentials_field": (lambda e, a, t: e.s.set(mode="no_credentials_field"), "bad_response", None, "", r"."),
    "connect_refused": (lambda e, a, t: {"endpoint": f"https://127.0.0.1:{free_port()}"}, "connect_failure", None, "",
                        r"(?i)endpoint|reach|network|firewall"),
    "dns": (lambda e, a, t: {"endpoint": "https://rolesanywhere.agv-test.invalid"}, "dns_failure", None, "",
            r"(?i)dns|resolv"),
    "tls_untrusted_endpoint": (lambda e, a, t: {"ca_file": _other_ca(t)}, "tls_failure", None, "", r"ca_file"),
    "timeout": (lambda e, a, t: (setattr(e.s, "slow_seconds", 6), e.s.set(mode="slow"), {"timeout": "1s"})[-1],
                "timeout", None, "", r"(?i)timeout|endpoint|network"),
}


def _other_ca(tmp_path):
    import rolesanywhere as ra
    p = tmp_path / "other-ca.pem"
    p.write_bytes(ra.make_tls()[0])
    return str(p)


@pytest.mark.parametrize("case", sorted(CASES))
def test_error_mapping(agents, endpoint, tmp_path, case):
    prepare, kind, aws_type, message, fix = CASES[case]
    a = agents(endpoint.section(retry_max="1s"))
    extra = prepare(endpoint, a, tmp_path)
    if isinstance(extra, dict):
        a.update_config("credentials", **extra)
    a.start()
    st = wait_state(a, "failed", timeout=30)
    err = st["last_error"]
    assert err["type"] == kind, err
    assert err["aws_type"] == aws_type, err
    assert message in err["message"], err
    assert err["fix"] and re.search(fix, err["fix"]), err
    assert st["failures"] >= 1 and st["expiration"] is None
    # no credentials at all: critical, named in the reason
    (r,) = reasons(a, "credentials_failed")
    assert r["level"] == "critical"
    assert a.status()["state"] == "critical"
    ok, e = credentials(a)
    # AWS said no (retrying will not help) vs. transient (network, 5xx, throttling, bad replies)
    rejected = aws_type is not None and kind not in ("throttled", "server_error")
    assert not ok and e["code"] == ("credentials_rejected" if rejected else "credentials_unavailable"), e
    assert err["type"] in e["message"] and err["fix"] in e["message"]
    # the same diagnosis from a one-off check, no daemon involved
    a.stop()
    r = a.cli("check", "--online", "--json", "--config", a.config_path, timeout=60)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    online = json.loads(r.stdout)["online"]
    assert online["ok"] is False
    assert online["error"]["type"] == kind and re.search(fix, online["error"]["fix"]), online
    # the text form names type, message and fix for a human
    r = a.cli("check", "--online", "--config", a.config_path, timeout=60)
    assert r.returncode == 2
    assert online["error"]["fix"] in r.stdout + r.stderr


def test_local_refusal_of_a_certificate_aws_would_reject(agents, endpoint):
    """A client certificate without extendedKeyUsage clientAuth is refused
    by the certificate module already: no request goes to AWS at all."""
    a = agents(endpoint.section(retry_max="1s"))
    _pair(endpoint, a, eku=False)
    a.start()
    err = wait_state(a, "failed")["last_error"]
    assert err["type"] == "no_certificate" and err["fix"]
    assert endpoint.s.count() == 0
    assert "clientAuth" in json.dumps(a.status()["certificate"])


def test_clock_skew_message_says_whether_clock_is_synchronised(agents, endpoint):
    endpoint.s.clock_offset = -900  # the endpoint is 15 min behind: we are "in the future"
    a = agents(endpoint.section(retry_max="1s"))
    a.start()
    err = wait_state(a, "failed")["last_error"]
    assert err["type"] == "clock_skew" and err["aws_type"] == "InvalidSignatureException"
    assert "Signature not yet current" in err["message"]
    assert re.search(r"(?i)(not )?synchroni[sz]ed", err["fix"]), err


def test_check_online_success(agents, endpoint):
    a = agents(endpoint.section())
    r = a.cli("check", "--online", "--json", "--config", a.config_path, timeout=60)
    assert r.returncode in (0, 1), r.stderr
    online = json.loads(r.stdout)["online"]
    assert online["ok"] is True and online["error"] is None
    assert online["role_arn"] == endpoint.s.role_arns[0]
    assert online["endpoint"] == endpoint.host
    assert len(endpoint.ok_requests()) == 1
    issued = endpoint.s.issued[0]
    assert online["expiration"] == issued["expiration"]
    # no secret on the terminal
    assert issued["secretAccessKey"] not in r.stdout + r.stderr
    assert issued["sessionToken"] not in r.stdout + r.stderr
    r = a.cli("check", "--online", "--config", a.config_path, timeout=60)
    assert r.returncode in (0, 1)
    assert endpoint.s.role_arns[0] in r.stdout and endpoint.s.issued[1]["expiration"] in r.stdout
    assert endpoint.s.issued[1]["secretAccessKey"] not in r.stdout + r.stderr


def test_failure_while_valid_is_a_warning_then_critical(agents, endpoint):
    endpoint.s.profile_max_duration = 20
    a = agents(endpoint.section(retry_max="2s"))
    a.start()
    wait_state(a, "valid")
    ok, first = credentials(a)
    endpoint.s.set(mode="500")
    # the refresh fails while the first credentials are still valid
    wait_until(lambda: reasons(a, "credentials_failed"), 30, what="credentials_failed")
    st = cred_status(a)
    r = reasons(a, "credentials_failed")[0]
    ok, c = credentials(a)
    if parse_exp(first["Expiration"]).timestamp() > time.time() + 1:
        assert r["level"] == "warning", (r, st)
        assert st["expiration"] == first["Expiration"]
        assert ok and c["AccessKeyId"] == first["AccessKeyId"]
    # once they expire nothing valid remains: critical
    wait_until(lambda: (reasons(a, "credentials_failed") or [{}])[0].get("level") == "critical", 40,
               what="critical once expired")
    ok, e = credentials(a)
    assert not ok and e["code"] == "credentials_unavailable"  # a 5xx is transient
    # and recovers on its own
    endpoint.s.set(mode="ok")
    wait_state(a, "valid", timeout=30)
    assert not reasons(a, "credentials_failed")
    assert credentials(a)[0]


def test_retries_back_off_then_succeed(agents, endpoint):
    endpoint.s.set(script=["500", "500", "500"])
    a = agents(endpoint.section(retry_max="2s"))
    a.start()
    wait_state(a, "valid", timeout=30)
    reqs = endpoint.s.requests
    assert [r["verdict"] for r in reqs[:4]] == ["500", "500", "500", "ok"]
    gaps = [reqs[i + 1]["time"] - reqs[i]["time"] for i in range(3)]
    # exponential from ~1 s, with jitter, capped at retry_max
    assert all(g >= 0.5 for g in gaps), gaps
    st = cred_status(a)
    assert st["failures"] == 3 and st["exchanges"] >= 4


def test_throttling_delay_is_honoured(agents, endpoint):
    endpoint.s.retry_after = 3
    endpoint.s.set(script=["throttle"])
    a = agents(endpoint.section(retry_max="1s"))
    a.start()
    wait_state(a, "valid", timeout=30)
    r0, r1 = endpoint.s.requests[:2]
    assert r0["verdict"] == "ThrottlingException" and r1["verdict"] == "ok"
    # the reply asked for 3 s: the agent waits at least that long (its own
    # retry_max of 1 s would have been sooner)
    assert r1["time"] - r0["time"] >= 3 - 0.1, r1["time"] - r0["time"]
