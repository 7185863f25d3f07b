"""Helpers of the alerting tests: a scripted webhook receiver, a real
Prometheus Alertmanager, and certificate deployment with chosen notAfter.
Everything started here is stopped by its fixture, also on failure."""

import datetime
import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest

from agvtest import TestPKI, deploy_pair, serial_hex, wait_until, SLOW

DAY = 86400


class WebhookServer:
    """HTTP receiver on 127.0.0.1. `script` is consumed one entry per request:
    an int status to answer, or ("sleep", seconds, status) to stall first
    (a timeout seen by the agent). When it runs out, it answers 200."""

    def __init__(self):
        self.requests = []   # dicts: path, headers, body (parsed JSON), raw, time
        self.script = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                with outer.lock:
                    action = outer.script.pop(0) if outer.script else 200
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        body = None
                    outer.requests.append({"path": self.path, "headers": dict(self.headers), "raw": raw,
                                           "body": body, "time": time.time(), "answer": action})
                if isinstance(action, tuple):
                    time.sleep(action[1])
                    action = action[2]
                try:
                    self.send_response(action)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self, name=None, status=None):
        with self.lock:
            out = [r["body"] for r in self.requests if r["body"] is not None]
        return [b for b in out if (name is None or b.get("alertname") == name)
                and (status is None or b.get("status") == status)]

    def wait_bodies(self, count, name=None, status=None, timeout=15):
        return wait_until(lambda: (lambda b: b if len(b) >= count else None)(self.bodies(name, status)),
                          timeout, what=f"{count} webhook request(s) {name or ''} {status or ''}")

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def webhook():
    s = WebhookServer()
    yield s
    s.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Alertmanager:
    """/usr/bin/prometheus-alertmanager on 127.0.0.1 with temp storage."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="agv-am-")
        self.port = free_port()
        self.cluster_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = os.path.join(self.dir, "alertmanager.yml")
        with open(cfg, "w") as f:
            f.write("route:\n  receiver: none\n  group_wait: 1h\nreceivers:\n  - name: none\n")
        self.log = open(os.path.join(self.dir, "am.log"), "wb")
        self.proc = subprocess.Popen(
            ["/usr/bin/prometheus-alertmanager", f"--config.file={cfg}",
             f"--storage.path={self.dir}/data", f"--web.listen-address=127.0.0.1:{self.port}",
             f"--cluster.listen-address=", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_until(self._ready, 30, interval=0.1, what="Alertmanager ready")
        except BaseException:
            self.close()
            raise

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("alertmanager exited:\n" + open(os.path.join(self.dir, "am.log")).read())
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def alerts(self, active=None):
        q = "" if active is None else f"?active={'true' if active else 'false'}&inhibited=true&silenced=true&unprocessed=true"
        with urllib.request.urlopen(self.url + "/api/v2/alerts" + q, timeout=5) as r:
            return json.load(r)

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def alertmanager():
    am = Alertmanager()
    yield am
    am.close()


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def deploy(agent, pki, days=None, not_after=None, ca=True):
    """Issue a client certificate from `pki` with notAfter now+days (or the
    given datetime) and install it in the agent's PKI dir. Returns the cert."""
    if not_after is None:
        not_after = utcnow() + datetime.timedelta(days=days)
    cert, key = pki.client(not_after=not_after.replace(microsecond=0))
    deploy_pair(agent.pki_dir, cert, key, ca=pki if ca else None)
    return cert


def alerts_status(agent):
    return agent.status()["alerts"]


def wait_serial(agent, serial, timeout=15):
    """Wait until the alerts module plans for the certificate `serial`."""
    def ok():
        certs = alerts_status(agent).get("certificates") or []
        return any(c["role"] == "client" and c["serial"] == serial for c in certs)
    wait_until(ok, timeout, what=f"alerts to see serial {serial}")


def set_offset(agent, seconds):
    """Travel in time: [test] clock_offset and SIGHUP (docs/alerts.md)."""
    agent.update_config("test", clock_offset=int(seconds))
    agent.reload()


def offset_to(cert, before_expiry):
    """The clock offset that puts "now" `before_expiry` seconds before the
    cert's notAfter (negative: after it)."""
    na = cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    return int((na - utcnow()).total_seconds() - before_expiry)
