"""Fixtures of the system tests: the package built from the build tree, and
ONE booted container per session with that package installed the way
docs/deployment.md says (apt install ./agv-agent_*.deb), torn down at the
end whatever happens."""

import glob
import os
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("AGV_SOURCE_DIR") or os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD_DIR = os.environ.get("AGV_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
SANITIZED = os.environ.get("AGV_SANITIZE", "0") in ("1", "ON", "TRUE", "true")

sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "integration"))

from nspawn import Container  # noqa: E402

# Read-only views of source-tree parts the container needs.
DEMO_SIGNER = os.path.join(SOURCE_DIR, "contrib", "demo-signer")
MCP_TESTS = os.path.join(SOURCE_DIR, "tests", "mcp")


def require_root():
    # Not a skip: on CI these tests must run, so a non-root run is a failure.
    if os.geteuid() != 0:
        pytest.fail("the system tests boot systemd in a container and need root (CI runs them as root)",
                    pytrace=False)


@pytest.fixture(scope="session")
def deb(tmp_path_factory):
    """The .deb of the build tree, made by CPack (which runs `cmake --install`
    with prefix /usr into its staging directory)."""
    require_root()
    out = tmp_path_factory.mktemp("deb")
    r = subprocess.run(["cpack", "-G", "DEB", "--config", os.path.join(BUILD_DIR, "CPackConfig.cmake"),
                        "-B", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, "cpack failed:\n" + r.stdout[-3000:] + r.stderr[-3000:]
    debs = glob.glob(os.path.join(str(out), "agv-agent_*.deb"))
    assert len(debs) == 1, debs
    return debs[0]


@pytest.fixture(scope="session")
def container(deb):
    """A booted Debian 12 systemd with the package installed, not enabled."""
    require_root()
    binds = [(DEMO_SIGNER, "/opt/agv-demo-signer")] if os.path.isdir(DEMO_SIGNER) else []
    with Container(workdir=tempfile.gettempdir(), binds_ro=binds) as c:
        name = os.path.basename(deb)
        subprocess.run(["cp", deb, c.path("/root/" + name)], check=True)
        c.installed_deb = "/root/" + name
        r = c.run(["apt-get", "install", "-y", "--no-install-recommends", "/root/" + name],
                  env={"DEBIAN_FRONTEND": "noninteractive"}, timeout=180)
        c.apt_output = r.stdout + r.stderr
        if SANITIZED:
            # LeakSanitizer needs ptrace, which SystemCallFilter= forbids.
            c.sh("mkdir -p /etc/systemd/system/agv-agent.service.d && "
                 "printf '[Service]\\nEnvironment=ASAN_OPTIONS=detect_leaks=0\\n' "
                 "> /etc/systemd/system/agv-agent.service.d/asan.conf && systemctl daemon-reload")
        yield c
