"""install-cert while official MCP SDK clients keep calling the demo signer
through `agv-agent mcp`: several renewals and a rollback, each activated
through the agent's watch and answered by a replaced child (on_renewal =
restart), with zero failed calls."""

import json
import os
import shutil
import subprocess

import pytest

from agvtest import SLOW, SOURCE_DIR, AGENT, default_pair, serial_hex, wait_until
from pkitest import cert_section
from renewtest import DevMachine, renew

from cryptography import x509

DEMO = os.path.join(SOURCE_DIR, "contrib", "demo-signer", "demo-signer.mjs")
SDK = os.path.join(SOURCE_DIR, "tests", "mcp", "node_modules", "@modelcontextprotocol", "sdk")
LOOP = os.path.join(SOURCE_DIR, "tests", "system", "mcp_loop.mjs")
CLIENTS = 4


def start_loop(agent, tool):
    env = dict(os.environ, AGV_MCP_SDK=SDK, AGV_MCP_TOOL=tool)
    p = subprocess.Popen([shutil.which("node"), LOOP, AGENT, "mcp", "--socket", agent.mcp_socket],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    line = p.stderr.readline()
    if "mcp_loop: calling" not in line:
        p.kill()
        raise AssertionError("the MCP client could not start calling:\n" + line + p.communicate(timeout=30)[1])
    return p


def child(agent):
    return agent.status().get("child") or {}


def test_install_under_load(agents, tmp_path):
    if not os.path.isdir(SDK) or not os.path.isdir(os.path.join(os.path.dirname(DEMO), "node_modules")):
        pytest.fail("npm packages missing: run contrib/npm-deps.sh (the mcp/npm-ci fixture does)")
    node = shutil.which("node")
    a = agents({"child": {"command": f"{node} {DEMO}", "on_renewal": "restart", "drain_timeout": "5s"}}).start()
    wait_until(lambda: child(a).get("state") == "running", 30, what="signer running")
    dev = DevMachine(tmp_path / "devmachine", default_pair.pki)
    loops = [start_loop(a, tool) for tool in ("get_address", "health_check") * (CLIENTS // 2)]
    serials = [cert_section(a)["serial"]]
    try:
        for i, kt in enumerate(("ec-p256", "rsa2048", "ec-p384")):
            replaced = child(a).get("replacements", 0)
            _, pem, r = renew(a, dev, "--key-type", kt)
            assert r.returncode == 0, r.stderr
            serial = serial_hex(x509.load_pem_x509_certificate(pem))
            serials.append(serial)
            wait_until(lambda: cert_section(a)["serial"] == serial, 30, what=f"renewal {i} active")
            wait_until(lambda: child(a).get("replacements", 0) > replaced and child(a).get("state") == "running",
                       30, what=f"child replaced after renewal {i}")
        replaced = child(a).get("replacements", 0)
        r = a.cli("install-cert", "--config", a.config_path, "--rollback")
        assert r.returncode == 0, r.stderr
        wait_until(lambda: cert_section(a)["serial"] == serials[-2], 30, what="rollback active")
        wait_until(lambda: child(a).get("replacements", 0) > replaced and child(a).get("state") == "running",
                   30, what="child replaced after rollback")
    finally:
        results = []
        for p in loops:
            out, err = p.communicate(timeout=60 * SLOW)  # closing stdin stops the client
            assert p.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    print("calls per client:", [(r["tool"], r["calls"], r["failures"]) for r in results])
    for res in results:
        assert res["failures"] == 0, res
        assert res["calls"] > 10, res
    st = cert_section(a)
    assert st["state"] == "ok" and st["generation"] == 5 and st["renewals"] == 4
