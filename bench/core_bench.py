#!/usr/bin/python3
"""Daemon core benchmarks (issue: daemon core). Run from the source tree after
building build/ (normal build):

    /usr/bin/python3 bench/core_bench.py [--build build] [--idle 60] [--child]

Measures, in one run on this machine:
  1. control socket: status requests/s and p50/p99 on one persistent
     connection and on fresh connections (bench/control_bench.c);
  2. whole-process time of `agv-agent status --json` (median of N runs)
     beside `openssl x509 -noout -enddate -in CERT` run the same way;
  3. idle RSS and context switches of the agent over --idle seconds with no
     events (the watchdog is off here: no WATCHDOG_USEC).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import agvtest  # noqa: E402


def proc_field(pid, name):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return None


def time_command(argv, n):
    """Median and p90 wall time (ms) of running argv n times."""
    samples = []
    for _ in range(n):
        t = time.perf_counter_ns()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        samples.append((time.perf_counter_ns() - t) / 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--idle", type=int, default=60)
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--child", action="store_true", help="also run the demo signer child")
    args = ap.parse_args()
    agent_bin = os.path.abspath(os.path.join(args.build, "agv-agent"))
    agvtest.AGENT = agent_bin

    with tempfile.TemporaryDirectory(prefix="agv-bench-") as tmp:
        sections = {}
        if args.child:
            signer = os.path.join(HERE, "..", "contrib", "demo-signer", "demo-signer.mjs")
            sections["child"] = {"command": f"node {signer}"}
        a = agvtest.Agent(tmp, sections)
        if not os.path.exists(os.path.join(a.pki_dir, "client.crt")):
            pki = agvtest.TestPKI()
            cert, key = pki.client()
            agvtest.deploy_pair(a.pki_dir, cert, key, ca=pki)
        a.start()
        try:
            print(f"# agent {agent_bin}, pid {a.proc.pid}")
            for mode in ([], ["status", "spin"]):
                out = subprocess.run([os.path.join(args.build, "bench", "control_bench"), a.socket,
                                      str(args.requests), *mode], capture_output=True, text=True, check=True).stdout
                print(out, end="")

            status_cmd = [agent_bin, "status", "--json", "--socket", a.socket]
            openssl_cmd = ["openssl", "x509", "-noout", "-enddate", "-in", os.path.join(a.pki_dir, "client.crt")]
            s50, s90 = time_command(status_cmd, args.runs)
            o50, o90 = time_command(openssl_cmd, args.runs)
            print(f"agv-agent status --json  median={s50:.2f}ms p90={s90:.2f}ms (n={args.runs})")
            print(f"openssl x509 -enddate    median={o50:.2f}ms p90={o90:.2f}ms (n={args.runs})")
            print(f"ratio status/openssl     {s50 / o50:.2f}")

            time.sleep(1)
            pid = a.proc.pid
            rss0 = proc_field(pid, "VmRSS")
            v0, n0 = proc_field(pid, "voluntary_ctxt_switches"), proc_field(pid, "nonvoluntary_ctxt_switches")
            time.sleep(args.idle)
            rss1 = proc_field(pid, "VmRSS")
            v1, n1 = proc_field(pid, "voluntary_ctxt_switches"), proc_field(pid, "nonvoluntary_ctxt_switches")
            roll = {}
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 2 and parts[0].endswith(":"):
                        roll[parts[0][:-1]] = parts[1]
            print(f"idle {args.idle}s: RSS {rss0} -> {rss1} KiB (PSS {roll.get('Pss')} KiB, private "
                  f"{int(roll.get('Private_Clean', 0)) + int(roll.get('Private_Dirty', 0))} KiB); "
                  f"context switches voluntary +{v1 - v0}, involuntary +{n1 - n0}")
        finally:
            a.stop()


if __name__ == "__main__":
    main()
