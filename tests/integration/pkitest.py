"""Helpers for the certificate-module tests: the deployment guide's renewal
commands, a status poller and quick EC pairs."""

import datetime
import os
import subprocess
import threading

from agvtest import cert_pem, key_pem, primary_group


def cert_section(agent):
    return agent.status()["certificate"]


def guide_install(agent, tmp_path, cert, key, group=None):
    """Exactly the guide's three commands, run as separate processes."""
    c = tmp_path / "new-client.crt"
    k = tmp_path / "new-client.key"
    c.write_bytes(cert_pem(cert))
    k.write_bytes(key_pem(key))
    subprocess.run(["install", "-m", "444", str(c), os.path.join(agent.pki_dir, "client.crt")], check=True)
    subprocess.run(["install", "-m", "440", str(k), os.path.join(agent.pki_dir, "client.key")], check=True)
    subprocess.run(["chown", f"root:{group or primary_group()}", os.path.join(agent.pki_dir, "client.key")],
                   check=True)
    c.unlink()
    k.unlink()


def write(path, data, mode=None):
    """Overwrite in place (open O_TRUNC, write, close), like `cp`."""
    with open(path, "wb") as f:
        f.write(data)
    if mode is not None:
        os.chmod(path, mode)


class Poller:
    """Polls status over one control connection in a tight loop and keeps
    every sample: (state, certificate section)."""

    def __init__(self, agent):
        self.client = agent.client()
        self.samples = []
        self.errors = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        try:
            while not self._stop.is_set():
                r = self.client.call("status")
                assert r["ok"], r
                self.samples.append((r["result"]["state"], r["result"]["certificate"]))
        except Exception as e:  # reported by stop()
            self.errors.append(e)

    def stop(self):
        self._stop.set()
        self._t.join(30)
        self.client.close()
        assert not self.errors, self.errors
        return self.samples


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)
