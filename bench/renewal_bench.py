#!/usr/bin/python3
"""On-VM renewal benchmarks (issue 12). Run from the source tree after
building (normal build), as root:

    /usr/bin/python3 bench/renewal_bench.py [--build build] [--runs 20]

Measures, in one run on this machine:
  1. `agv-agent request --force` per key type: the whole process (config,
     key generation, CSR, fsynced files), median and p90;
  2. `agv-agent install-cert` of a signed certificate, whole process
     (validation, previous/, staging, journal, two renames, fsyncs), with no
     agent running and with one running;
  3. with an agent running: from starting install-cert to `status` on a
     persistent control connection showing the new serial.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import agvtest  # noqa: E402
from renewtest import DevMachine  # noqa: E402


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * p))]


def fmt(samples):
    return f"median {statistics.median(samples):.1f} ms  p90 {pct(samples, 0.9):.1f} ms  (n={len(samples)})"


def timed(cmd):
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    ms = (time.perf_counter() - t) * 1000
    assert r.returncode == 0, (cmd, r.stderr)
    return ms, r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    agent_bin = os.path.abspath(os.path.join(args.build, "agv-agent"))
    agvtest.AGENT = agent_bin
    root = tempfile.mkdtemp(prefix="agv-renewal-bench-")
    a = None
    try:
        a = agvtest.Agent(root, {"pki": {"rescan_interval": "1h"}})
        dev = DevMachine(os.path.join(root, "dev"), agvtest.default_pair.pki)
        cfg = ["--config", a.config_path]

        for kt in ("rsa2048", "rsa3072", "ec-p256", "ec-p384"):
            s = [timed([agent_bin, "request", *cfg, "--force", "--key-type", kt, "--out", dev.path("client.csr")])[0]
                 for _ in range(args.runs)]
            print(f"request --key-type {kt:8s} {fmt(s)}")

        def one_install(running_client=None):
            _, r = timed([agent_bin, "request", *cfg, "--force", "--json", "--key-type", "ec-p256",
                          "--out", dev.path("client.csr")])
            import json
            dev.run(json.loads(r.stdout)["sign_command"])
            from cryptography import x509
            with open(dev.path("client.crt"), "rb") as f:
                serial = agvtest.serial_hex(x509.load_pem_x509_certificate(f.read()))
            t = time.perf_counter()
            ms, _ = timed([agent_bin, "install-cert", *cfg, dev.path("client.crt")])
            if running_client is None:
                return ms, None
            while running_client.call("status")["result"]["certificate"]["serial"] != serial:
                pass
            return ms, (time.perf_counter() - t) * 1000

        s = [one_install()[0] for _ in range(args.runs)]
        print(f"install-cert, no agent       {fmt(s)}")
        a.start()
        c = a.client()
        res = [one_install(c) for _ in range(args.runs)]
        c.close()
        print(f"install-cert, agent running  {fmt([x for x, _ in res])}")
        print(f"install-cert start -> status shows the new serial  {fmt([y for _, y in res])}")
    finally:
        if a is not None:
            a.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
