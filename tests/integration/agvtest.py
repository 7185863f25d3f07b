"""Shared helpers for the integration tests: start the real agv-agent with a
temporary configuration, listen to its sd_notify messages on a real datagram
socket, talk to its control socket, and make OpenSSL-backed test PKIs.

Every resource (processes, sockets, temp dirs) is owned by a fixture and
released at teardown, also when a test fails."""

import datetime
import grp
import json
import os
import pwd
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

SOURCE_DIR = os.environ.get("AGV_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
AGENT = os.environ.get("AGV_AGENT") or os.path.join(SOURCE_DIR, "build", "agv-agent")
SANITIZED = os.environ.get("AGV_SANITIZE", "0") in ("1", "ON", "TRUE", "true")
# Sanitizer builds are several times slower; scale every wait by this.
SLOW = 4 if SANITIZED else 1


def primary_group():
    return grp.getgrgid(os.getgid()).gr_name


def wait_until(pred, timeout=10.0, interval=0.01, what="condition"):
    """Poll pred() until it returns a truthy value; fail the test on timeout."""
    deadline = time.monotonic() + timeout * SLOW
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout * SLOW:.0f}s waiting for {what} (last: {last!r})")


class NotifyListener:
    """A NOTIFY_SOCKET: collects sd_notify datagrams as dicts, in order."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.sock.bind(path)
        self.messages = []  # list of dicts, one per datagram
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            msg = {}
            for line in data.decode(errors="replace").split("\n"):
                if "=" in line:
                    k, v = line.split("=", 1)
                    msg[k] = v
            with self._lock:
                self.messages.append(msg)

    def snapshot(self):
        with self._lock:
            return list(self.messages)

    def wait_for(self, key, value=None, after=0, timeout=10.0):
        """Wait for a message (index >= after) with key (and value); return its index."""
        def find():
            msgs = self.snapshot()
            for i in range(after, len(msgs)):
                if key in msgs[i] and (value is None or msgs[i][key] == value):
                    return i + 1
            return None
        return wait_until(find, timeout, what=f"sd_notify {key}={value}") - 1

    def statuses(self):
        return [m["STATUS"] for m in self.snapshot() if "STATUS" in m]

    def close(self):
        self._stop = True
        self._thread.join(2)
        self.sock.close()
        try:  # so the same agent can start again (restart tests)
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class ControlClient:
    """A persistent connection to the control socket."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.settimeout(timeout * SLOW)
        self.sock.connect(path)
        self.buf = b""

    def send_raw(self, data: bytes):
        self.sock.sendall(data)

    def read_line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("control socket closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, command, **args):
        req = dict(args, command=command)
        self.send_raw(json.dumps(req).encode() + b"\n")
        return self.read_line()

    def close(self):
        self.sock.close()


def ini(sections):
    """Render {"agent": {"socket": ...}, ...} as INI text. Values may be
    lists (joined with spaces) or None (key omitted)."""
    out = []
    for name, keys in sections.items():
        out.append(f"[{name}]")
        for k, v in keys.items():
            if v is None:
                continue
            if isinstance(v, (list, tuple)):
                v = " ".join(str(x) for x in v)
            elif isinstance(v, bool):
                v = "yes" if v else "no"
            out.append(f"{k} = {v}")
        out.append("")
    return "\n".join(out)


class Agent:
    """One agv-agent process with its own temp directory and config.

    Layout of self.dir: agent.conf, agent.conf.d/, run/ (sockets), state/,
    pki/ (the watched directory), notify.sock, agent.log (stderr)."""

    def __init__(self, root, sections=None, name="agent"):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        os.makedirs(os.path.join(self.dir, "run"))
        os.makedirs(os.path.join(self.dir, "state"))
        os.makedirs(os.path.join(self.dir, "pki"), mode=0o755)
        os.makedirs(os.path.join(self.dir, "agent.conf.d"))
        self.config_path = os.path.join(self.dir, "agent.conf")
        self.socket = os.path.join(self.dir, "run", "agent.sock")
        self.mcp_socket = os.path.join(self.dir, "run", "mcp.sock")
        self.pki_dir = os.path.join(self.dir, "pki")
        self.state_dir = os.path.join(self.dir, "state")
        self.log_path = os.path.join(self.dir, "agent.log")
        self.proc = None
        self.notify = None
        self.sections = self.default_sections()
        for sec, keys in (sections or {}).items():
            self.sections.setdefault(sec, {}).update(keys)
        self.write_config()
        # a valid pair, so a fresh agent is "ok"; tests deploy their own over it
        deploy_pair(self.pki_dir, *default_pair(), ca=default_pair.pki)

    def default_sections(self):
        return {
            "agent": {"socket": self.socket, "state_dir": self.state_dir,
                      "log_level": "debug", "socket_group": primary_group()},
            "pki": {"dir": self.pki_dir, "group": primary_group()},
            "child": {"mcp_socket": self.mcp_socket},
        }

    def write_config(self, sections=None, text=None):
        if sections is not None:
            self.sections = sections
        with open(self.config_path, "w") as f:
            f.write(text if text is not None else ini(self.sections))

    def update_config(self, section, **keys):
        self.sections.setdefault(section, {}).update(keys)
        self.write_config()

    def start(self, wait_ready=True, env=None, args=(), expect_fail=False, nofile=None):
        """nofile=(soft, hard): the RLIMIT_NOFILE the agent starts with."""
        self.notify = NotifyListener(os.path.join(self.dir, "notify.sock"))
        e = dict(os.environ)
        e.pop("JOURNAL_STREAM", None)
        e["NOTIFY_SOCKET"] = self.notify.path
        e.update(env or {})
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([AGENT, "run", "--config", self.config_path, *args],
                                     stdin=subprocess.DEVNULL, stdout=self.log_file,
                                     stderr=subprocess.STDOUT, env=e, close_fds=True,
                                     preexec_fn=(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, nofile))
                                     if nofile else None)
        if expect_fail:
            rc = self.proc.wait(10 * SLOW)
            self.proc = None
            self.log_file.close()
            self.notify.close()
            self.notify = None
            return rc
        if wait_ready:
            def ready():
                if self.proc.poll() is not None:
                    raise AssertionError(f"agent exited with {self.proc.returncode}:\n{self.log()}")
                return any(m.get("READY") == "1" for m in self.notify.snapshot())
            wait_until(ready, 20, what="READY=1")
        return self

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def client(self, timeout=10.0):
        return ControlClient(self.socket, timeout)

    def call(self, command, **args):
        c = self.client()
        try:
            return c.call(command, **args)
        finally:
            c.close()

    def status(self):
        r = self.call("status")
        assert r["ok"], r
        return r["result"]

    def cli(self, *args, check=False, env=None, user=None, timeout=30):
        """Run `agv-agent ARGS` against this agent; returns CompletedProcess."""
        cmd = [AGENT, *args]
        e = dict(os.environ, NO_COLOR="1")
        e.update(env or {})
        if user is not None:
            cmd = ["setpriv", f"--reuid={user}", f"--regid={pwd.getpwnam(user).pw_gid}",
                   "--init-groups", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=timeout * SLOW, check=check)

    def reload(self, wait=True):
        """SIGHUP; with wait, block until the READY=1 that follows RELOADING=1."""
        start = len(self.notify.snapshot())
        self.proc.send_signal(signal.SIGHUP)
        if wait:
            i = self.notify.wait_for("RELOADING", "1", after=start)
            self.notify.wait_for("READY", "1", after=i)

    def stop(self, timeout=20):
        """SIGTERM and wait; returns the exit status. Fails the test on a
        sanitizer report or a crash."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"agent did not stop within {timeout}s:\n{self.log()}")
        rc = self.proc.returncode
        self.proc = None
        self.log_file.close()
        if self.notify:
            self.notify.close()
        log = self.log()
        assert "ERROR: AddressSanitizer" not in log and "runtime error:" not in log, log
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        if self.notify:
            self.notify.close()
            self.notify = None


@pytest.fixture
def agents(tmp_path):
    """Factory fixture: agents(sections) -> Agent (not started). Every agent
    is stopped and its directory removed at teardown."""
    made = []

    def make(sections=None, name=None):
        a = Agent(str(tmp_path), sections, name or f"agent{len(made)}")
        made.append(a)
        return a

    yield make
    errors = []
    for a in made:
        try:
            if a.proc is not None:
                rc = a.stop()
                if rc not in (0, None):
                    errors.append(f"agent exited with {rc}:\n{a.log()[-4000:]}")
        except AssertionError as e:
            errors.append(str(e))
        finally:
            a.kill()
    if errors:
        pytest.fail("\n".join(errors))


# ---- test PKIs (python3-cryptography, i.e. OpenSSL underneath) --------------

def _now():
    return datetime.datetime.now(datetime.timezone.utc)


class TestPKI:
    """A CA and client certificates shaped like the deployment guide's:
    CA with critical basicConstraints CA:TRUE and keyUsage keyCertSign,cRLSign;
    client with CA:FALSE, keyUsage digitalSignature (critical) and EKU
    clientAuth. Options produce the broken variants tests need."""

    def __init__(self, ca_days=3650, ca_key="rsa2048", ca_not_after=None):
        from cryptography import x509
        from cryptography.x509.oid import NameOID
        from cryptography.hazmat.primitives import hashes
        self.ca_key = make_key(ca_key)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AgenticVault Test CA"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "agv-agent tests")])
        now = _now()
        b = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
             .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(days=1))
             .not_valid_after(ca_not_after or now + datetime.timedelta(days=ca_days))
             .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
             .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True))
        self.ca_cert = b.sign(self.ca_key, hashes.SHA256())

    def client(self, days=365, not_before=None, not_after=None, key="rsa2048", cn="agentic-vault-vm",
               ca_flag=False, key_usage=True, eku=True, issuer=None):
        """Return (cert, key) objects."""
        from cryptography import x509
        from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
        from cryptography.hazmat.primitives import hashes
        k = make_key(key)
        now = _now()
        nb = not_before or now - datetime.timedelta(minutes=5)
        na = not_after or now + datetime.timedelta(days=days)
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
             .issuer_name((issuer or self).ca_cert.subject)
             .public_key(k.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(nb).not_valid_after(na)
             .add_extension(x509.BasicConstraints(ca=ca_flag, path_length=None), critical=ca_flag))
        if key_usage:
            b = b.add_extension(x509.KeyUsage(True, False, False, False, False, ca_flag, False, False, False),
                                critical=True)
        if eku:
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        cert = b.sign((issuer or self).ca_key, hashes.SHA256())
        return cert, k


def make_key(kind="rsa2048"):
    from cryptography.hazmat.primitives.asymmetric import rsa, ec
    if kind.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
    curves = {"p256": ec.SECP256R1(), "p384": ec.SECP384R1(), "p521": ec.SECP521R1(),
              "secp256k1": ec.SECP256K1()}
    return ec.generate_private_key(curves[kind])


def cert_pem(cert):
    from cryptography.hazmat.primitives import serialization
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key, fmt="pkcs8", password=None):
    from cryptography.hazmat.primitives import serialization
    formats = {"pkcs8": serialization.PrivateFormat.PKCS8,
               "traditional": serialization.PrivateFormat.TraditionalOpenSSL}
    enc = (serialization.BestAvailableEncryption(password) if password
           else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, formats[fmt], enc)


def serial_hex(cert):
    # whole bytes, like OpenSSL's BN_bn2hex (the agent's format): a serial
    # whose top nibble is 0 keeps its leading "0"
    h = format(cert.serial_number, "X")
    return h if len(h) % 2 == 0 else "0" + h


def install_file(path, data, mode, group=None):
    """Like `install -m MODE`: write to a temp name in the same directory and
    rename over the target, then chmod (and chgrp)."""
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".install.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), mode)
            if group is not None:
                os.fchown(f.fileno(), -1, grp.getgrnam(group).gr_gid)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def default_pair():
    """One shared (cert, key) of default_pair.pki, made once per process."""
    if default_pair.pair is None:
        default_pair.pki = TestPKI()
        default_pair.pair = default_pair.pki.client()
    return default_pair.pair


default_pair.pki = None
default_pair.pair = None


def deploy_pair(pki_dir, cert, key, ca=None, group=None):
    """Put a pair in place the way the deployment guide does."""
    if ca is not None:
        install_file(os.path.join(pki_dir, "ca.pem"), cert_pem(ca.ca_cert), 0o444)
    install_file(os.path.join(pki_dir, "client.crt"), cert_pem(cert), 0o444)
    install_file(os.path.join(pki_dir, "client.key"), key_pem(key), 0o440, group or primary_group())
