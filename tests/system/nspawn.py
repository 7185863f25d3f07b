"""Boot a real systemd (the host's systemd 252, PID 1 in a container) with
systemd-nspawn and run commands in it, for the system tests.

The container tree is a directory holding a copy of the host's /etc (with
the enabled services removed, so it boots quietly), symlinks bin sbin lib
lib64 -> usr/..., empty dev proc sys run tmp root, and a copy of the dpkg
database in var/lib/dpkg. /usr is the host's /usr as the lower layer of an
overlay (`--overlay=/usr:UPPER:/usr`): the container sees the host's
programs and libraries, and whatever is installed inside it (dpkg -i of the
package, or a `cmake --install` tree copied in) lands in UPPER, a directory
of the test, never on the host. That lets the tests install the real .deb
the way docs/deployment.md does, maintainer scripts included.

Teardown always happens (context manager, plus SIGTERM turned into an
exception): the container's systemd is asked to halt (SIGTERM to nspawn,
which forwards SIGRTMIN+3), killed if it does not within 30 s, and the
tree is removed.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time

ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "SYSTEMD_PAGER": "cat",
    "SYSTEMD_COLORS": "0",
    "SYSTEMD_LESS": "",
    "TERM": "dumb",
    "HOME": "/root",
}


class CommandFailed(AssertionError):
    pass


DPKG = "/var/lib/dpkg"
# Package states only a dpkg run in progress (or interrupted) leaves behind.
_DPKG_TRANSIENT = ("half-installed", "unpacked", "half-configured", "triggers-awaited", "triggers-pending")


def _dpkg_busy_reason(src=DPKG):
    """Why the host's dpkg database is not a consistent snapshot right now,
    or None. Read-only: never takes dpkg's locks (that would make a host
    apt-get fail), it only looks at them in /proc/locks."""
    inodes = set()
    for name in ("lock", "lock-frontend"):
        try:
            inodes.add(os.stat(os.path.join(src, name)).st_ino)
        except FileNotFoundError:
            pass
    with open("/proc/locks") as f:
        for line in f:
            # "1: POSIX  ADVISORY  WRITE 1234 08:01:5678 0 EOF"
            parts = line.split()
            dev_ino = next((p for p in parts if p.count(":") == 2), None)
            if dev_ino and int(dev_ino.rsplit(":", 1)[1]) in inodes:
                return "a dpkg/apt run holds the dpkg lock"
    return None


def _dpkg_snapshot_problem(copy):
    """Why a copied dpkg database is not consistent, or None."""
    pending = [e for e in os.listdir(os.path.join(copy, "updates")) if not e.startswith(".")]
    if pending:
        return "dpkg journal entries in updates/ (a run in progress or interrupted)"
    with open(os.path.join(copy, "status"), encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("Status:") and line.split()[-1] in _DPKG_TRANSIENT:
                return "a package is %s" % line.split()[-1]
    return None


def snapshot_dpkg(dest, timeout=900, src=DPKG):
    """Copy the host's dpkg database to `dest`, but only a consistent one: a
    copy taken while the host runs apt-get is torn (half-configured packages,
    journal entries, a status file rewritten mid-copy) and apt inside the
    container then refuses to install. Waits for the host to be idle instead
    of copying whatever is there; never blocks the host's dpkg."""
    deadline = time.monotonic() + timeout
    why = None
    while True:
        why = _dpkg_busy_reason(src)
        if why is None:
            before = os.stat(os.path.join(src, "status"))
            shutil.rmtree(dest, ignore_errors=True)
            subprocess.run(["cp", "-a", src, dest], check=True)
            after = os.stat(os.path.join(src, "status"))
            if (before.st_ino, before.st_mtime_ns, before.st_size) != (after.st_ino, after.st_mtime_ns, after.st_size):
                why = "the status file changed while it was copied"
            else:
                why = _dpkg_busy_reason(src) or _dpkg_snapshot_problem(dest)
            if why is None:
                return
        if time.monotonic() > deadline:
            raise RuntimeError("the host's dpkg database stayed inconsistent for %ds (%s); "
                               "finish or repair the host's apt/dpkg run (dpkg --configure -a)" % (timeout, why))
        time.sleep(1)


def _raise_on_sigterm():
    """ctest's timeout and CI cancellation send SIGTERM; make it unwind the
    stack like Ctrl-C so every finalizer (container teardown) runs."""
    def handler(signum, frame):
        raise KeyboardInterrupt("SIGTERM")
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, handler)


class Container:
    def __init__(self, name=None, workdir=None, binds_ro=()):
        """binds_ro: (host path, container path) pairs mounted read-only."""
        self.binds_ro = list(binds_ro)
        self.name = name or "agvtest%d" % os.getpid()
        self.dir = tempfile.mkdtemp(prefix="agv-nspawn.", dir=workdir or "/var/tmp")
        self.root = os.path.join(self.dir, "root")
        self.upper = os.path.join(self.dir, "usr-upper")
        self.log_path = os.path.join(self.dir, "console.log")
        self.proc = None
        self.leader = None

    # ---- tree ---------------------------------------------------------
    def build_tree(self):
        r = self.root
        os.makedirs(r)
        os.makedirs(self.upper)
        subprocess.run(["cp", "-a", "/etc", os.path.join(r, "etc")], check=True)
        osr = os.path.join(r, "etc", "os-release")
        if os.path.islink(osr) or os.path.exists(osr):
            os.unlink(osr)
        shutil.copyfile("/usr/lib/os-release", osr)
        # A quiet boot: none of the host's enabled services.
        sysdir = os.path.join(r, "etc", "systemd", "system")
        for e in os.listdir(sysdir):
            if e.endswith(".wants") or e.endswith(".requires"):
                shutil.rmtree(os.path.join(sysdir, e))
        # Fresh identity: systemd generates a machine id at boot.
        with open(os.path.join(r, "etc", "machine-id"), "w"):
            pass
        for stale in ("agv-agent",):
            shutil.rmtree(os.path.join(r, "etc", stale), ignore_errors=True)
        for d in ("bin", "sbin", "lib", "lib64"):
            os.symlink("usr/" + d, os.path.join(r, d))
        for d in ("usr", "dev", "proc", "sys", "run", "tmp", "root", "var/tmp", "var/log",
                  "var/cache", "var/lib"):
            os.makedirs(os.path.join(r, d), exist_ok=True)
        os.chmod(os.path.join(r, "tmp"), 0o1777)
        os.chmod(os.path.join(r, "var/tmp"), 0o1777)
        os.chmod(os.path.join(r, "root"), 0o700)
        # The package database, so dpkg/apt inside know what /usr holds.
        snapshot_dpkg(os.path.join(r, "var/lib/dpkg"))

    # ---- lifecycle ----------------------------------------------------
    def boot(self, timeout=120):
        _raise_on_sigterm()
        log = open(self.log_path, "wb")
        cmd = ["systemd-nspawn", "-D", self.root, "--overlay=/usr:%s:/usr" % self.upper,
               "--register=no", "--keep-unit", "-M", self.name, "--console=read-only",
               "--resolv-conf=off", "--timezone=off", "--link-journal=no"]
        cmd += ["--bind-ro=%s:%s" % b for b in self.binds_ro]
        cmd.append("-b")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while self.leader is None:
            if self.proc.poll() is not None:
                raise RuntimeError("systemd-nspawn exited with %s:\n%s" % (self.proc.returncode, self.console()))
            if time.monotonic() > deadline:
                raise RuntimeError("the container's systemd did not appear:\n" + self.console())
            self.leader = self._find_leader()
            time.sleep(0.1)
        # Wait until the boot transaction is done (running or degraded).
        while True:
            r = self.run(["systemctl", "is-system-running", "--wait"], check=False, timeout=timeout)
            state = r.stdout.strip()
            if state in ("running", "degraded"):
                return state
            if time.monotonic() > deadline:
                raise RuntimeError("container did not finish booting (state %r):\n%s" % (state, self.console()))
            time.sleep(0.5)

    def _find_leader(self):
        pid = self.proc.pid
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                kids = f.read().split()
        except OSError:
            return None
        for k in kids:
            try:
                with open("/proc/%s/comm" % k) as f:
                    if f.read().strip() == "systemd":
                        return int(k)
            except OSError:
                pass
        return None

    def console(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-6000:].decode(errors="replace")
        except OSError:
            return ""

    def teardown(self):
        try:
            if self.proc and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)  # nspawn: orderly halt of the container
                try:
                    self.proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(10)
        finally:
            self.proc = None
            self.leader = None
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            self.build_tree()
            self.boot()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(self, *exc):
        self.teardown()
        return False

    # ---- commands -----------------------------------------------------
    def run(self, argv, check=True, input=None, timeout=60, user=None, env=None):
        """Run argv inside the container (all namespaces, root cwd).
        user: run as that user with its groups (setpriv)."""
        assert self.leader, "container not running"
        if user is not None:
            argv = ["setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups", "--"] + list(argv)
        e = dict(ENV)
        if env:
            e.update(env)
        cmd = ["nsenter", "-t", str(self.leader), "-a", "-r", "-w"] + list(argv)
        r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, env=e, cwd="/")
        if check and r.returncode != 0:
            raise CommandFailed("%s exited %d\nstdout:\n%s\nstderr:\n%s"
                                % (" ".join(argv), r.returncode, r.stdout, r.stderr))
        return r

    def sh(self, script, **kw):
        return self.run(["/bin/sh", "-ec", script], **kw)

    def popen(self, argv, **kw):
        assert self.leader, "container not running"
        return subprocess.Popen(["nsenter", "-t", str(self.leader), "-a", "-r", "-w"] + list(argv),
                                env=dict(ENV), cwd="/", **kw)

    def path(self, p):
        """Host path of a file in the container's root (not /usr or tmpfs)."""
        return os.path.join(self.root, p.lstrip("/"))

    def write(self, path, data, mode=0o644):
        """Write a file inside the container through its own mount namespace
        (works for /run, /tmp and the overlaid /usr too)."""
        if isinstance(data, str):
            data = data.encode()
        self.run(["sh", "-ec", 'cat > "$1"; chmod %o "$1"' % mode, "sh", path], input=data.decode())
