"""Hostile local users against the daemon's limits: running it out of file
descriptors, and hogging the control socket. What a user would notice is
asserted: the agent does not burn CPU (measured from /proc), keeps
answering status, and refuses clearly instead of hanging."""

import os
import resource
import socket

from agvtest import SLOW, wait_until


def cpu_seconds(pid):
    """utime + stime of a process (USER_HZ is 100 on Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_seconds(pid):
    """Time the agent's thread spent running or waiting to run
    (/proc/PID/schedstat). A spinning loop is runnable all the time however
    loaded the machine is; an idle one is neither."""
    with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
        run_ns, wait_ns = f.read().split()[:2]
    return (int(run_ns) + int(wait_ns)) / 1e9


def busy_over(pid, seconds):
    """(busy seconds, cpu seconds) of the agent over `seconds` of wall time."""
    import time
    b, c = busy_seconds(pid), cpu_seconds(pid)
    time.sleep(seconds)
    return busy_seconds(pid) - b, cpu_seconds(pid) - c


def nofile_limits(pid):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no 'Max open files' in /proc/PID/limits")


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    s.settimeout(10 * SLOW)
    s.connect(path)
    return s


def read_reply(s):
    import json
    buf = b""
    while b"\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return json.loads(buf.split(b"\n", 1)[0])


def test_fd_exhaustion_pauses_the_listener_instead_of_spinning(agents):
    a = agents({"agent": {"max_clients": 4096}}).start()
    pid = a.proc.pid
    keep = a.client()  # an established connection must stay served
    assert keep.call("status")["ok"]
    nfds = len(os.listdir(f"/proc/{pid}/fd"))
    # leave the agent a handful of descriptors, then flood the socket
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (nfds + 4, nfds + 4))
    flood = []
    try:
        for _ in range(40):
            flood.append(connect(a.socket))  # completes in the listen backlog
        wait_until(lambda: "out of file descriptors" in a.log(), 10, what="EMFILE reported")
        log_before = a.log().count("accept() on the control socket failed")
        busy, used = busy_over(pid, 2.0)
        # a listener left readable keeps the loop runnable the whole time
        assert busy < 1.0 and used < 0.5, \
            f"agent was runnable {busy:.2f}s (CPU {used:.2f}s) of 2s with accept() failing"
        # one line per 10s at most, not one per wakeup
        assert a.log().count("accept() on the control socket failed") - log_before <= 1, a.log()[-2000:]
        # the connection it already had is answered at once
        st = keep.call("status")
        assert st["ok"], st
    finally:
        for s in flood:
            s.close()
    # descriptors free again: new clients are served (the pause is short)
    wait_until(lambda: a.call("version")["ok"], 10, what="service after fd exhaustion")
    keep.close()


def test_fd_limit_raised_and_max_clients_sized_to_it(agents):
    a = agents({"agent": {"max_clients": 64}})
    # started with soft 100 / hard 192: it must raise the soft limit to 192,
    # and 192 descriptors cannot hold 2 x 64 clients plus the rest
    a.start(nofile=(100, 192))
    assert nofile_limits(a.proc.pid) == (192, 192)
    assert "serving at most 32 control and 32 MCP connections" in a.log(), a.log()[-2000:]
    held = []
    try:
        for _ in range(32):
            held.append(a.client())
        for c in held[:3]:
            assert c.call("version")["ok"]
        # the 33rd is refused clearly instead of failing accept()
        extra = connect(a.socket)
        r = read_reply(extra)
        assert r["ok"] is False and r["error"]["code"] == "too_many_clients", r
        extra.close()
    finally:
        for c in held:
            c.close()
    wait_until(lambda: a.call("version")["ok"], 10, what="service after the limit test")


# A helper run as another user: opens N connections to the control socket,
# reports per connection "held" or the refusal code, then holds them until
# its stdin closes.
HOLDER = r"""
import json, socket, sys
path, n = sys.argv[1], int(sys.argv[2])
held, out = [], []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    try:
        s.sendall(b'{"command":"version"}\n')
    except OSError:
        pass  # refused: the agent already replied and closed
    buf = b""
    while b"\n" not in buf:
        try:
            chunk = s.recv(4096)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    r = json.loads(buf.split(b"\n")[0]) if buf else {}
    if r.get("ok"):
        held.append(s)
        out.append("held")
    else:
        out.append(r.get("error", {}).get("code", "closed"))
        s.close()
print(json.dumps(out), flush=True)
sys.stdin.read()
"""


def hold_as(user, path, n):
    """Start a holder as `user` (with nogroup, the socket's group); returns
    (process, list of outcomes)."""
    import json
    import subprocess
    p = subprocess.Popen(["setpriv", f"--reuid={user}", "--regid=nogroup", "--clear-groups",
                          "/usr/bin/python3", "-c", HOLDER, path, str(n)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert line, f"holder as {user} failed"
    return p, json.loads(line)


def test_one_member_cannot_lock_out_the_others_or_root(agents):
    import shutil
    import tempfile
    if os.getuid() != 0:
        import pytest
        pytest.skip("needs root to act as other users")
    sockdir = tempfile.mkdtemp(prefix="agv-lim-")
    holders = []
    try:
        os.chmod(sockdir, 0o755)
        path = os.path.join(sockdir, "agent.sock")
        a = agents({"agent": {"socket": path, "socket_group": "nogroup", "max_clients": 12,
                              "max_clients_per_user": 4}})
        a.socket = path
        a.start()
        # one member tries to take every connection: it gets its 4
        p, got = hold_as("nobody", path, 10)
        holders.append(p)
        assert got.count("held") == 4 and got.count("too_many_clients") == 6, got
        # another member still gets in, up to the room kept for admins
        p, got = hold_as("daemon", path, 4)
        holders.append(p)
        assert got == ["held"] * 4, got
        # 8 non-admin connections of 12: the last 4 are kept for root/admin_group
        p, got = hold_as("bin", path, 2)
        holders.append(p)
        assert got == ["too_many_clients"] * 2, got
        held = [a.client() for _ in range(3)]
        for c in held:
            assert c.call("status")["ok"]
        assert a.cli("status", "--socket", path).returncode in (0, 1, 2)
        for c in held:
            c.close()
    finally:
        for p in holders:
            p.stdin.close()
            p.wait(10)
        shutil.rmtree(sockdir, ignore_errors=True)


def test_trickling_client_is_cut_off_by_the_request_deadline(agents):
    import time
    a = agents({"agent": {"client_timeout": "2s"}}).start()
    s = connect(a.socket)
    s.settimeout(0.25)
    start = time.monotonic()
    closed_after = None
    reply = b""
    # one byte every 0.25 s of a line that never ends: each byte used to
    # reset the idle timer, so this held the connection forever
    while time.monotonic() - start < 12 * SLOW:
        try:
            s.send(b"x")
        except (BrokenPipeError, ConnectionResetError):
            closed_after = time.monotonic() - start
            break
        try:
            data = s.recv(4096)
            reply += data
            if not data:
                closed_after = time.monotonic() - start
                break
        except socket.timeout:
            pass
        except ConnectionResetError:
            # the agent closed while a trickled byte was still unread on its
            # side: the kernel reports that as a reset, not as EOF
            closed_after = time.monotonic() - start
            break
    s.close()
    assert closed_after is not None, "a trickling client was never disconnected"
    assert b'"timeout"' in reply or reply == b"", reply
    # an active client that completes its requests is kept past client_timeout
    c = a.client()
    for _ in range(12):
        assert c.call("version")["ok"]
        time.sleep(0.25)
    c.close()
