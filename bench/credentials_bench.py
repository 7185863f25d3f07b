#!/usr/bin/python3
"""Credentials benchmarks (issue 9). Run from the source tree after building
build/ (normal build):

    /usr/bin/python3 bench/credentials_bench.py [--build build] [--runs 200]
        [--requests 100000] [--window 60]

Starts the Roles Anywhere stand-in (tests/integration/rolesanywhere.py, TLS,
full SigV4-X.509 verification) and an agent with [credentials] on a test PKI
(RSA-2048 client), and measures in one run:
  1. `agv-agent credential-process --socket S` served from the daemon's
     cache, whole process, median/p90 of --runs, in both forms (plain, and
     with the helper's flags naming the identity the agent holds), beside
     `agv-agent --version`, `agv-agent status --json` and /bin/true run
     interleaved with them (same moment, same load), and beside the same
     binary doing a full signed HTTPS exchange per call (the helper's flags,
     no daemon: what the official helper does on every call);
  2. the `credentials` control command on one connection (control_bench,
     spinning client);
  3. the agent's CPU per exchange: the stand-in grants 10 s credentials, so
     the agent refreshes every ~5 s; CPU time of the otherwise idle agent
     (/proc schedstat) over --window seconds divided by the exchanges, i.e.
     signing, request building, TLS handshake and parsing, no network waits;
  4. the loop's longest stall during an exchange: a client on the control
     socket sends `status` back to back for --window seconds and keeps every
     round trip; the longest one from 250 ms before to 100 ms after each
     request reached the stand-in, beside windows as long away from any
     exchange (on a loaded machine both include scheduling noise).
Agent-side signing alone: build/bench/credentials_sign_bench CERT KEY.
--startup-only measures 1 without the full exchange and stops there;
--compare OTHER/agv-agent adds another build's cached call to the same rounds.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import agvtest  # noqa: E402
import rolesanywhere as ra  # noqa: E402



def time_command(argv, n):
    samples = []
    for _ in range(n):
        t = time.perf_counter_ns()
        r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        samples.append((time.perf_counter_ns() - t) / 1e6)
        if r.returncode != 0:
            raise SystemExit(f"{argv[:2]} failed ({r.returncode}): {r.stderr.decode()[-500:]}")
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9)]


def time_interleaved(cmds, n):
    """{name: argv} run round-robin n times each -> {name: (median, p90,
    median CPU)} in ms, CPU = the child's user+sys from wait4(), which a
    loaded machine inflates far less than the wall time; interleaving gives
    every command the same share of the machine's noise."""
    samples = {k: [] for k in cmds}
    cpu = {k: [] for k in cmds}
    for _ in range(n):
        for k, argv in cmds.items():
            t = time.perf_counter_ns()
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _, status, ru = os.wait4(p.pid, 0)
            samples[k].append((time.perf_counter_ns() - t) / 1e6)
            p.returncode = os.waitstatus_to_exitcode(status)
            cpu[k].append((ru.ru_utime + ru.ru_stime) * 1e3)
            if p.returncode != 0:
                raise SystemExit(f"{k}: {argv} failed ({p.returncode})")
    out = {}
    for k, v in samples.items():
        v.sort()
        out[k] = (statistics.median(v), v[int(len(v) * 0.9)], statistics.median(cpu[k]))
    return out


def cpu_ns(pid):
    """Time the process spent on a CPU (ns), summed over its threads."""
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{t}/schedstat") as f:
            total += int(f.read().split()[0])
    return total


class Spinner:
    """Back-to-back `status` on one connection; keeps every round trip (µs)."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.samples = []
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        req = b'{"command":"status"}\n'
        buf = b""
        while not self.stop.is_set():
            t = time.perf_counter_ns()
            self.s.sendall(req)
            while b"\n" not in buf:
                buf += self.s.recv(1 << 16)
            buf = buf.split(b"\n", 1)[1]
            self.samples.append((time.time(), (time.perf_counter_ns() - t) / 1e3))

    def measure(self, seconds, keep_times=False):
        self.samples = []
        self.stop.clear()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()
        time.sleep(seconds)
        self.stop.set()
        self.t.join()
        s = sorted(us for _, us in self.samples)
        return {"n": len(s), "p50": s[len(s) // 2], "p999": s[int(len(s) * 0.999)], "max": s[-1],
                "timed": self.samples}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--window", type=int, default=60, help="seconds of each refresh measurement")
    ap.add_argument("--startup-only", action="store_true", help="only the whole-process figures of 1")
    ap.add_argument("--compare", metavar="AGV_AGENT", help="another agv-agent build (e.g. an older commit) whose "
                    "cached credential-process runs interleaved with this one's")
    args = ap.parse_args()
    agent_bin = os.path.abspath(os.path.join(args.build, "agv-agent"))
    agvtest.AGENT = agent_bin

    with tempfile.TemporaryDirectory(prefix="agv-bench-cred-") as tmp:
        agvtest.default_pair()
        ca_pem, cert_pem, key_pem = ra.make_tls()
        ca_file = os.path.join(tmp, "endpoint-ca.pem")
        with open(ca_file, "wb") as f:
            f.write(ca_pem)
        s = ra.StandIn([agvtest.default_pair.pki.ca_cert], cert_pem, key_pem)
        sec = {"trust_anchor_arn": s.trust_anchor_arn, "profile_arn": s.profile_arn,
               "role_arn": s.role_arns[0], "endpoint": s.url, "ca_file": ca_file, "retry_max": "1s"}
        a = agvtest.Agent(tmp, {"credentials": sec, "agent": {"log_level": "info"}})
        a.start()
        try:
            while not a.call("credentials")["ok"]:
                time.sleep(0.05)
            print(f"# agent {agent_bin}, pid {a.proc.pid}; stand-in {s.url}")

            cached = [agent_bin, "credential-process", "--socket", a.socket]
            direct = [agent_bin, "credential-process", "--socket", os.path.join(tmp, "none.sock"),
                      "--certificate", os.path.join(a.pki_dir, "client.crt"),
                      "--private-key", os.path.join(a.pki_dir, "client.key"),
                      "--trust-anchor-arn", s.trust_anchor_arn, "--profile-arn", s.profile_arn,
                      "--role-arn", s.role_arns[0], "--endpoint", s.url, "--ca-file", ca_file]
            flags = ["--certificate", os.path.join(a.pki_dir, "client.crt"),
                     "--private-key", os.path.join(a.pki_dir, "client.key"),
                     "--trust-anchor-arn", s.trust_anchor_arn, "--profile-arn", s.profile_arn,
                     "--role-arn", s.role_arns[0], "--endpoint", s.url, "--ca-file", ca_file]
            cmds = {
                "credential-process from cache": cached,
                "credential-process --certificate ... from cache": cached + flags,
                "agv-agent --version": [agent_bin, "--version"],
                "agv-agent status --json": [agent_bin, "status", "--json", "--socket", a.socket],
                "/bin/true": ["/bin/true"],
            }
            if args.compare:
                cmds["credential-process from cache (--compare)"] = [args.compare] + cached[1:]
            n0 = s.count()
            t = time_interleaved(cmds, args.runs)
            assert s.count() == n0, "cached calls must not exchange"
            print(f"# whole process (fork+exec+wait4 from Python), interleaved, n={args.runs} each; "
                  f"load average {os.getloadavg()[0]:.2f}")
            for k, (m50, m90, c) in t.items():
                print(f"{k:48s} median={m50:.2f}ms p90={m90:.2f}ms cpu={c:.2f}ms  "
                      f"ratio to /bin/true {m50 / t['/bin/true'][0]:.2f}")
            # the same commands from bench/spawn_bench (posix_spawn + wait4):
            # what a process start costs without Python's own fork
            spawner = os.path.join(args.build, "bench", "spawn_bench")
            if os.access(spawner, os.X_OK):
                out = subprocess.run([spawner, str(args.runs)] + [" ".join(v) for v in cmds.values()],
                                     capture_output=True, text=True, check=True).stdout.splitlines()
                print(f"# whole process (posix_spawn+wait4 from bench/spawn_bench), interleaved, "
                      f"n={args.runs} each; load average {os.getloadavg()[0]:.2f}")
                rows = dict(zip(cmds, (line.split()[:3] for line in out)))
                true50 = float(rows["/bin/true"][0])
                for k, (m50, m90, c) in rows.items():
                    print(f"{k:48s} median={float(m50):.2f}ms p90={float(m90):.2f}ms cpu={float(c):.2f}ms  "
                          f"ratio to /bin/true {float(m50) / true50:.2f}")
            c50 = t["credential-process from cache"][0]
            if args.startup_only:
                return
            d50, d90 = time_command(direct, max(20, args.runs // 4))
            print(f"credential-process full exchange median={d50:.2f}ms p90={d90:.2f}ms "
                  f"(n={max(20, args.runs // 4)}, stand-in on loopback)")
            print(f"ratio cache/exchange            {c50 / d50:.3f}")

            out = subprocess.run([os.path.join(args.build, "bench", "control_bench"), a.socket,
                                  str(args.requests), "credentials", "spin"],
                                 capture_output=True, text=True, check=True).stdout
            print(out, end="")

            # 3 + 4: real refreshes, one every ~5 s: the profile now grants
            # 10 s credentials and the agent refreshes at half the lifetime
            s.profile_max_duration = 10
            # a renewal exchanges at once, so the 1 h credentials are replaced by 10 s ones
            agvtest.deploy_pair(a.pki_dir, *agvtest.default_pair.pki.client())
            time.sleep(6)
            n1 = s.count("ok")
            c0 = cpu_ns(a.proc.pid)
            time.sleep(args.window)
            cpu = cpu_ns(a.proc.pid) - c0
            done = s.count("ok") - n1
            print(f"agent CPU per exchange (refresh, TLS handshake included, idle otherwise): "
                  f"{cpu / max(done, 1) / 1e6:.2f} ms ({done} exchanges in {args.window}s)")

            spin = Spinner(a.socket)
            t_start = time.time()
            r = spin.measure(args.window, keep_times=True)
            t_end = time.time()
            starts = [q["time"] for q in s.requests if t_start + 0.5 < q["time"] < t_end - 0.5]
            near, far = [], []
            for ts, us in r["timed"]:
                (near if any(-0.25 <= ts - x <= 0.1 for x in starts) else far).append(us)
            win = [max([us for ts, us in r["timed"] if -0.25 <= ts - x <= 0.1] or [0]) for x in starts]
            win.sort()
            far.sort()
            # windows of the same length away from exchanges, for comparison
            base = []
            for k in range(len(starts)):
                lo = t_start + 0.6 + k * 0.35
                m = [us for ts, us in r["timed"] if lo <= ts < lo + 0.35 and not any(abs(ts - x) < 0.5 for x in starts)]
                if m:
                    base.append(max(m))
            base.sort()
            print(f"status spinner, {r['n']} requests over {args.window}s, {len(starts)} exchanges:")
            print(f"  longest round trip around each exchange: median {win[len(win) // 2]:.0f}us, "
                  f"min {win[0]:.0f}us, max {win[-1]:.0f}us")
            if base:
                print(f"  same-length windows without exchange:      median {base[len(base) // 2]:.0f}us, "
                      f"min {base[0]:.0f}us, max {base[-1]:.0f}us")
            print(f"  p50 round trip {r['p50']:.1f}us")
        finally:
            a.stop()
            s.close()


if __name__ == "__main__":
    main()
