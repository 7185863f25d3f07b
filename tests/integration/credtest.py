"""Helpers of the credentials tests: the Roles Anywhere stand-in as a
fixture (trusting the agents' default test CA), the [credentials] section
that points an agent at it, and readers for the status section and the
`credentials` control command. Everything started here is stopped by its
fixture, also on failure."""

import datetime
import json
import os
import subprocess

import pytest

import rolesanywhere as ra
from agvtest import AGENT, SLOW, TestPKI, default_pair, wait_until


class Endpoint:
    """A stand-in whose trust anchor is the CA of agvtest's default pair
    (so a fresh Agent's certificate is trusted), plus its TLS CA file."""

    def __init__(self, tmp_path, anchors=None):
        default_pair()
        self.pki = default_pair.pki
        ca_pem, cert_pem, key_pem = ra.make_tls()
        self.ca_file = str(tmp_path / "endpoint-ca.pem")
        with open(self.ca_file, "wb") as f:
            f.write(ca_pem)
        self.issued_path = str(tmp_path / "issued.json")
        self.s = ra.StandIn(anchors or [self.pki.ca_cert], cert_pem, key_pem, issued_path=self.issued_path)
        self.url = self.s.url
        self.host = f"127.0.0.1:{self.s.port}"

    def __getattr__(self, name):  # mode, script, issued, requests, count ... of the stand-in
        return getattr(self.s, name)

    def section(self, **keys):
        sec = {"trust_anchor_arn": self.s.trust_anchor_arn, "profile_arn": self.s.profile_arn,
               "role_arn": self.s.role_arns[0], "endpoint": self.url, "ca_file": self.ca_file}
        sec.update(keys)
        return {"credentials": sec}

    def ok_requests(self):
        return [r for r in self.s.requests if r["verdict"] == "ok"]

    def close(self):
        self.s.close()


@pytest.fixture
def endpoint(tmp_path):
    e = Endpoint(tmp_path)
    yield e
    e.close()


def cred_status(agent):
    st = agent.status()
    return st.get("credentials") or st.get("sections", {}).get("credentials")


def wait_state(agent, *states, timeout=20):
    return wait_until(lambda: (lambda s: s if s and s["state"] in states else None)(cred_status(agent)),
                      timeout, what=f"credentials state in {states}")


def credentials(agent):
    """The `credentials` control command: (ok, result-or-error)."""
    r = agent.call("credentials")
    return (True, r["result"]) if r["ok"] else (False, r["error"])


def reasons(agent, code):
    return [r for r in agent.status()["reasons"] if r["code"] == code]


def parse_exp(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def issued_for(endpoint, access_key_id):
    m = [c for c in endpoint.s.issued if c["accessKeyId"] == access_key_id]
    assert len(m) == 1, f"{access_key_id} was not issued by the stand-in"
    return m[0]


def credential_process(*args, env=None, user=None, timeout=30):
    """Run `agv-agent credential-process ARGS` -> CompletedProcess."""
    cmd = [AGENT, "credential-process", *args]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", "--regid=nogroup", "--clear-groups", *cmd]
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=timeout * SLOW)


def assert_process_json(stdout):
    """credential_process output as the AWS SDKs require it."""
    out = json.loads(stdout)
    assert out["Version"] == 1
    assert set(out) == {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}, out
    parse_exp(out["Expiration"])
    return out


def another_ca_pair(key="rsa2048"):
    """A well-formed client pair whose CA the endpoint does not trust."""
    return TestPKI().client(key=key)
