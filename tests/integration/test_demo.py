"""The README's demo command runs end to end (without waiting for Ctrl-C)."""

import os
import re
import subprocess

from agvtest import AGENT, SLOW, SOURCE_DIR


def test_demo_script(tmp_path):
    env = dict(os.environ, AGV_AGENT=AGENT, AGV_DEMO_NO_WAIT="1", TMPDIR=str(tmp_path), NO_COLOR="1")
    r = subprocess.run([os.path.join(SOURCE_DIR, "contrib", "demo.sh")], capture_output=True, text=True,
                       env=env, timeout=180 * SLOW)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    # the agent came up healthy with the signer child
    assert re.search(r"agv-agent \S+: ok: .* \(agent up \d+s\)", out), out
    assert re.search(r"^signer +running, pid \d+, up \d+s", out, re.M), out
    assert "signer ready" in out
    # the MCP call through `agv-agent mcp` reached the demo signer
    assert re.search(r'"text":"0x[0-9a-f]{40}"', out), out
    # the renewal was picked up: a second serial became active, generation 2
    serials = re.findall(r"^certificate .*, serial ([0-9A-F]+),", out, re.M)
    assert len(serials) == 2 and serials[0] != serials[1], out
    assert re.search(r"generation 2\b", out), out
    # the permission drift was repaired
    assert re.search(r"-r--r----- .*client\.key", out), out
    # everything was removed
    assert "stopped and cleaned up" in out
    assert os.listdir(tmp_path) == [], os.listdir(tmp_path)
