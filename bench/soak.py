#!/usr/bin/python3
"""Bounded soak of a whole agent (issue 11): everything an agent meets in
production, at once and much more often, for --minutes (default 10):

  - certificate renewals every --renew-every seconds, the deployment guide's
    way (install -m 444 crt; install -m 440 key; chown root:GROUP key);
  - permission drift on the key and the certificate (enforce repairs it);
  - SIGHUP reloads;
  - child replacements (restart-child), replacements whose candidate crashes
    at start (the demo signer's --crash-at-start-if), and SIGKILL of the
    serving child;
  - 8 MCP clients of the official SDK (bench/soak_clients.mjs) through
    `agv-agent mcp`, and a status poller on one control connection;
  - webhook deliveries (an expiry stage fires for every renewed certificate,
    each repair fires AgvPermissionRepaired) to a receiver that answers 500,
    stalls or hangs up on some requests.

At the end it asserts: 0 failed MCP calls (the documented transient errors
-32010/-32011 are retried, and are allowed only while the serving child was
down after a SIGKILL), 0 poller errors, every renewal activated, every drift
repaired, every reload, replacement and failed candidate handled, the
webhook queue drained with every renewed serial delivered, no fd growth
beyond --fd-slack and no private memory growth beyond --mem-slack-kib (from
the sample after warm-up to the end; not under ASan, whose quarantine keeps
freed memory: AGV_SANITIZE=1), a clean exit 0 on SIGTERM, and no
leftover signer or bridge processes. Exit status 1 if any fails.

    /usr/bin/python3 bench/soak.py [--minutes 10] [--build build] [--json FILE]

The demo signer and the SDK come from contrib/npm-deps.sh (run here if
missing). Loopback only; needs root (chown, like the guide). A 1-minute
variant is the ctest entry `soak/short` (label soak).
"""

import argparse
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
import agvtest  # noqa: E402


class FlakyWebhook:
    """Answers 500 to every 3rd request, stalls 1 s before answering every
    7th, hangs up without an answer on every 11th; 200 otherwise. Keeps the
    bodies it accepted (answered 200)."""

    def __init__(self):
        self.n = 0
        self.accepted = []
        self.refused = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    outer.n += 1
                    n = outer.n
                if n % 11 == 0:
                    with outer.lock:
                        outer.refused += 1
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if n % 3 == 0:
                    with outer.lock:
                        outer.refused += 1
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if n % 7 == 0:
                    time.sleep(1.0)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                with outer.lock:
                    outer.accepted.append(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class StatusPoller:
    """status in a loop on one control connection; any error is kept."""

    def __init__(self, agent):
        self.client = agent.client(timeout=30)
        self.n = 0
        self.errors = []
        self.worst = 0.0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                r = self.client.call("status")
                if not r.get("ok"):
                    self.errors.append(str(r)[:300])
            except Exception as e:
                self.errors.append(repr(e))
                return
            self.worst = max(self.worst, time.monotonic() - t)
            self.n += 1
            time.sleep(0.02)

    def stop(self):
        self._stop.set()
        self._t.join(60)
        self.client.close()


def proc_sample(pid):
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    roll = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            p = line.split()
            if len(p) >= 2 and p[0].endswith(":"):
                roll[p[0][:-1]] = int(p[1])
    return {"fds": fds, "rss_kib": roll.get("Rss", 0), "pss_kib": roll.get("Pss", 0),
            "private_kib": roll.get("Private_Clean", 0) + roll.get("Private_Dirty", 0)}


def procs_with(marker):
    """pids whose command line mentions marker (the soak's unique temp dir)."""
    out = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd:
            out.append((int(d), cmd.strip()))
    return out


def wait_for(pred, timeout, interval=0.05):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            return None
        time.sleep(interval)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--renew-every", type=float, default=5.0, help="seconds between renewals")
    ap.add_argument("--fd-slack", type=int, default=2)
    ap.add_argument("--mem-slack-kib", type=int, default=2048)
    ap.add_argument("--transient-slack", type=float, default=2.0,
                    help="seconds after the killed child is back in which a retried call's error may still land")
    ap.add_argument("--json", help="write the result here too")
    args = ap.parse_args()

    agent_bin = os.path.abspath(os.path.join(args.build, "agv-agent"))
    agvtest.AGENT = agent_bin
    subprocess.run([os.path.join(SRC, "contrib", "npm-deps.sh")], check=True, cwd=SRC, stdout=subprocess.DEVNULL)

    tmp = tempfile.mkdtemp(prefix="agv-soak-")
    crash_flag = os.path.join(tmp, "candidate-crashes")
    hook = FlakyWebhook()
    group = agvtest.primary_group()
    pki = agvtest.TestPKI(ca_key="p256")
    sections = {
        "agent": {"log_level": "info"},
        "pki": {"rescan_interval": "1m"},
        "child": {"command": f"{shutil.which('node')} {SRC}/contrib/demo-signer/demo-signer.mjs "
                             f"--crash-at-start-if={crash_flag}",
                  "ping_interval": "10s", "ping_timeout": "5s", "stop_timeout": "2s", "drain_timeout": "10s",
                  "restart_backoff_max": "1s", "start_limit": "50/60s"},
        "alerts": {"thresholds": "30d 7d", "webhook_url": hook.url, "retry_max": "2s",
                   "delivery_timeout": "5s", "queue_max": 1024},
    }
    a = agvtest.Agent(tmp, sections)
    cert, key = pki.client(days=20, key="p256")
    agvtest.deploy_pair(a.pki_dir, cert, key, ca=pki)
    serials = [agvtest.serial_hex(cert)]
    r = {"minutes": args.minutes, "clients": args.clients, "agent": agent_bin,
         "renewals": 0, "renewals_activated": 0, "activation_ms": [], "drifts": 0, "drifts_repaired": 0,
         "reloads": 0, "replacements": 0, "candidate_crashes": 0, "child_kills": 0, "problems": []}
    problems = r["problems"]
    windows = []  # (t0, t1) wall clock: serving child down after a SIGKILL
    max_signers = 0
    clients = poller = None

    def st():
        return a.status()

    def child():
        return st()["child"]

    try:
        a.start()
        if not wait_for(lambda: child()["state"] == "running", 30):
            raise SystemExit(f"child not running: {child()}")
        clients = subprocess.Popen(["node", os.path.join(HERE, "soak_clients.mjs"), agent_bin, a.mcp_socket,
                                    str(args.clients)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=HERE)
        poller = StatusPoller(a)
        if not wait_for(lambda: child()["clients"] >= args.clients, 60):
            raise SystemExit(f"MCP clients did not connect: {child()}")
        time.sleep(5)  # warm-up: every client has called every tool
        base = proc_sample(a.proc.pid)
        r["sample_start"] = base
        print(f"# soak {args.minutes} min, agent pid {a.proc.pid}, start {base}", flush=True)

        def renew():
            c, k = pki.client(days=20, key="p256")
            s = agvtest.serial_hex(c)
            cf, kf = os.path.join(tmp, "new.crt"), os.path.join(tmp, "new.key")
            with open(cf, "wb") as f:
                f.write(agvtest.cert_pem(c))
            with open(kf, "wb") as f:
                f.write(agvtest.key_pem(k))
            t = time.monotonic()
            subprocess.run(["install", "-m", "444", cf, os.path.join(a.pki_dir, "client.crt")], check=True)
            subprocess.run(["install", "-m", "440", kf, os.path.join(a.pki_dir, "client.key")], check=True)
            subprocess.run(["chown", f"root:{group}", os.path.join(a.pki_dir, "client.key")], check=True)
            r["renewals"] += 1
            serials.append(s)
            if wait_for(lambda: st()["certificate"]["serial"] == s, 15, 0.01):
                r["renewals_activated"] += 1
                r["activation_ms"].append(round((time.monotonic() - t) * 1000, 1))
            else:
                problems.append(f"renewal to {s} not activated within 15 s: {st()['certificate']}")

        drift_n = [0]

        def drift():
            drift_n[0] += 1
            name, bad, good = (("client.key", 0o644, 0o440), ("client.crt", 0o666, 0o444))[drift_n[0] % 2]
            p = os.path.join(a.pki_dir, name)
            os.chmod(p, bad)
            r["drifts"] += 1
            if wait_for(lambda: (os.stat(p).st_mode & 0o7777) == good, 10, 0.01):
                r["drifts_repaired"] += 1
            else:
                problems.append(f"{name} mode {oct(os.stat(p).st_mode & 0o7777)} not repaired within 10 s")

        def reload():
            a.reload(wait=True)
            r["reloads"] += 1

        def replace():
            before = child()
            res = a.call("restart-child")
            if not res.get("ok"):
                problems.append(f"restart-child failed: {res}")
                return
            if wait_for(lambda: (lambda c: c["replacements"] > before["replacements"] and c["state"] == "running"
                                 and c["pid"] != before["pid"])(child()), 20):
                r["replacements"] += 1
            else:
                problems.append(f"replacement did not complete within 20 s: {child()}")

        def failed_reason():
            return any(x["code"] == "child_replacement_failed" for x in st()["reasons"])

        def candidate_crash():
            if failed_reason():
                replace()  # a good replacement clears the previous failure first
            before = child()
            open(crash_flag, "w").close()
            try:
                res = a.call("restart-child")
                if not res.get("ok"):
                    problems.append(f"restart-child failed: {res}")
                    return
                # the candidate exits at start; the serving child must stay
                ok = wait_for(failed_reason, 20)
                c = child()
                if ok and c["pid"] == before["pid"] and c["state"] == "running":
                    r["candidate_crashes"] += 1
                else:
                    problems.append(f"failed candidate: reason seen {bool(ok)}, child now {c}, before {before}")
            finally:
                os.unlink(crash_flag)

        def kill_child():
            c = child()
            if c["state"] != "running" or not c["pid"]:
                return
            t0 = time.time()
            os.kill(c["pid"], signal.SIGKILL)
            back = wait_for(lambda: (lambda n: n["state"] == "running" and n["pid"] not in (None, c["pid"]))(child()),
                            30)
            t1 = time.time()
            windows.append((t0, t1))
            if back:
                r["child_kills"] += 1
            else:
                problems.append(f"child not back within 30 s after SIGKILL: {child()}")

        schedule = [  # (every seconds, action), first run at `every`
            (args.renew_every, renew), (7, drift), (13, reload), (11, replace), (29, candidate_crash),
            (41, kill_child),
        ]
        start = time.monotonic()
        end = start + args.minutes * 60
        due = [start + every for every, _ in schedule]
        next_report = start + 60
        while time.monotonic() < end:
            now = time.monotonic()
            i = min(range(len(due)), key=lambda j: due[j])
            if due[i] > now:
                time.sleep(min(due[i] - now, 0.2))
                max_signers = max(max_signers, len(procs_with(crash_flag)))
                continue
            schedule[i][1]()
            due[i] = time.monotonic() + schedule[i][0]
            max_signers = max(max_signers, len(procs_with(crash_flag)))
            if a.proc.poll() is not None:
                problems.append(f"agent exited with {a.proc.returncode}")
                break
            if time.monotonic() >= next_report:
                next_report += 60
                print(f"# {int((time.monotonic() - start) / 60)} min: {proc_sample(a.proc.pid)} renewals "
                      f"{r['renewals_activated']}/{r['renewals']} kills {r['child_kills']} poller {poller.n}",
                      flush=True)

        # quiet: let the last deliveries and drains finish, then sample
        if not wait_for(lambda: st()["alerts"]["pending_deliveries"] == 0, 60, 0.2):
            problems.append(f"webhook queue not drained within 60 s: {st()['alerts']}")
        wait_for(lambda: len(procs_with(crash_flag)) == 1, 30)
        time.sleep(2)
        r["sample_end"] = endp = proc_sample(a.proc.pid)
        r["signers_max"] = max_signers

        out, _ = clients.communicate(b"", timeout=120)  # stdin EOF: the clients finish and report
        cr = json.loads(out.decode().strip().splitlines()[-1])
        poller.stop()
        r["mcp"] = {k: cr[k] for k in ("clients", "calls", "ok", "progress")}
        r["mcp"]["failures"] = cr["failures"]
        r["mcp"]["transient"] = len(cr["transient"])
        r["poller"] = {"requests": poller.n, "errors": poller.errors[:5], "worst_ms": round(poller.worst * 1000, 1)}
        if cr["failures"] or cr.get("failures_dropped"):
            problems.append(f"{len(cr['failures']) + cr.get('failures_dropped', 0)} failed MCP calls: "
                            f"{cr['failures'][:5]}")
        stray = [e for e in cr["transient"]
                 if not any(t0 <= e["t"] / 1000 <= t1 + args.transient_slack for t0, t1 in windows)]
        if stray:
            problems.append(f"{len(stray)} transient MCP errors while the serving child was up: {stray[:5]}")
        if poller.errors:
            problems.append(f"status poller errors: {poller.errors[:5]}")
        if cr["ok"] != cr["calls"]:
            problems.append(f"MCP calls {cr['calls']} but {cr['ok']} succeeded")

        # webhook: every renewed certificate's expiry alert was delivered
        delivered = {b.get("serial") for b in hook.accepted if b and b.get("status") == "firing"}
        missing = [s for s in serials[1:] if s not in delivered]
        keys = [(b.get("key"), b.get("status")) for b in hook.accepted if b]
        r["webhook"] = {"requests": hook.n, "accepted": len(hook.accepted), "refused_or_hung_up": hook.refused,
                        "duplicates": len(keys) - len(set(keys)), "renewed_serials_missing": len(missing)}
        if missing:
            problems.append(f"{len(missing)} renewed certificates without a delivered expiry alert: {missing[:5]}")
        if len(keys) != len(set(keys)):
            problems.append(f"{len(keys) - len(set(keys))} alerts delivered twice")

        if endp["fds"] > base["fds"] + args.fd_slack:
            problems.append(f"fd growth {base['fds']} -> {endp['fds']}")
        if os.environ.get("AGV_SANITIZE") in ("1", "ON", "TRUE"):
            r["memory_bound"] = "not checked: ASan's quarantine keeps freed memory by design"
        elif endp["private_kib"] > base["private_kib"] + args.mem_slack_kib:
            problems.append(f"private memory growth {base['private_kib']} -> {endp['private_kib']} KiB")

        rc = a.stop(timeout=30)
        r["exit_status"] = rc
        if rc != 0:
            problems.append(f"agent exit status {rc} on SIGTERM")
        left = wait_for(lambda: not procs_with(tmp), 5) is None and procs_with(tmp)
        if left:
            problems.append(f"processes left after the agent stopped: {left}")
        if r["renewals_activated"] != r["renewals"]:
            problems.append(f"renewals activated {r['renewals_activated']}/{r['renewals']}")
    finally:
        if clients and clients.poll() is None:
            clients.kill()
        if poller:
            poller.stop()
        a.kill()
        hook.close()
        for pid, _ in procs_with(tmp):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        subprocess.run(["rm", "-rf", tmp], check=False)

    down = sorted(round((t1 - t0) * 1000) for t0, t1 in windows)
    r["child_down_ms"] = {"n": len(down), "p50": down[len(down) // 2] if down else None,
                          "max": down[-1] if down else None}
    am = sorted(r["activation_ms"])
    r["activation_ms"] = {"n": len(am), "p50": am[len(am) // 2] if am else None,
                          "max": am[-1] if am else None}
    text = json.dumps(r, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    print("SOAK " + ("FAILED:\n  " + "\n  ".join(problems) if problems else "PASSED"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
