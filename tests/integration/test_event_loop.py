"""The event loop's own accounting (issue 9): every callback the loop runs
is timed, and status/metrics show it, so an operator can see the longest
stall the agent caused and whether a credentials exchange caused it. Only
behaviour is asserted (fields exist, counters move, buckets add up), never
how long anything took."""

import re
import subprocess

import pytest

from agvtest import deploy_pair, wait_until
from credtest import cred_status, endpoint, wait_state  # noqa: F401 (fixture)


def histogram(text, name):
    """{le: cumulative count}, sum, count of one histogram in an exposition."""
    buckets, total, count = {}, None, None
    for line in text.splitlines():
        m = re.fullmatch(rf'{name}_bucket\{{le="([^"]+)"\}} (\d+)', line)
        if m:
            buckets[m.group(1)] = int(m.group(2))
        elif line.startswith(f"{name}_sum "):
            total = float(line.split()[1])
        elif line.startswith(f"{name}_count "):
            count = int(line.split()[1])
    return buckets, total, count


def metrics(agent):
    r = agent.call("metrics")
    assert r["ok"], r
    return r["result"]["text"]


def test_status_and_metrics_count_every_callback(agents):
    a = agents()
    a.start()
    first = a.status()["event_loop"]
    assert set(first) >= {"dispatches", "longest_dispatch_ms", "longest_dispatch_at",
                          "longest_dispatch_last_minute_ms"}
    assert first["dispatches"] > 0  # start-up already ran callbacks (signals, inotify, timers)
    assert first["longest_dispatch_ms"] >= first["longest_dispatch_last_minute_ms"] > 0
    assert first["longest_dispatch_at"].endswith("Z")

    text = metrics(a)
    assert "# TYPE agv_event_loop_dispatch_seconds histogram" in text
    buckets, total, count = histogram(text, "agv_event_loop_dispatch_seconds")
    assert list(buckets)[-1] == "+Inf" and "0.0001" in buckets and "0.001" in buckets and "0.1" in buckets
    values = list(buckets.values())
    assert values == sorted(values), "buckets are cumulative"
    assert count == buckets["+Inf"] and total > 0
    assert count >= first["dispatches"]

    # each control request is at least one more callback (accept, read)
    for _ in range(20):
        a.status()
    # (the status reply is rebuilt at least once a second: docs/status.md, Freshness)
    wait_until(lambda: a.status()["event_loop"]["dispatches"] >= first["dispatches"] + 20, 10,
               what="dispatch count to move")
    _, total2, count2 = histogram(metrics(a), "agv_event_loop_dispatch_seconds")
    assert count2 > count and total2 > total
    longest = float(re.search(r"^agv_event_loop_longest_dispatch_seconds (\S+)$", metrics(a), re.M).group(1))
    # the status reply may be up to a second older than the metrics
    assert longest * 1000 >= a.status()["event_loop"]["longest_dispatch_ms"] - 0.001

    out = a.cli("status", "--socket", a.socket).stdout
    assert re.search(r"^event loop\s+longest callback [0-9.]+ ms in the last minute, [0-9.]+ ms since start "
                     r"\(\d+ callbacks\)$", out, re.M), out


def test_promtool_accepts_the_histogram(agents):
    promtool = subprocess.run(["which", "promtool"], capture_output=True, text=True).stdout.strip()
    if not promtool:
        pytest.skip("promtool not installed (prometheus package)")
    a = agents()
    a.start()
    r = subprocess.run([promtool, "check", "metrics"], input=metrics(a), capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("kind", ["rsa2048", "p256", "p384"])
def test_longest_callback_of_each_exchange(agents, endpoint, kind):  # noqa: F811 (fixture)
    a = agents(endpoint.section())
    cert, key = endpoint.pki.client(key=kind)
    deploy_pair(a.pki_dir, cert, key, ca=endpoint.pki)
    a.start()
    st = wait_state(a, "valid")
    assert st["exchanges"] == 1
    # the figure belongs to the finished exchange: set, and within what the loop saw since start
    loop = a.status()["event_loop"]
    assert 0 < st["longest_dispatch_ms"] <= loop["longest_dispatch_ms"]
    assert st["longest_dispatch_any_ms"] == st["longest_dispatch_ms"]
    # one thread's CPU time within a callback cannot exceed the callback's wall time
    assert 0 < st["longest_dispatch_cpu_ms"] <= st["longest_dispatch_ms"]
    assert st["loop_cpu_ms"] >= st["longest_dispatch_cpu_ms"]
    out = a.cli("status", "--socket", a.socket).stdout
    assert re.search(r"longest loop callback during the last exchange [0-9.]+ ms \([0-9.]+ ms on CPU\), "
                     r"during any [0-9.]+ ms", out), out

    # a renewal exchanges again: the figures are replaced by the new exchange's
    cert2, key2 = endpoint.pki.client(key=kind)
    deploy_pair(a.pki_dir, cert2, key2, ca=endpoint.pki)
    wait_until(lambda: (cred_status(a) or {}).get("exchanges") == 2 and cred_status(a)["state"] == "valid",
               20, what="second exchange")
    st2 = cred_status(a)
    assert st2["longest_dispatch_any_ms"] >= st2["longest_dispatch_ms"] > 0
    assert st2["longest_dispatch_any_ms"] >= st["longest_dispatch_ms"]


def test_no_figure_before_an_exchange_finished(agents, endpoint):  # noqa: F811 (fixture)
    endpoint.s.slow_seconds = 4  # the reply comes 4 s after the request
    endpoint.s.set(mode="slow")
    a = agents(endpoint.section(timeout="30s"))
    a.start()
    st = cred_status(a)
    assert st["state"] == "pending" and st["longest_dispatch_ms"] is None
    endpoint.s.set(mode="ok")
    assert wait_state(a, "valid")["longest_dispatch_ms"] > 0


def maps_libcurl(agent):
    with open(f"/proc/{agent.proc.pid}/maps") as f:
        return "libcurl.so" in f.read()


def test_libcurl_is_loaded_ahead_for_alert_channels_only(agents):
    """An agent with a webhook maps libcurl in a thread at start (so the
    first delivery's callback does not load ~30 libraries); one without an
    HTTP channel never maps it."""
    plain = agents()
    plain.start()
    hooked = agents({"alerts": {"webhook_url": "http://127.0.0.1:9/hook"}})
    hooked.start()
    wait_until(lambda: maps_libcurl(hooked), 20, what="libcurl mapped by the preload thread")
    assert plain.status()["state"] == "ok"  # fully started, nothing sent
    assert not maps_libcurl(plain)
