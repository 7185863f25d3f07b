#!/usr/bin/python3
"""Certificate module benchmarks (issue 3). Run from the source tree after
building (normal build):

    /usr/bin/python3 bench/pki_pickup.py [--build build] [--renewals 1000] [--repairs 1000] [--idle 30]

Measures, in one run on this machine:
  1. pickup latency: from the rename that completes a consistent pair
     (key already in place, certificate renamed over client.crt) to `status`
     on a persistent control connection reporting the new serial;
  2. the same when the close() of a key written in place completes the pair
     (certificate first, as in the deployment guide; the key is new to the
     agent, so this includes parsing it);
  3. drift repair latency: from `chmod 0644 client.key` returning to the
     mode being 0440 again (os.stat polled every ~50 us);
  4. idle cost with the watch in place: CPU time and context switches of the
     agent over --idle seconds without events.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import agvtest  # noqa: E402


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * p))]


def fmt(samples):
    return (f"p50 {statistics.median(samples):.3f} ms  p99 {pct(samples, 0.99):.3f} ms  "
            f"max {max(samples):.3f} ms  (n={len(samples)})")


def stage(path, data, mode):
    """Write a file under a temp name next to path; return the temp name."""
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".bench.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        os.fchmod(f.fileno(), mode)
    return tmp


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    ctx = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                ctx += int(line.split()[1])
    return utime + stime, ctx


COST = []  # agent-side duration of the assessment that activated each pair


def wait_serial(client, serial):
    while True:
        c = client.call("status")["result"]["certificate"]
        if c["serial"] == serial:
            COST.append(c["last_assessment_us"] / 1000)
            return


def pickup_rename(agent, client, pairs):
    """The key is in place; the certificate, staged under a temp name and
    left for the agent to look at, is renamed over client.crt."""
    crt = os.path.join(agent.pki_dir, "client.crt")
    key = os.path.join(agent.pki_dir, "client.key")
    lat = []
    for cert, k in pairs:
        os.rename(stage(key, agvtest.key_pem(k), 0o440), key)
        tmp = stage(crt, agvtest.cert_pem(cert), 0o444)
        time.sleep(0.01)  # let the agent settle: measure the rename alone
        t0 = time.perf_counter_ns()
        os.rename(tmp, crt)
        wait_serial(client, agvtest.serial_hex(cert))
        lat.append((time.perf_counter_ns() - t0) / 1e6)
    return lat


def pickup_close(agent, client, pairs):
    """The guide's order: certificate installed, then the key written in
    place; the close() of the key completes the pair. Includes parsing the
    never-seen key."""
    crt = os.path.join(agent.pki_dir, "client.crt")
    key = os.path.join(agent.pki_dir, "client.key")
    lat = []
    for cert, k in pairs:
        os.rename(stage(crt, agvtest.cert_pem(cert), 0o444), crt)
        data = agvtest.key_pem(k)
        time.sleep(0.01)
        fd = os.open(key, os.O_WRONLY | os.O_TRUNC)
        os.write(fd, data)
        t0 = time.perf_counter_ns()
        os.close(fd)
        wait_serial(client, agvtest.serial_hex(cert))
        lat.append((time.perf_counter_ns() - t0) / 1e6)
    return lat


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--renewals", type=int, default=1000)
    ap.add_argument("--repairs", type=int, default=1000)
    ap.add_argument("--idle", type=int, default=30)
    args = ap.parse_args()
    agvtest.AGENT = os.path.abspath(os.path.join(args.build, "agv-agent"))

    with tempfile.TemporaryDirectory(prefix="agv-pki-bench-") as tmp:
        a = agvtest.Agent(tmp, {"agent": {"log_level": "info"}})
        a.start()
        try:
            pki = agvtest.default_pair.pki
            print(f"generating {2 * args.renewals} EC P-256 pairs ...", flush=True)
            pairs = [pki.client(key="p256") for _ in range(2 * args.renewals)]
            client = a.client()
            lat_rename = pickup_rename(a, client, pairs[:args.renewals])
            lat_close = pickup_close(a, client, pairs[args.renewals:])
            gen = client.call("status")["result"]["certificate"]["generation"]
            print(f"pickup, rename of client.crt completes the pair: {fmt(lat_rename)}")
            print(f"pickup, close of client.key completes the pair:  {fmt(lat_close)}")
            print(f"agent-side assessment (read, parse, verify, scan) of the activating pass: {fmt(COST)}")
            print(f"generation after {2 * args.renewals} renewals: {gen}")

            key = os.path.join(a.pki_dir, "client.key")
            rep = []
            for _ in range(args.repairs):
                t0 = time.perf_counter_ns()
                os.chmod(key, 0o644)
                while os.stat(key).st_mode & 0o7777 != 0o440:
                    # yield: a busy loop here starves the agent on 2 vCPUs
                    time.sleep(0.00005)
                    if time.perf_counter_ns() - t0 > 5e9:
                        raise SystemExit("no repair within 5 s")
                rep.append((time.perf_counter_ns() - t0) / 1e6)
                time.sleep(0.005)  # stay under the agent's runaway guard (2000 repairs / 10 s)
            print(f"drift repair (chmod 0644 -> 0440 again):       {fmt(rep)}")
            print(f"repairs counted: {client.call('status')['result']['permissions']['repaired']}")
            client.close()

            time.sleep(1)
            cpu0, ctx0 = proc_stat(a.proc.pid)
            time.sleep(args.idle)
            cpu1, ctx1 = proc_stat(a.proc.pid)
            rss = 0
            with open(f"/proc/{a.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS"):
                        rss = int(line.split()[1])
            tck = os.sysconf("SC_CLK_TCK")
            print(f"idle {args.idle}s with the watch: cpu {(cpu1 - cpu0) / tck * 1000:.0f} ms, "
                  f"context switches {ctx1 - ctx0}, RSS {rss} kB")
        finally:
            a.stop()


if __name__ == "__main__":
    main()
