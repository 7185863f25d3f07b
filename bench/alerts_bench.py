#!/usr/bin/python3
"""Alerting benchmarks (issue 6). Run from the source tree after a normal
build:

    /usr/bin/python3 bench/alerts_bench.py [--build build] [--rounds 4] [--scrapes 2000]

1. Firing accuracy: the agent's CLOCK_REALTIME timer against the planned
   stage time. 16 thresholds per certificate; for each stage the test clock
   ([test] clock_offset + SIGHUP) is moved to 300 ms before it, and the agent
   reports planned vs actual firing time (status alerts.last_timer). The
   webhook receiver's arrival time is measured against the same plan (timer +
   queue + HTTP POST on loopback). Each round renews the certificate (a new
   serial starts clean).
2. Cost of a metrics scrape: `metrics` control command on one persistent
   connection (latency, median/p99) and `agv-agent metrics` as a whole
   process (median), plus the exposition size.
"""

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import agvtest  # noqa: E402
import alerttest  # noqa: E402

DAY = 86400
THRESHOLDS = [f"{d}d" for d in range(30, 14, -1)]  # 16 stages


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * p))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--scrapes", type=int, default=2000)
    args = ap.parse_args()
    agvtest.AGENT = os.path.abspath(os.path.join(args.build, "agv-agent"))

    hook = alerttest.WebhookServer()
    with tempfile.TemporaryDirectory(prefix="agv-bench-alerts-") as tmp:
        a = agvtest.Agent(tmp, {"agent": {"log_level": "info"},
                                "alerts": {"thresholds": " ".join(THRESHOLDS), "webhook_url": hook.url,
                                           "warning_before": "1d", "critical_before": "12h"}})
        pki = agvtest.TestPKI()
        timer_late, hook_late = [], []
        try:
            a.start()
            for rnd in range(args.rounds):
                # back to real time first, or the new certificate would start
                # with its early stages already passed (collapsed)
                alerttest.set_offset(a, 0)
                cert, key = pki.client(not_after=(alerttest.utcnow() + datetime.timedelta(days=100)).replace(microsecond=0),
                                       not_before=alerttest.utcnow() - datetime.timedelta(days=1))
                agvtest.deploy_pair(a.pki_dir, cert, key, ca=pki)
                serial = agvtest.serial_hex(cert)
                alerttest.wait_serial(a, serial)
                for t in THRESHOLDS:
                    sec = int(t[:-1]) * DAY
                    off = alerttest.offset_to(cert, sec + 0.3)
                    n_before = len(hook.bodies(status="firing"))
                    alerttest.set_offset(a, off)
                    agvtest.wait_until(lambda: len(hook.bodies(status="firing")) > n_before, 10, interval=0.005,
                                       what=f"stage {t}")
                    lt = a.status()["alerts"]["last_timer"]
                    timer_late.append(lt["late_usec"] / 1000.0)
                    with hook.lock:
                        arrival = hook.requests[-1]["time"]
                    planned_real = lt["planned_usec"] / 1e6 - off
                    hook_late.append((arrival - planned_real) * 1000.0)

            # metrics scrape
            c = a.client()
            lat = []
            size = 0
            for _ in range(args.scrapes):
                t0 = time.perf_counter_ns()
                r = c.call("metrics")
                lat.append((time.perf_counter_ns() - t0) / 1e6)
                size = len(r["result"]["text"])
            c.close()
            cli = []
            for _ in range(100):
                t0 = time.perf_counter_ns()
                subprocess.run([agvtest.AGENT, "metrics", "--socket", a.socket], stdout=subprocess.DEVNULL, check=True)
                cli.append((time.perf_counter_ns() - t0) / 1e6)
        finally:
            a.stop()
            hook.close()

    print(f"alert timer lateness over {len(timer_late)} stages: median {statistics.median(timer_late):.3f} ms, "
          f"p99 {pct(timer_late, 0.99):.3f} ms, max {max(timer_late):.3f} ms, min {min(timer_late):.3f} ms")
    print(f"webhook arrival after planned time: median {statistics.median(hook_late):.3f} ms, "
          f"p99 {pct(hook_late, 0.99):.3f} ms, max {max(hook_late):.3f} ms")
    print(f"metrics scrape over the control socket ({args.scrapes}x, {size} bytes): "
          f"median {statistics.median(lat):.3f} ms, p99 {pct(lat, 0.99):.3f} ms")
    print(f"`agv-agent metrics` whole process (100x): median {statistics.median(cli):.2f} ms, p99 {pct(cli, 0.99):.2f} ms")


if __name__ == "__main__":
    main()
