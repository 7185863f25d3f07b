#!/usr/bin/python3
"""Cost of a control socket flooded past the file descriptor limit (issue 11,
defect 1). Run from the source tree after building build/:

    /usr/bin/python3 bench/fd_exhaustion.py [--build build] [--seconds 2] [--pending 40]

Starts an agent, measures over --seconds how long its thread was runnable
(/proc/PID/task/PID/schedstat: running + waiting to run, so a busy loop
shows the whole interval however loaded the machine is) and its CPU time,
first idle, then with its RLIMIT_NOFILE lowered to what it holds plus 4 and
--pending connections waiting in the listen backlog (accept() fails with
EMFILE). Prints both and the number of accept() failure lines logged.
"""

import argparse
import os
import resource
import shutil
import socket
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import agvtest  # noqa: E402
from test_limits import busy_over  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--pending", type=int, default=40)
    args = ap.parse_args()
    agvtest.AGENT = os.path.join(args.build, "agv-agent")
    root = tempfile.mkdtemp(prefix="agv-fdbench-")
    a = agvtest.Agent(root, {"agent": {"max_clients": 4096}})
    flood = []
    try:
        a.start()
        pid = a.proc.pid
        idle = busy_over(pid, args.seconds)
        n = len(os.listdir(f"/proc/{pid}/fd"))
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (n + 4, n + 4))
        for _ in range(args.pending):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            s.connect(a.socket)
            flood.append(s)
        agvtest.wait_until(lambda: "out of file descriptors" in a.log(), 10, what="EMFILE")
        ex = busy_over(pid, args.seconds)
        lines = a.log().count("accept() on the control socket failed")
        print(f"idle:        runnable {idle[0]:.3f} s, CPU {idle[1]:.2f} s of {args.seconds} s")
        print(f"fd exhausted: runnable {ex[0]:.3f} s, CPU {ex[1]:.2f} s of {args.seconds} s, "
              f"{lines} accept() failure line(s) logged, {args.pending} connections pending")
    finally:
        for s in flood:
            s.close()
        a.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
