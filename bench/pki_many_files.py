#!/usr/bin/python3
"""A PKI directory stuffed with key-like files (issue 11): how long one pass
may hold the loop, how long until the whole directory is judged, and what a
later pass costs. Run from the source tree after building:

    /usr/bin/python3 bench/pki_many_files.py [--build build] [--files 30000]

Half the files are broken PEM keys, half real EC P-256 keys (not the CA's);
one CA key hides among them. The agent starts on the full directory; status
is polled on one control connection and every pass's `last_assessment_us`
is recorded. Prints the longest pass, the time until the CA key is reported
with the scan complete, and the median cost of 20 later passes (a chmod
each)."""

import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import agvtest  # noqa: E402


def codes(st):
    c = st["certificate"]
    return [f["code"] for f in c["findings"]] + [f["code"] for f in (c["candidate"] or {}).get("findings", [])]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--files", type=int, default=30000)
    o = ap.parse_args()
    agvtest.AGENT = os.path.abspath(os.path.join(o.build, "agv-agent"))
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives import serialization
    enc = (serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    junk = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    with tempfile.TemporaryDirectory() as root:
        a = agvtest.Agent(root, {"pki": {"rescan_interval": "1h"}})
        for i in range(o.files):
            with open(os.path.join(a.pki_dir, f"k{i:06}.pem"), "wb") as f:
                f.write(junk if i % 2 else ec.generate_private_key(ec.SECP256R1()).private_bytes(*enc))
        agvtest.install_file(os.path.join(a.pki_dir, "zz-backup.pem"),
                             agvtest.default_pair.pki.ca_key.private_bytes(*enc), 0o400)
        t0 = time.monotonic()
        a.start()
        c = a.client(timeout=60)
        passes, last, worst_status = {}, None, 0.0
        while True:
            t = time.monotonic()
            st = c.call("status")["result"]
            worst_status = max(worst_status, time.monotonic() - t)
            cs = st["certificate"]
            passes[cs["assessments"]] = cs["last_assessment_us"]
            cc = codes(st)
            if "ca_key_present" in cc and "ca_key_scan_incomplete" not in cc:
                break
            time.sleep(0.01)
        done = time.monotonic() - t0
        later = []
        for i in range(20):
            n = cs["assessments"]
            os.chmod(a.pki_dir, 0o755)
            while cs["assessments"] == n:
                cs = c.call("status")["result"]["certificate"]
            later.append(cs["last_assessment_us"] / 1000)
        c.close()
        a.stop()
        print(f"files: {o.files} (+ the pair and a CA key)")
        print(f"start to 'CA key found, scan complete': {done:.2f} s over {len(passes)} passes")
        print(f"longest pass: {max(passes.values()) / 1000:.1f} ms; slowest status answer meanwhile: "
              f"{worst_status * 1000:.1f} ms")
        print(f"later pass (all verdicts remembered): p50 {statistics.median(later):.1f} ms, "
              f"max {max(later):.1f} ms (n=20)")


if __name__ == "__main__":
    main()
