"""The signer's side of the deployment guide, checked by `agv-agent check`
and shown in status at start and reload: each troubleshooting row that lives
on the VM is found, with the guide's fix."""

import json
import os
import shutil
import struct
import tempfile

import pytest

from agvtest import wait_until

SIGNER_CODES = {
    "aws_config_continuation", "aws_config_duplicate_section", "aws_profile_missing", "aws_profile_no_region",
    "aws_profile_no_credential_process", "aws_config_unreadable", "aws_config_unreadable_by_signer",
    "aws_config_in_home", "helper_missing", "helper_not_executable", "helper_not_elf", "helper_wrong_architecture",
    "credential_process_certificate_path", "credential_process_key_path", "child_command_missing", "node_missing",
    "node_too_old", "key_unreadable_by_signer",
}


@pytest.fixture
def world(agents):
    """An agent config whose [child] runs /bin/true with an AWS config and a
    credential helper in a world-readable directory (so [child] user nobody
    can be judged on the key alone)."""
    d = tempfile.mkdtemp(prefix="agv-preflight-", dir="/tmp")
    os.chmod(d, 0o755)
    a = agents()
    w = type("World", (), {})()
    w.agent, w.dir = a, d
    w.helper = os.path.join(d, "aws_signing_helper")
    shutil.copy("/bin/true", w.helper)
    os.chmod(w.helper, 0o755)
    w.conf = os.path.join(d, "aws-config")
    w.cert = os.path.join(a.pki_dir, "client.crt")
    w.key = os.path.join(a.pki_dir, "client.key")

    def process(cert=None, key=None):
        return (f"{w.helper} credential-process --certificate {cert or w.cert} --private-key {key or w.key} "
                "--trust-anchor-arn arn:aws:rolesanywhere:eu-west-1:111122223333:trust-anchor/ta "
                "--profile-arn arn:aws:rolesanywhere:eu-west-1:111122223333:profile/p "
                "--role-arn arn:aws:iam::111122223333:role/agentic-vault-signer")

    def write_conf(text):
        with open(w.conf, "w") as f:
            f.write(text)
        os.chmod(w.conf, 0o644)

    w.process, w.write_conf = process, write_conf
    write_conf(f"[profile rolesanywhere-kms]\nregion = eu-west-1\ncredential_process = {process()}\n")
    a.update_config("child", command="/bin/true",
                    environment=f"AWS_CONFIG_FILE={w.conf} AWS_PROFILE=rolesanywhere-kms")
    yield w
    shutil.rmtree(d, ignore_errors=True)


def check(w):
    r = w.agent.cli("check", "--config", w.agent.config_path, "--json")
    out = json.loads(r.stdout)
    found = {f["code"]: f for f in out["findings"] if f["code"] in SIGNER_CODES}
    return r.returncode, found


def test_guide_setup_is_clean(world):
    rc, found = check(world)
    assert found == {}
    assert rc == 0


def test_backslash_continuation(world):
    p = world.process().replace(" --private-key", " \\\n    --private-key")
    world.write_conf(f"[profile rolesanywhere-kms]\nregion = eu-west-1\ncredential_process = {p}\n")
    rc, found = check(world)
    f = found["aws_config_continuation"]
    assert f["severity"] == "critical" and rc == 2
    assert f"{world.conf}:3:" in f["message"]
    assert "single line" in f["fix"] and "remove all" in f["fix"]


def test_duplicate_profile_from_appending_twice(world):
    block = f"\n[profile rolesanywhere-kms]\nregion = eu-west-1\ncredential_process = {world.process()}\n"
    world.write_conf(block + block)
    rc, found = check(world)
    f = found["aws_config_duplicate_section"]
    assert f"{world.conf}:6: [profile rolesanywhere-kms] appears again (first at line 2)" in f["message"]
    assert "cat >" in f["fix"] and rc == 2


def test_missing_profile_and_region(world):
    world.write_conf(f"[profile other]\nregion = eu-west-1\n\n[profile rolesanywhere-kms]\n"
                     f"credential_process = {world.process()}\n")
    _, found = check(world)
    assert set(found) == {"aws_profile_no_region"}
    assert f"{world.conf}:4: [profile rolesanywhere-kms] sets no region" in found["aws_profile_no_region"]["message"]
    world.agent.update_config("child", environment=f"AWS_CONFIG_FILE={world.conf} AWS_PROFILE=typo")
    rc, found = check(world)
    assert "has no [profile typo] section" in found["aws_profile_missing"]["message"]
    assert rc == 2


def test_helper_missing_not_executable_xml_wrong_architecture(world):
    os.unlink(world.helper)
    _, found = check(world)
    assert set(found) == {"helper_missing"}

    with open(world.helper, "w") as f:  # what a wrong-case download URL saves
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code></Error>\n')
    os.chmod(world.helper, 0o644)
    _, found = check(world)
    assert set(found) == {"helper_not_executable"}

    os.chmod(world.helper, 0o755)
    _, found = check(world)
    f = found["helper_not_elf"]
    assert "starts with '<?xml" in f["message"] and "error page" in f["message"]
    assert "file" in f["fix"] and "URL casing" in f["fix"]

    # an ELF header for the other architecture (x86_64 <-> aarch64)
    other = 183 if os.uname().machine == "x86_64" else 62
    with open(world.helper, "wb") as f:
        f.write(b"\x7fELF\x02\x01\x01" + b"\0" * 9 + struct.pack("<HHI", 2, other, 1) + b"\0" * 40)
    rc, found = check(world)
    f = found["helper_wrong_architecture"]
    assert "Exec format error" in f["message"] and "uname -m" in f["fix"] and rc == 2


def test_paths_differ_from_pki(world):
    world.write_conf("[profile rolesanywhere-kms]\nregion = eu-west-1\ncredential_process = "
                     + world.process(cert="/etc/pki/other/client.crt", key="/etc/pki/other/client.key") + "\n")
    _, found = check(world)
    assert f"but the agent watches {world.cert}" in found["credential_process_certificate_path"]["message"]
    assert f"but the agent watches {world.key}" in found["credential_process_key_path"]["message"]


def test_command_missing_and_node_too_old(world):
    world.agent.update_config("child", command="/opt/nowhere/agentic-vault-mcp")
    rc, found = check(world)
    assert "not found" in found["child_command_missing"]["message"] and rc == 2

    # a Node script whose package declares a Node newer than the installed one
    pkg = os.path.join(world.dir, "pkg")
    os.makedirs(os.path.join(pkg, "dist"))
    script = os.path.join(pkg, "dist", "cli.js")
    with open(script, "w") as f:
        f.write("#!/usr/bin/env node\n")
    os.chmod(script, 0o755)
    with open(os.path.join(pkg, "package.json"), "w") as f:
        json.dump({"name": "x", "engines": {"node": ">=99"}}, f)
    world.agent.update_config("child", command=script,
                              environment=f"AWS_CONFIG_FILE={world.conf} AWS_PROFILE=rolesanywhere-kms PATH=/usr/bin:/bin")
    _, found = check(world)
    assert "the signer declares node >= 99" in found["node_too_old"]["message"]
    with open(os.path.join(pkg, "package.json"), "w") as f:
        json.dump({"name": "x", "engines": {"node": ">=18"}}, f)
    _, found = check(world)
    assert found == {}


def test_key_readable_by_child_user_real_groups(world):
    # the PKI in a directory nobody can enter (pytest's tmp is 0700)
    pki = os.path.join(world.dir, "pki")
    shutil.copytree(world.agent.pki_dir, pki)
    os.chmod(pki, 0o755)
    world.key = os.path.join(pki, "client.key")
    world.cert = os.path.join(pki, "client.crt")
    world.write_conf(f"[profile rolesanywhere-kms]\nregion = eu-west-1\ncredential_process = {world.process()}\n")
    world.agent.update_config("pki", dir=pki)
    world.agent.update_config("child", user="nobody")
    os.chown(world.key, 0, 0)
    os.chmod(world.key, 0o440)
    rc, found = check(world)
    f = found["key_unreadable_by_signer"]
    assert "not readable by the signer's user nobody (groups: nogroup)" in f["message"]
    assert "chmod 440" in f["fix"] and rc == 2
    os.chown(world.key, 0, 65534)  # root:nogroup, nobody's group
    _, found = check(world)
    assert "key_unreadable_by_signer" not in found


def test_status_at_start_and_reload(world):
    a = world.agent
    p = world.process().replace(" --private-key", " \\\n    --private-key")
    world.write_conf(f"[profile rolesanywhere-kms]\nregion = eu-west-1\ncredential_process = {p}\n")
    a.start()
    codes = {r["code"]: r for r in a.status()["reasons"]}
    assert codes["aws_config_continuation"]["level"] == "critical"
    assert "single line" in codes["aws_config_continuation"]["message"]
    assert "Signer preflight:" in a.log()
    world.write_conf(f"[profile rolesanywhere-kms]\nregion = eu-west-1\ncredential_process = {world.process()}\n")
    a.reload()
    wait_until(lambda: "aws_config_continuation" not in {r["code"] for r in a.status()["reasons"]},
               what="finding gone after reload")


def test_aws_rows_only_for_the_aws_signer(world):
    """A child that is not Agentic Vault's signer and is given no AWS_*
    setting (the README demo's signer) has no AWS config to get wrong; the
    signer itself with no AWS config at all is told so."""
    home = os.path.join(world.dir, "home")
    os.makedirs(home)
    world.agent.update_config("child", command="/bin/true", environment=f"HOME={home}")
    rc, found = check(world)
    assert found == {} and rc == 0

    signer = os.path.join(world.dir, "agentic-vault-mcp")
    with open(signer, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(signer, 0o755)
    world.agent.update_config("child", command=signer, environment=f"HOME={home}")
    _, found = check(world)
    assert f"{home}/.aws/config cannot be read" in found["aws_config_unreadable"]["message"]
