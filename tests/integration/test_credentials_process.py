"""`agv-agent credential-process`: the AWS SDKs' credential_process served
from the daemon's cache. Real consumers nobody here wrote (botocore and the
AWS SDK for JavaScript v3 via fromIni) obtain the credentials through a
one-line profile and use them for a SigV4-signed call that a local STS
checks against what the Roles Anywhere stand-in issued. Also: exit codes
per failure class, the helper's flags, who may fetch, 200 concurrent calls
costing one exchange, and no secret in any log."""

import concurrent.futures
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from agvtest import AGENT, SLOW, SOURCE_DIR, wait_until
from credtest import assert_process_json, cred_status, credential_process, credentials, issued_for, wait_state
from sigv4_sts import StsEndpoint

JS_DIR = os.path.join(SOURCE_DIR, "tests", "aws-sdk-js")


@pytest.fixture
def sts(endpoint):
    s = StsEndpoint(endpoint.issued_path)
    yield s
    s.close()


def aws_config(tmp_path, agent, extra=""):
    """A ~/.aws/config whose profile is the guide's single line with the
    binary swapped."""
    p = tmp_path / "aws-config"
    p.write_text(f"[profile agv]\nregion = eu-central-1\n"
                 f"credential_process = {AGENT} credential-process --socket {agent.socket}{extra}\n")
    return str(p)


def test_output_is_exactly_the_sdk_json(agents, endpoint):
    a = agents(endpoint.section()).start()
    wait_state(a, "valid")
    r = credential_process("--socket", a.socket)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout.count("\n") <= 1
    out = assert_process_json(r.stdout)
    c = issued_for(endpoint, out["AccessKeyId"])
    assert (out["SecretAccessKey"], out["SessionToken"], out["Expiration"]) == \
        (c["secretAccessKey"], c["sessionToken"], c["expiration"])
    assert len(endpoint.s.requests) == 1  # served from the cache


def test_botocore_obtains_and_uses_credentials(agents, endpoint, sts, tmp_path):
    import botocore.session
    a = agents(endpoint.section()).start()
    wait_state(a, "valid")
    os.environ["AWS_CONFIG_FILE"] = aws_config(tmp_path, a)
    try:
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
        s = botocore.session.Session(profile="agv")
        creds = s.get_credentials()
        assert creds.method == "custom-process"
        frozen = creds.get_frozen_credentials()
        issued = issued_for(endpoint, frozen.access_key)
        assert frozen.secret_key == issued["secretAccessKey"] and frozen.token == issued["sessionToken"]
        client = s.create_client("sts", region_name="eu-central-1", endpoint_url=sts.url)
        ident = client.get_caller_identity()
        assert ident["UserId"].endswith(":" + frozen.access_key)
        assert ident["Arn"].endswith("/" + str(issued["serial"]))
        assert sts.calls == [(frozen.access_key, "ok")]
    finally:
        os.environ.pop("AWS_CONFIG_FILE", None)
        os.environ.pop("AWS_SHARED_CREDENTIALS_FILE", None)
    assert len(endpoint.s.requests) == 1


def test_the_verifier_refuses_other_credentials(endpoint, sts):
    """The STS stand-in is not a rubber stamp: a correctly signed call with
    credentials the Roles Anywhere stand-in never issued is refused."""
    import botocore.session
    from botocore.exceptions import ClientError
    s = botocore.session.Session()
    s.set_credentials("ASIAAGVTESTNOTISSUED", "secret", "token")
    client = s.create_client("sts", region_name="eu-central-1", endpoint_url=sts.url)
    with pytest.raises(ClientError) as e:
        client.get_caller_identity()
    assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_aws_sdk_js_v3_obtains_and_uses_credentials(agents, endpoint, sts, tmp_path):
    if not os.path.isdir(os.path.join(JS_DIR, "node_modules")):
        subprocess.run([os.path.join(SOURCE_DIR, "contrib", "npm-deps.sh"), "tests/aws-sdk-js"], check=True)
    a = agents(endpoint.section()).start()
    wait_state(a, "valid")
    env = dict(os.environ, AWS_CONFIG_FILE=aws_config(tmp_path, a),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    env.pop("AWS_PROFILE", None)
    r = subprocess.run(["node", "consume.mjs", "agv", sts.url], cwd=JS_DIR, capture_output=True, text=True,
                       env=env, timeout=60 * SLOW)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    issued = issued_for(endpoint, out["accessKeyId"])
    assert out["hasSecret"]
    assert out["expiration"].replace(".000Z", "Z") == issued["expiration"]
    assert out["userId"].endswith(":" + out["accessKeyId"])
    assert (out["accessKeyId"], "ok") in sts.calls
    assert len(endpoint.s.requests) == 1


def test_200_concurrent_calls_cost_one_exchange(agents, endpoint):
    # the first exchange is still in flight when the calls arrive
    endpoint.s.slow_seconds = 2 * SLOW
    endpoint.s.set(script=["slow"])
    a = agents(endpoint.section()).start()

    def one(_):
        return credential_process("--socket", a.socket, timeout=60)
    with concurrent.futures.ThreadPoolExecutor(50) as ex:
        results = list(ex.map(one, range(200)))
    bad = [(r.returncode, r.stderr) for r in results if r.returncode != 0]
    assert not bad, bad[:3]
    keys = {json.loads(r.stdout)["AccessKeyId"] for r in results}
    assert len(keys) == 1
    assert endpoint.s.count() == 1
    assert cred_status(a)["exchanges"] == 1


def test_exit_codes_per_failure_class(agents, endpoint, tmp_path):
    # 64: bad arguments
    r = credential_process("--no-such-flag")
    assert r.returncode == 64 and r.stdout == "" and r.stderr
    r = credential_process("--session-duration", "ten")
    assert r.returncode == 64 and r.stdout == ""
    # 69: nobody listening, no flags for a direct exchange
    r = credential_process("--socket", str(tmp_path / "nothing.sock"))
    assert r.returncode == 69 and r.stdout == "" and "nothing.sock" in r.stderr
    # 78: the daemon has no [credentials]
    plain = agents(name="plain").start()
    r = credential_process("--socket", plain.socket)
    assert r.returncode == 78 and r.stdout == "" and "[credentials]" in r.stderr
    # 76: AWS rejected (profile disabled)
    endpoint.s.set(mode="profile_disabled")
    a = agents(endpoint.section(retry_max="1s"), name="rejected").start()
    wait_state(a, "failed")
    r = credential_process("--socket", a.socket)
    assert r.returncode == 76 and r.stdout == ""
    assert "Profile is disabled" in r.stderr and "enable-profile" in r.stderr
    # 75: network (endpoint answers 500)
    endpoint.s.set(mode="500")
    b = agents(endpoint.section(retry_max="1s"), name="network").start()
    wait_state(b, "failed")
    r = credential_process("--socket", b.socket)
    assert r.returncode == 75 and r.stdout == ""


def helper_flags(endpoint, agent, **over):
    f = {"--certificate": os.path.join(agent.pki_dir, "client.crt"),
         "--private-key": os.path.join(agent.pki_dir, "client.key"),
         "--trust-anchor-arn": endpoint.s.trust_anchor_arn, "--profile-arn": endpoint.s.profile_arn,
         "--role-arn": endpoint.s.role_arns[0], "--endpoint": endpoint.url, "--ca-file": endpoint.ca_file}
    f.update(over)
    out = []
    for k, v in f.items():
        if v is not None:
            out += [k, v]
    return out


def test_helper_flags_served_from_cache_or_exchanged_directly(agents, endpoint):
    a = agents(endpoint.section()).start()
    wait_state(a, "valid")
    ok, cached = credentials(a)
    # the guide's flags naming the daemon's identity: the cache answers
    r = credential_process("--socket", a.socket, *helper_flags(endpoint, a))
    assert r.returncode == 0, r.stderr
    assert assert_process_json(r.stdout)["AccessKeyId"] == cached["AccessKeyId"]
    assert len(endpoint.s.requests) == 1
    # another role: not the daemon's identity -> a direct exchange (root can read the key)
    endpoint.s.role_arns.append("arn:aws:iam::123456789012:role/other")
    r = credential_process("--socket", a.socket,
                           *helper_flags(endpoint, a, **{"--role-arn": "arn:aws:iam::123456789012:role/other",
                                                         "--session-duration": "900"}))
    assert r.returncode == 0, r.stderr
    out = assert_process_json(r.stdout)
    assert out["AccessKeyId"] != cached["AccessKeyId"]
    assert issued_for(endpoint, out["AccessKeyId"])["roleArn"].endswith("/other")
    assert endpoint.s.requests[-1]["verdict"] == "ok" and len(endpoint.s.requests) == 2
    # no daemon at all: the flags alone still work, like the official helper
    r = credential_process("--socket", "/nonexistent/agv.sock", *helper_flags(endpoint, a))
    assert r.returncode == 0, r.stderr
    assert len(endpoint.s.requests) == 3
    # unreadable key and no daemon: 66
    r = credential_process("--socket", "/nonexistent/agv.sock",
                           *helper_flags(endpoint, a, **{"--private-key": "/nonexistent/client.key"}))
    assert r.returncode == 66 and "/nonexistent/client.key" in r.stderr


def test_forbidden_peer_refused_and_logged(agents, endpoint, tmp_path):
    if os.getuid() != 0:
        pytest.skip("needs root to act as another user")
    # nobody reaches the socket through its group (nogroup), like test_core;
    # whether it gets credentials is [credentials]' decision. pytest's tmp
    # dirs are 0700, so the socket lives in a directory of its own.
    with tempfile.TemporaryDirectory(prefix="agv-sock-") as sockdir:
        os.chmod(sockdir, 0o755)
        path = os.path.join(sockdir, "agent.sock")
        a = agents({**endpoint.section(), "agent": {"socket": path, "socket_mode": "0660", "socket_group": "nogroup"}})
        a.socket = path
        a.start()
        wait_state(a, "valid")
        r = credential_process("--socket", path, user="nobody")
        assert r.returncode == 77, (r.returncode, r.stderr)
        assert r.stdout == "" and "forbidden" in r.stderr
        wait_until(lambda: "Refused credentials to uid" in a.log(), what="refusal logged")
        nobody = __import__("pwd").getpwnam("nobody").pw_uid
        assert f"uid {nobody}" in a.log()
        # root (default) may; allowing nobody's group lets it in
        assert credential_process("--socket", path).returncode == 0
        a.update_config("credentials", allowed_groups="nogroup")
        a.reload()
        r = credential_process("--socket", path, user="nobody")
        assert r.returncode == 0, r.stderr
        # and taking the group away again refuses it again (reload applies)
        a.update_config("credentials", allowed_users="daemon", allowed_groups=None)
        a.reload()
        assert credential_process("--socket", path, user="nobody").returncode == 77
        a.stop()


def test_secrets_never_in_logs_status_or_files(agents, endpoint, tmp_path):
    endpoint.s.profile_max_duration = 20  # a refresh happens too
    a = agents({**endpoint.section(retry_max="1s"),
                "alerts": {"textfile": str(tmp_path / "agv.prom")}})
    a.start()
    wait_state(a, "valid")
    r = credential_process("--socket", a.socket)
    assert r.returncode == 0
    wait_until(lambda: len(endpoint.ok_requests()) >= 2, 30, what="a refresh")
    endpoint.s.set(script=["garbage", "500"])
    status = json.dumps(a.status())
    metrics = a.call("metrics")
    a.stop()
    secrets = endpoint.s.secrets_issued()
    assert len(secrets) >= 4
    haystacks = {"agent stderr": a.log(), "status": status, "metrics": json.dumps(metrics),
                 "credential-process stderr": r.stderr}
    for root in (a.state_dir, a.dir, str(tmp_path)):
        for d, _, files in os.walk(root):
            for f in files:
                p = os.path.join(d, f)
                if p.startswith(endpoint.issued_path) or os.path.islink(p) or not os.path.isfile(p):
                    continue
                with open(p, "rb") as fh:
                    haystacks[p] = fh.read().decode(errors="replace")
    for name, text in haystacks.items():
        for s in secrets:
            assert s not in text, f"a secret reached {name}"
            assert s[:24] not in text, f"part of a secret reached {name}"


CHILD = r'''
import json, os, sys, time
import botocore.session
out = sys.argv[1]
res = {"AWS_CONFIG_FILE": os.environ.get("AWS_CONFIG_FILE"), "AWS_PROFILE": os.environ.get("AWS_PROFILE")}
try:
    res["config"] = open(os.environ["AWS_CONFIG_FILE"]).read()
    s = botocore.session.Session()
    c = s.get_credentials().get_frozen_credentials()
    res["access_key"] = c.access_key
    res["identity"] = s.create_client("sts", endpoint_url=sys.argv[2]).get_caller_identity()["UserId"]
except Exception as e:
    res["error"] = repr(e)
with open(out + ".tmp", "w") as f:
    json.dump(res, f)
os.rename(out + ".tmp", out)
time.sleep(3600)
'''


def test_signer_child_gets_a_working_aws_config(agents, endpoint, sts, tmp_path):
    """A [child] without an AWS profile of its own gets the agent's
    AWS_CONFIG_FILE: botocore in the child (default session, no flags)
    obtains the credentials through it and uses them."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    out = tmp_path / "child.json"
    a = agents({**endpoint.section(),
                "child": {"command": f"/usr/bin/python3 {script} {out} {sts.url}", "restart_backoff_max": "1h"}})
    a.start()
    wait_until(lambda: out.exists(), 30, what="the child's report")
    res = json.loads(out.read_text())
    assert "error" not in res, res
    cfg = res["AWS_CONFIG_FILE"]
    assert cfg and cfg.startswith("/") and not cfg.startswith(a.pki_dir)
    lines = [l.strip() for l in res["config"].splitlines()]
    cp = [l for l in lines if l.startswith("credential_process")]
    assert len(cp) == 1 and "credential-process" in cp[0] and "\\" not in cp[0]
    assert any(l.replace(" ", "") == "region=" + endpoint.s.region for l in lines)
    issued_for(endpoint, res["access_key"])
    assert res["identity"].endswith(":" + res["access_key"])
    assert (res["access_key"], "ok") in sts.calls
    # one exchange: the child was served from the daemon's cache
    assert len(endpoint.s.requests) == 1


def test_child_with_its_own_profile_keeps_it(agents, endpoint, tmp_path):
    script = tmp_path / "child.sh"
    out = tmp_path / "env.txt"
    script.write_text(f"#!/bin/sh\nenv > {out}.tmp; mv {out}.tmp {out}; exec sleep 3600\n")
    script.chmod(0o755)
    a = agents({**endpoint.section(),
                "child": {"command": str(script), "environment": "AWS_PROFILE=rolesanywhere-kms",
                          "restart_backoff_max": "1h"}})
    a.start()
    wait_until(lambda: out.exists(), 30, what="the child's environment")
    env = dict(l.split("=", 1) for l in out.read_text().splitlines() if "=" in l)
    assert env.get("AWS_PROFILE") == "rolesanywhere-kms"
    assert "AWS_CONFIG_FILE" not in env
