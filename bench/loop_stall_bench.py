#!/usr/bin/python3
"""The event loop's longest stall during a Roles Anywhere exchange (issue 9:
target < 1 ms), from the agent's own accounting (status `event_loop`,
`credentials.longest_dispatch_ms`, metric agv_event_loop_dispatch_seconds).
Run from the source tree after building build/ (normal build):

    /usr/bin/python3 bench/loop_stall_bench.py [--build build] [--exchanges 8] [--idle 60]

Against the stand-in tests/integration/rolesanywhere.py (TLS on loopback,
full SigV4-X.509 verification), for each client key (RSA-2048, P-256,
P-384) and each trust setting (`ca_file` with the stand-in's CA alone, and a
`ca_file` the size of the system store: Debian's ca-certificates bundle plus
the stand-in's CA), one agent refreshes every ~5 s (the stand-in grants 10 s
credentials) while a client polls `status` 20 times a second. Printed:
  - the longest loop callback of each exchange (median, max over them),
  - median and p99 of all callbacks during the exchanges (histogram
    interpolation, like PromQL's histogram_quantile),
  - the agent's CPU per exchange (minus the idle window's rate; /proc/PID/stat,
    so exited worker threads count, in clock ticks) and the loop thread's
    share of it (`credentials.loop_cpu_ms`: CPU of every callback while the
    exchange ran),
  - build+sign of one request with that pair (credentials_sign_bench),
and once, a window of --idle seconds without exchanges (same poller): its
longest callback, median/p99 and CPU. The first exchange of each agent
(libcurl's load) is not among the per-exchange figures; "longest since
start" includes it and the agent's start-up.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import agvtest  # noqa: E402
import rolesanywhere as ra  # noqa: E402

SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


TICK_NS = 1e9 / os.sysconf("SC_CLK_TCK")


def cpu_ns(pid):
    """(whole process incl. exited worker threads, in clock ticks -> ns;
    the loop thread alone, ns from schedstat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) * TICK_NS  # utime + stime, dead threads included
    with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
        loop = int(f.read().split()[0])
    return total, loop


def sign_cost(build, cert, key):
    """build/bench/credentials_sign_bench on the agent's own pair: median us of build+sign."""
    out = subprocess.run([os.path.join(build, "bench", "credentials_sign_bench"), cert, key, "500"],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"build\+sign \(\w+\)\s+median ([0-9.]+) us, p99 ([0-9.]+) us", out)
    return float(m.group(1)), float(m.group(2))


def histogram(agent):
    text = agent.call("metrics")["result"]["text"]
    b = {}
    for m in re.finditer(r'^agv_event_loop_dispatch_seconds_bucket\{le="([^"]+)"\} (\d+)$', text, re.M):
        b[float("inf") if m.group(1) == "+Inf" else float(m.group(1))] = int(m.group(2))
    return b


def quantile(q, before, after):
    """histogram_quantile over the difference of two cumulative snapshots."""
    les = sorted(after)
    cum = [after[le] - before.get(le, 0) for le in les]
    total = cum[-1]
    if total == 0:
        return float("nan")
    rank = q * total
    prev_le, prev_c = 0.0, 0
    for le, c in zip(les, cum):
        if c >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_c) / max(c - prev_c, 1)
        prev_le, prev_c = le, c
    return les[-2]


class Poller:
    """`status` 20 times a second: ordinary control traffic during the measurement."""

    def __init__(self, agent):
        self.agent, self.stop = agent, threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        c = self.agent.client()
        while not self.stop.wait(0.05):
            c.call("status")
        c.close()

    def close(self):
        self.stop.set()
        self.t.join()


def measure_exchanges(tmp, build, kind, bundle, n):
    agvtest.default_pair()
    pki = agvtest.default_pair.pki
    ca_pem, cert_pem, key_pem = ra.make_tls()
    ca_file = os.path.join(tmp, f"ca-{kind}-{bundle}.pem")
    with open(ca_file, "wb") as f:
        if bundle == "system-size":
            with open(SYSTEM_BUNDLE, "rb") as sys_f:
                f.write(sys_f.read())
        f.write(ca_pem)
    s = ra.StandIn([pki.ca_cert], cert_pem, key_pem, profile_max_duration=10)
    sec = {"trust_anchor_arn": s.trust_anchor_arn, "profile_arn": s.profile_arn, "role_arn": s.role_arns[0],
           "endpoint": s.url, "ca_file": ca_file, "retry_max": "1s"}
    a = agvtest.Agent(tmp, {"credentials": sec, "agent": {"log_level": "info"}}, name=f"agent-{kind}-{bundle}")
    cert, key = pki.client(key=kind)
    agvtest.deploy_pair(a.pki_dir, cert, key, ca=pki)
    a.start()
    try:
        agvtest.wait_until(lambda: a.call("credentials")["ok"], 20, what="first credentials")
        first = a.status()["credentials"]
        poller = Poller(a)
        h0, c0, t0 = histogram(a), cpu_ns(a.proc.pid), time.time()
        per_exchange, per_exchange_cpu, loop_cpu, seen = [], [], [], first["last_success"]
        while len(per_exchange) < n:
            time.sleep(0.2)
            st = a.status()["credentials"]
            if st["last_success"] != seen and st["longest_dispatch_ms"] is not None:
                seen = st["last_success"]
                per_exchange.append(st["longest_dispatch_ms"])
                per_exchange_cpu.append(st["longest_dispatch_cpu_ms"])
                loop_cpu.append(st["loop_cpu_ms"])
            if time.time() - t0 > 15 * n + 30:
                raise SystemExit(f"{kind}/{bundle}: only {len(per_exchange)} exchanges")
        c1, elapsed, h1 = cpu_ns(a.proc.pid), time.time() - t0, histogram(a)
        poller.close()
        loop = a.status()["event_loop"]
        sign = sign_cost(build, os.path.join(a.pki_dir, "client.crt"), os.path.join(a.pki_dir, "client.key"))
        return {"per_exchange": sorted(per_exchange), "per_exchange_cpu": sorted(per_exchange_cpu),
                "loop_cpu": sorted(loop_cpu), "cpu_ns": c1[0] - c0[0], "loop_ns": c1[1] - c0[1],
                "seconds": elapsed, "sign": sign,
                "p50": quantile(0.5, h0, h1), "p99": quantile(0.99, h0, h1),
                "dispatches": h1[float("inf")] - h0.get(float("inf"), 0), "any_ms": loop["longest_dispatch_ms"]}
    finally:
        a.stop()
        s.close()


def measure_idle(tmp, seconds):
    """The same agent and traffic with 1 h credentials: no exchange in the window."""
    agvtest.default_pair()
    pki = agvtest.default_pair.pki
    ca_pem, cert_pem, key_pem = ra.make_tls()
    ca_file = os.path.join(tmp, "ca-idle.pem")
    with open(ca_file, "wb") as f:
        f.write(ca_pem)
    s = ra.StandIn([pki.ca_cert], cert_pem, key_pem)
    sec = {"trust_anchor_arn": s.trust_anchor_arn, "profile_arn": s.profile_arn, "role_arn": s.role_arns[0],
           "endpoint": s.url, "ca_file": ca_file}
    a = agvtest.Agent(tmp, {"credentials": sec, "agent": {"log_level": "info"}}, name="agent-idle")
    a.start()
    try:
        agvtest.wait_until(lambda: a.call("credentials")["ok"], 20, what="first credentials")
        time.sleep(1)
        n0 = s.count()
        poller = Poller(a)
        h0, c0, t0 = histogram(a), cpu_ns(a.proc.pid), time.time()
        time.sleep(seconds)
        c1, elapsed, h1 = cpu_ns(a.proc.pid), time.time() - t0, histogram(a)
        poller.close()
        assert s.count() == n0, "no exchange in the idle window"
        ev = a.status()["event_loop"]
        return {"longest_ms": ev["longest_dispatch_last_minute_ms"], "cpu_ns": c1[0] - c0[0],
                "loop_ns": c1[1] - c0[1], "seconds": elapsed, "p50": quantile(0.5, h0, h1),
                "p99": quantile(0.99, h0, h1), "dispatches": h1[float("inf")] - h0.get(float("inf"), 0)}
    finally:
        a.stop()
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--exchanges", type=int, default=8, help="exchanges per key type and trust setting")
    ap.add_argument("--idle", type=int, default=60, help="seconds of the window without exchanges (<= 60)")
    ap.add_argument("--kinds", default="rsa2048,p256,p384")
    ap.add_argument("--bundles", default="standin,system-size")
    args = ap.parse_args()
    agvtest.AGENT = os.path.abspath(os.path.join(args.build, "agv-agent"))
    with open("/proc/loadavg") as f:
        print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {' '.join(f.read().split()[:3])}, "
              f"agent {agvtest.AGENT}")
    tmp = tempfile.mkdtemp(prefix="agv-bench-stall-")
    try:
        idle = measure_idle(tmp, min(args.idle, 60))
        idle_rate, idle_loop_rate = idle["cpu_ns"] / idle["seconds"], idle["loop_ns"] / idle["seconds"]
        print(f"no exchange, {idle['seconds']:.0f}s: longest callback {idle['longest_ms']:.3f} ms, "
              f"median {idle['p50'] * 1e6:.0f} us, p99 {idle['p99'] * 1e6:.0f} us over {idle['dispatches']} callbacks; "
              f"CPU {idle_rate / 1e6:.2f} ms/s (loop thread {idle_loop_rate / 1e6:.2f} ms/s)")
        for bundle in args.bundles.split(","):
            for kind in args.kinds.split(","):
                r = measure_exchanges(tmp, args.build, kind, bundle, args.exchanges)
                pe, pc = r["per_exchange"], r["per_exchange_cpu"]
                cpu_per = (r["cpu_ns"] - idle_rate * r["seconds"]) / len(pe) / 1e6
                lc = r["loop_cpu"]
                print(f"{kind:8s} ca_file={bundle:11s}: longest callback per exchange median {pe[len(pe) // 2]:.3f} ms, "
                      f"max {pe[-1]:.3f} ms (n={len(pe)}), of it on CPU at most: median {pc[len(pc) // 2]:.3f} ms, "
                      f"max {pc[-1]:.3f} ms; all callbacks median {r['p50'] * 1e6:.0f} us, "
                      f"p99 {r['p99'] * 1e6:.0f} us over {r['dispatches']}; CPU per exchange {cpu_per:.1f} ms "
                      f"(+-{TICK_NS / 1e6 / len(pe):.1f}), of it the loop thread (callbacks during the exchange) "
                      f"median {lc[len(lc) // 2]:.3f} ms; "
                      f"sign+build median {r['sign'][0]:.0f} us (p99 {r['sign'][1]:.0f}); "
                      f"longest since start {r['any_ms']:.3f} ms")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
