"""Static checks of what units/ installs: systemd accepts every unit, the
service's exposure stays within the target, every MESSAGE_ID has a catalog
entry, and `cmake --install` lays files out where systemd finds them (the
package built from that install: tests/package)."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import BUILD_DIR, SOURCE_DIR

UNITS = os.path.join(SOURCE_DIR, "units")
# Exposure target of the issue: 2.5 (systemd-analyze counts in tenths).
EXPOSURE_THRESHOLD = 25


def analyze(*args, **kw):
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, **kw)


def staged_units(tmp_path):
    """The units as installed (ExecStart= resolved), plus the binary they
    name, in a root directory `systemd-analyze verify --root` can use."""
    root = tmp_path / "root"
    env = dict(os.environ, DESTDIR=str(root))
    subprocess.run(["cmake", "--install", BUILD_DIR, "--prefix", "/usr"], check=True,
                   capture_output=True, env=env)
    return root


def test_service_exposure_within_target():
    path = os.path.join(UNITS, "agv-agent.service")
    r = analyze("security", "--offline=true", "--threshold=%d" % EXPOSURE_THRESHOLD, path)
    m = re.search(r"Overall exposure level for agv-agent.service: ([0-9.]+)", r.stdout)
    assert m, r.stdout + r.stderr
    assert r.returncode == 0, "exposure %s above 2.5:\n%s" % (m.group(1), r.stdout)
    assert float(m.group(1)) <= 2.5


def test_exposure_gate_can_fail(tmp_path):
    """The gate is real: the same unit without its sandboxing fails it."""
    text = open(os.path.join(UNITS, "agv-agent.service")).read()
    loose = "\n".join(l for l in text.splitlines()
                      if not l.startswith(("Protect", "Private", "Restrict", "SystemCall", "Capability")))
    p = tmp_path / "agv-agent.service"
    p.write_text(loose)
    r = analyze("security", "--offline=true", "--threshold=%d" % EXPOSURE_THRESHOLD, str(p))
    assert r.returncode != 0, r.stdout


@pytest.mark.parametrize("unit", ["agv-agent.service", "agv-agent.socket"])
def test_verify_clean(unit, tmp_path):
    # Verify the installed copies so the binary ExecStart= names exists.
    root = staged_units(tmp_path)
    unitdir = root / "usr/lib/systemd/system"
    assert (unitdir / unit).exists(), sorted(os.listdir(unitdir))
    # Verify against the host's unit path plus ours, with our binary on PATH.
    env = dict(os.environ, SYSTEMD_UNIT_PATH="%s:" % unitdir,
               PATH="%s:%s" % (root / "usr/bin", os.environ.get("PATH", "")))
    text = (unitdir / "agv-agent.service").read_text()
    (unitdir / "agv-agent.service").write_text(
        text.replace("ExecStart=/usr/bin/agv-agent", "ExecStart=%s/usr/bin/agv-agent" % root))
    r = analyze("verify", "--man=no", str(unitdir / unit), env=env)
    out = r.stdout + r.stderr
    ours = [l for l in out.splitlines() if "agv-agent" in l]
    assert r.returncode == 0 and not ours, out


def test_verify_catches_errors(tmp_path):
    """The verify check is real: a typo in a directive is reported."""
    p = tmp_path / "agv-agent.service"
    p.write_text(open(os.path.join(UNITS, "agv-agent.service")).read()
                 .replace("ProtectHome=yes", "ProtectHome=yes\nProtectHomez=yes")
                 .replace("ExecStart=/usr/bin/agv-agent", "ExecStart=/bin/true"))
    r = analyze("verify", "--man=no", str(p))
    assert "ProtectHomez" in r.stdout + r.stderr


def test_catalog_has_every_message_id(tmp_path):
    ids = re.findall(r'#define\s+(MSGID_\w+)\s+"([0-9a-f]{32})"',
                     open(os.path.join(SOURCE_DIR, "agent", "message-ids.h")).read())
    assert len(ids) >= 21
    catalog = open(os.path.join(UNITS, "agv-agent.catalog")).read()
    entries = dict(re.findall(r"^-- ([0-9a-f]{32})\n(.*?)(?=^-- [0-9a-f]{32}\n|\Z)", catalog, re.S | re.M))
    missing = [name for name, mid in ids if mid not in entries]
    assert not missing, "no catalog entry for: " + ", ".join(missing)
    for name, mid in ids:
        body = entries[mid]
        assert re.search(r"^Subject: \S", body, re.M), name
        text = body.split("\n\n", 1)[1] if "\n\n" in body else ""
        assert len(text.split()) >= 12, "%s: the entry needs cause and what to do" % name
    # journalctl compiles it (the postinst does the same).
    d = tmp_path / "r"
    (d / "usr/lib/systemd/catalog").mkdir(parents=True)
    shutil.copy(os.path.join(UNITS, "agv-agent.catalog"), d / "usr/lib/systemd/catalog")
    subprocess.run(["journalctl", "--root=%s" % d, "--update-catalog"], check=True)
    listed = subprocess.run(["journalctl", "--root=%s" % d, "--list-catalog"], check=True,
                            capture_output=True, text=True).stdout
    for name, mid in ids:
        assert mid in listed, name


def test_cmake_install_layout(tmp_path):
    root = staged_units(tmp_path)
    expect = {
        "usr/bin/agv-agent": 0o755,
        "usr/lib/systemd/system/agv-agent.service": 0o644,
        "usr/lib/systemd/system/agv-agent.socket": 0o644,
        "usr/lib/sysusers.d/agv-agent.conf": 0o644,
        "usr/lib/tmpfiles.d/agv-agent.conf": 0o644,
        "usr/lib/systemd/catalog/agv-agent.catalog": 0o644,
        "usr/share/bash-completion/completions/agv-agent": 0o644,
        "usr/share/man/man8/agv-agent.8": 0o644,
        "usr/share/man/man5/agv-agent.conf.5": 0o644,
        "etc/agv-agent/agent.conf": 0o644,
    }
    for rel, mode in expect.items():
        p = root / rel
        assert p.is_file(), rel
        assert p.stat().st_mode & 0o7777 == mode, (rel, oct(p.stat().st_mode))
    assert (root / "etc/agv-agent/agent.conf.d").is_dir()
    # The man pages render.
    for page in ("man8/agv-agent.8", "man5/agv-agent.conf.5"):
        out = subprocess.run(["man", "-l", "-P", "cat", str(root / "usr/share/man" / page)],
                             capture_output=True, text=True, env=dict(os.environ, MANWIDTH="80"))
        assert "SEE ALSO" in out.stdout, page


def test_install_honours_another_prefix(tmp_path):
    root = tmp_path / "root"
    env = dict(os.environ, DESTDIR=str(root))
    subprocess.run(["cmake", "--install", BUILD_DIR, "--prefix", "/usr/local"], check=True,
                   capture_output=True, env=env)
    unit = (root / "usr/local/lib/systemd/system/agv-agent.service").read_text()
    assert "ExecStart=/usr/local/bin/agv-agent run" in unit
    assert (root / "usr/local/bin/agv-agent").is_file()
    assert (root / "usr/local/lib/sysusers.d/agv-agent.conf").is_file()
