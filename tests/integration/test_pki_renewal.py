"""Hot reload of the certificate pair with the real agent: the deployment
guide's renewal while a client polls status, a storm of renewals mixed with
bad writes, the directory replaced, CLOCK_REALTIME expiry."""

import os
import random
import shutil

from agvtest import default_pair, deploy_pair, install_file, cert_pem, key_pem, serial_hex, wait_until
from pkitest import Poller, cert_section, guide_install


def test_guide_renewal_while_polling(agents, tmp_path):
    a = agents().start()
    before = cert_section(a)
    assert before["state"] == "ok"
    assert before["serial"] == serial_hex(default_pair()[0])
    cert, key = default_pair.pki.client()
    new_serial = serial_hex(cert)

    poller = Poller(a)
    try:
        wait_until(lambda: len(poller.samples) > 5, what="poller running")
        guide_install(a, tmp_path, cert, key)
        wait_until(lambda: poller.samples and poller.samples[-1][1]["serial"] == new_serial,
                   what="new serial active")
        n = len(poller.samples)
        wait_until(lambda: len(poller.samples) > n + 5, what="more samples")
    finally:
        samples = poller.stop()

    states = [s for s, _ in samples]
    assert "critical" not in states, [c["findings"] for s, c in samples if s == "critical"][:3]
    gens = [c["generation"] for _, c in samples]
    assert set(gens) <= {before["generation"], before["generation"] + 1}
    assert gens == sorted(gens)  # never back
    # the serial switches exactly once, old -> new
    serials = [c["serial"] for _, c in samples]
    first_new = serials.index(new_serial)
    assert set(serials[:first_new]) == {before["serial"]}
    assert set(serials[first_new:]) == {new_serial}
    after = cert_section(a)
    assert after["generation"] == before["generation"] + 1
    assert after["state"] == "ok" and after["findings"] == [] and after["candidate"] is None
    assert after["renewals"] == 1
    # one structured activation entry per generation
    a.stop()
    assert a.log().count("Certificate generation 2 active") == 1


def test_storm_of_renewals_with_bad_writes(agents, tmp_path):
    """1,000 renewals interleaved with bad writes: only good pairs ever become
    active, and the last good pair wins."""
    a = agents({"pki": {"renewal_grace": "1h"}}).start()
    pki = default_pair.pki  # the CA of the bundle in place
    good = [pki.client(key="p256") for _ in range(1000)]
    good_serials = {serial_hex(c) for c, _ in good} | {cert_section(a)["serial"]}
    import datetime
    now = datetime.datetime.now(datetime.timezone.utc)
    expired_cert, expired_key = pki.client(key="p256", not_before=now - datetime.timedelta(days=30),
                                           not_after=now - datetime.timedelta(days=1))
    ca_as_client, ca_key = pki.ca_cert, pki.ca_key
    crt = os.path.join(a.pki_dir, "client.crt")
    keyp = os.path.join(a.pki_dir, "client.key")
    rnd = random.Random(7)

    poller = Poller(a)
    try:
        for i, (cert, key) in enumerate(good):
            bad = i % 4
            if bad == 1:     # garbage in place of the certificate
                install_file(crt, os.urandom(300), 0o444)
            elif bad == 2:   # a complete but expired pair
                install_file(crt, cert_pem(expired_cert), 0o444)
                install_file(keyp, key_pem(expired_key), 0o440)
            elif bad == 3:   # the CA certificate with its own key
                install_file(crt, cert_pem(ca_as_client), 0o444)
                install_file(keyp, key_pem(ca_key), 0o440)
            if rnd.random() < 0.5:  # either order, like a human would
                install_file(crt, cert_pem(cert), 0o444)
                install_file(keyp, key_pem(key), 0o440)
            else:
                install_file(keyp, key_pem(key), 0o440)
                install_file(crt, cert_pem(cert), 0o444)
        last = serial_hex(good[-1][0])
        wait_until(lambda: poller.samples and poller.samples[-1][1]["serial"] == last
                   and poller.samples[-1][1]["state"] == "ok", timeout=30,
                   what="last pair active")
    finally:
        samples = poller.stop()

    assert len(samples) > 10
    active = {c["serial"] for _, c in samples}
    assert active <= good_serials, active - good_serials
    gens = [c["generation"] for _, c in samples]
    assert gens == sorted(gens)
    final = cert_section(a)
    assert final["serial"] == last and final["state"] == "ok" and final["findings"] == []
    assert 2 <= final["generation"] <= 1001
    # the rejected ones were seen as candidates, never as active
    rejected = [c for _, c in samples if c["state"] == "rejected"]
    for c in rejected:
        assert c["candidate"] and c["candidate"]["serial"] != c["serial"]


def test_directory_deleted_and_recreated(agents, tmp_path):
    a = agents().start()
    gen = cert_section(a)["generation"]
    shutil.rmtree(a.pki_dir)
    wait_until(lambda: cert_section(a)["state"] == "renewal_pending", what="pending after delete")
    st = cert_section(a)
    assert st["serial"] == serial_hex(default_pair()[0])  # last good pair kept
    assert a.status()["state"] == "warning"
    os.mkdir(a.pki_dir, 0o755)
    cert, key = default_pair.pki.client()
    deploy_pair(a.pki_dir, cert, key, ca=default_pair.pki)
    # picked up through the re-established watch, long before the 5 min rescan
    wait_until(lambda: cert_section(a)["serial"] == serial_hex(cert), what="new pair in new directory")
    st = cert_section(a)
    assert st["generation"] == gen + 1 and st["state"] == "ok"
    # and the new directory is watched, not just rescanned
    cert2, key2 = default_pair.pki.client()
    deploy_pair(a.pki_dir, cert2, key2)
    wait_until(lambda: cert_section(a)["serial"] == serial_hex(cert2), what="second pair in new directory")


def test_directory_missing_at_start(agents, tmp_path):
    a = agents()
    shutil.rmtree(a.pki_dir)
    a.start()
    st = a.status()
    assert st["state"] == "critical"
    assert st["certificate"]["state"] == "missing"
    assert any(r["code"] in ("dir_missing", "file_missing") for r in st["reasons"])
    os.mkdir(a.pki_dir, 0o755)
    cert, key = default_pair.pki.client()
    deploy_pair(a.pki_dir, cert, key, ca=default_pair.pki)
    wait_until(lambda: cert_section(a)["serial"] == serial_hex(cert), what="pair picked up once dir exists")
    assert a.status()["state"] == "ok"


def test_renewal_grace_then_incomplete(agents, tmp_path):
    a = agents({"pki": {"renewal_grace": "1s"}}).start()
    old = cert_section(a)
    cert, key = default_pair.pki.client()
    install_file(os.path.join(a.pki_dir, "client.crt"), cert_pem(cert), 0o444)
    wait_until(lambda: cert_section(a)["state"] == "renewal_pending", what="pending")
    assert a.status()["state"] == "warning"
    # the grace timer (no event, no polling) makes it critical, naming the file
    wait_until(lambda: cert_section(a)["state"] == "renewal_incomplete", what="incomplete")
    st = a.status()
    assert st["state"] == "critical"
    r = [r for r in st["reasons"] if r["code"] == "renewal_incomplete"][0]
    assert "client.key still belongs to the previous certificate" in r["message"]
    assert st["certificate"]["serial"] == old["serial"]
    install_file(os.path.join(a.pki_dir, "client.key"), key_pem(key), 0o440)
    wait_until(lambda: cert_section(a)["serial"] == serial_hex(cert), what="completed")
    assert a.status()["state"] == "ok"


def test_expiry_flips_without_polling(agents, tmp_path):
    """A CLOCK_REALTIME timer at notAfter: the state flips within a second of
    expiry with no file event and a 1h rescan."""
    import datetime

    def attempt(window):
        a = agents({"pki": {"rescan_interval": "1h"}})
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        not_after = now + datetime.timedelta(seconds=window)
        cert, key = default_pair.pki.client(not_after=not_after)
        deploy_pair(a.pki_dir, cert, key, ca=default_pair.pki)
        a.start()
        state = cert_section(a)["state"]
        if datetime.datetime.now(datetime.timezone.utc) >= not_after:
            a.stop()
            return False  # started after notAfter: the timer was never needed
        assert state == "ok"
        wait_until(lambda: cert_section(a)["state"] == "invalid", timeout=10, what="expired by timer")
        st = a.status()
        assert st["state"] == "critical"
        assert any(r["code"] == "cert_expired" for r in st["reasons"])
        assert "cert expired" in st["summary"]
        return True

    assert within_widening_window(attempt), "the agent never came up before the certificate expired"


def test_metrics(agents, tmp_path):
    a = agents().start()
    cert, key = default_pair.pki.client()
    deploy_pair(a.pki_dir, cert, key)
    wait_until(lambda: cert_section(a)["serial"] == serial_hex(cert), what="renewal")
    out = a.cli("metrics", "--config", a.config_path).stdout
    lines = out.splitlines()
    assert "# TYPE agv_cert_not_after_seconds gauge" in lines
    assert any(l.startswith("agv_cert_not_after_seconds{") and f'serial="{serial_hex(cert)}"' in l
               and 'role="client"' in l for l in lines), out
    assert any(l.startswith("agv_cert_not_after_seconds{") and 'role="ca"' in l for l in lines), out
    assert "agv_cert_generation 2" in lines
    assert "agv_renewals_total 1" in lines
    assert any(l.startswith("agv_cert_expired{") and l.endswith(" 0") for l in lines)


def test_reload_moves_the_directory(agents, tmp_path):
    """[pki] dir changed by a reload: the new directory is assessed and
    watched, the old one no longer matters."""
    a = agents().start()
    new_dir = os.path.join(a.dir, "pki2")
    os.mkdir(new_dir, 0o755)
    cert, key = default_pair.pki.client()
    deploy_pair(new_dir, cert, key, ca=default_pair.pki)
    a.update_config("pki", dir=new_dir)
    a.reload()
    st = cert_section(a)
    assert st["serial"] == serial_hex(cert) and st["generation"] == 2
    assert st["path"] == os.path.join(new_dir, "client.crt")
    # changes in the old directory are ignored, in the new one picked up
    os.unlink(os.path.join(a.pki_dir, "client.key"))
    cert2, key2 = default_pair.pki.client()
    deploy_pair(new_dir, cert2, key2)
    wait_until(lambda: cert_section(a)["serial"] == serial_hex(cert2), what="pair in the new directory")
    assert a.status()["state"] == "ok"


def test_clock_travel_reevaluates(agents, tmp_path):
    """The wall clock moved past notAfter ([test] clock_offset + SIGHUP): the
    active pair is expired at once; moved back, it is valid again."""
    a = agents().start()
    a.update_config("test", clock_offset=400 * 86400)
    a.reload()
    st = a.status()
    assert st["certificate"]["state"] == "invalid" and st["state"] == "critical"
    assert any(r["code"] == "cert_expired" for r in st["reasons"])
    assert st["certificate"]["generation"] == 1  # still the same pair
    a.update_config("test", clock_offset=0)
    a.reload()
    assert cert_section(a)["state"] == "ok"


def test_future_pair_activates_at_not_before(agents, tmp_path):
    """A pair issued a moment in the future (clock skew at the CA) is
    rejected, then activated by the notBefore timer without any file event."""
    import datetime

    def attempt(window):
        a = agents({"pki": {"rescan_interval": "1h"}}).start()
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        not_before = now + datetime.timedelta(seconds=window)
        cert, key = default_pair.pki.client(not_before=not_before, not_after=now + datetime.timedelta(days=30))
        deploy_pair(a.pki_dir, cert, key)
        new = serial_hex(cert)
        c = wait_until(lambda: (lambda c: c if new in (c["serial"], (c.get("candidate") or {}).get("serial")) else None)(
            cert_section(a)), what="the new pair assessed")
        if c["state"] != "rejected" or datetime.datetime.now(datetime.timezone.utc) >= not_before:
            a.stop()
            return False  # assessed only after notBefore: the timer was never needed
        assert c["candidate"]["serial"] == serial_hex(cert)
        assert [f["code"] for f in c["candidate"]["findings"]] == ["cert_not_yet_valid"]
        wait_until(lambda: cert_section(a)["serial"] == serial_hex(cert), timeout=10, what="activated at notBefore")
        assert a.status()["state"] == "ok"
        return True

    assert within_widening_window(attempt), "the pair was never assessed before its notBefore"


def within_widening_window(attempt):
    """Run a test whose certificate turns valid or invalid a few seconds from
    now: a loaded machine may take longer than the window just to start the
    agent, so the window widens (3 s, 10 s, 30 s) until the state before the
    boundary was actually seen."""
    return any(attempt(window) for window in (3, 10, 30))
