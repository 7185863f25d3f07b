"""Fixtures of the system tests: the Debian package of the tree (debian/,
built by ctest package/build), and ONE booted container per session with
that package installed the way docs/deployment.md says (apt install
./agv-agent_*.deb), torn down at the end whatever happens."""

import glob
import os
import re
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
# The real signer, installed in the build tree by contrib/real-signer.sh.
REAL_SIGNER = os.environ.get("AGV_REAL_SIGNER_PREFIX") or os.path.join(BUILD_DIR, "real-signer")


def require_root():
    # Not a skip: on CI these tests must run, so a non-root run is a failure.
    if os.geteuid() != 0:
        pytest.fail("the system tests boot systemd in a container and need root (CI runs them as root)",
                    pytrace=False)


DEB_DIR = os.environ.get("AGV_DEB_DIR") or os.path.join(BUILD_DIR, "deb")


@pytest.fixture(scope="session")
def deb():
    """The Debian package of this tree: debian/ built by dpkg-buildpackage
    (contrib/build-deb.sh, ctest package/build, the fixture agv_deb). In the
    sanitizer build it carries the ASan binary (profile pkg.agv-agent.sanitize)."""
    require_root()
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    debs = glob.glob(os.path.join(DEB_DIR, "agv-agent_*_%s.deb" % arch))
    assert len(debs) == 1, "expected one package in %s (ctest -R package/build makes it): %s" % (DEB_DIR, debs)
    return debs[0]


@pytest.fixture(scope="session")
def upgrade_deb(deb, tmp_path_factory):
    """The same package with a higher version (0.1.0 -> 0.1.0+systemtest1),
    repacked with dpkg-deb, so installing it is a real dpkg upgrade: preinst
    upgrade, conffile handling, postinst configure <old version>."""
    d = tmp_path_factory.mktemp("upgrade")
    tree = d / "tree"
    subprocess.run(["dpkg-deb", "-R", deb, str(tree)], check=True)
    ctl = (tree / "DEBIAN" / "control").read_text()
    version = re.search(r"^Version: (.*)$", ctl, re.M).group(1)
    (tree / "DEBIAN" / "control").write_text(
        re.sub(r"^Version: .*$", "Version: %s+systemtest1" % version, ctl, flags=re.M))
    out = d / ("agv-agent_%s+systemtest1.deb" % version)
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(tree), str(out)], check=True,
                   capture_output=True)
    return str(out), version + "+systemtest1"


@pytest.fixture(scope="session")
def container(deb):
    """A booted Debian 12 systemd with the package installed, not enabled."""
    require_root()
    binds = [(DEMO_SIGNER, "/opt/agv-demo-signer")] if os.path.isdir(DEMO_SIGNER) else []
    if os.path.exists(os.path.join(REAL_SIGNER, "bin", "agentic-vault-mcp")):
        binds.append((REAL_SIGNER, "/opt/agv-real-signer"))
    with Container(workdir=tempfile.gettempdir(), binds_ro=binds) as c:
        # A VM has no policy-rc.d; a Docker-built host's (exit 101) would be
        # seen through the /usr overlay and make deb-systemd-invoke skip the
        # package's stop and try-restart. Removed in the overlay only.
        c.run(["rm", "-f", "/usr/sbin/policy-rc.d"])
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
