"""The container's copy of the host's dpkg database is only ever a consistent
one: taken while a host apt-get runs, the copy is torn and apt inside the
container refuses the package (the flaky failure this guards against). A
fake database (a temp dir) stands in for /var/lib/dpkg so the host's is
never locked."""

import fcntl
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from nspawn import snapshot_dpkg

STATUS_OK = "Package: a\nStatus: install ok installed\nVersion: 1\n\n"


def fake_dpkg(root, status=STATUS_OK):
    d = os.path.join(root, "dpkg")
    os.makedirs(os.path.join(d, "updates"))
    os.makedirs(os.path.join(d, "info"))
    for name in ("lock", "lock-frontend"):
        open(os.path.join(d, name), "w").close()
    with open(os.path.join(d, "status"), "w") as f:
        f.write(status)
    return d


def test_consistent_database_is_copied(tmp_path):
    src = fake_dpkg(str(tmp_path))
    dest = str(tmp_path / "copy")
    snapshot_dpkg(dest, timeout=5, src=src)
    with open(os.path.join(dest, "status")) as f:
        assert f.read() == STATUS_OK


@pytest.mark.parametrize("state", ["half-configured", "unpacked", "half-installed", "triggers-pending"])
def test_package_mid_install_is_never_used(tmp_path, state):
    src = fake_dpkg(str(tmp_path), STATUS_OK + f"Package: b\nStatus: install ok {state}\nVersion: 2\n\n")
    with pytest.raises(RuntimeError, match=state):
        snapshot_dpkg(str(tmp_path / "copy"), timeout=1, src=src)


def test_journal_entries_are_never_used(tmp_path):
    src = fake_dpkg(str(tmp_path))
    with open(os.path.join(src, "updates", "0001"), "w") as f:
        f.write("Package: a\n")
    with pytest.raises(RuntimeError, match="updates/"):
        snapshot_dpkg(str(tmp_path / "copy"), timeout=1, src=src)


def test_waits_while_dpkg_holds_its_lock_then_copies_the_finished_state(tmp_path):
    src = fake_dpkg(str(tmp_path), STATUS_OK + "Package: b\nStatus: install ok half-configured\nVersion: 2\n\n")
    # another process plays dpkg: holds the lock, finishes its work, releases
    go = os.path.join(str(tmp_path), "go")
    holder = subprocess.Popen([sys.executable, "-c", f"""
import fcntl, os, time
fd = os.open({os.path.join(src, 'lock-frontend')!r}, os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX)
open({go!r}, "w").close()
while not os.path.exists({go + '.release'!r}):
    time.sleep(0.05)
with open({os.path.join(src, 'status')!r}, "w") as f:
    f.write({STATUS_OK!r} + "Package: b\\nStatus: install ok installed\\nVersion: 2\\n\\n")
"""])
    try:
        while not os.path.exists(go):
            time.sleep(0.05)
        result = {}

        def snap():
            try:
                snapshot_dpkg(str(tmp_path / "copy"), timeout=60, src=src)
                result["ok"] = True
            except Exception as e:  # noqa: BLE001
                result["error"] = e
        t = threading.Thread(target=snap)
        t.start()
        # while the lock is held no copy is accepted, however long it takes
        t.join(1.5)
        assert t.is_alive() and not result, result
        open(go + ".release", "w").close()
        t.join(60)
        assert result.get("ok"), result
        with open(str(tmp_path / "copy" / "status")) as f:
            assert "half-configured" not in f.read()
    finally:
        holder.kill()
        holder.wait()
        shutil.rmtree(str(tmp_path / "copy"), ignore_errors=True)
