"""Each Roles Anywhere exchange (sign, HTTPS, parse) runs in a worker
thread, off the event loop (issue 9). [test] sign_delay holds the worker
before it signs, so a stop, a reload or a renewal lands while a signature is
under way; a slow stand-in keeps a transfer in flight. The agent neither
crashes nor leaks (the ASan build checks at exit), never sends the
superseded request, counts it as `discarded`, and aborts a transfer at once."""

import json
import signal

from agvtest import deploy_pair, serial_hex, wait_until
from credtest import cred_status, endpoint, wait_state  # noqa: F401 (fixture)

DELAY = "2s"


def test_stop_while_signing(agents, endpoint):  # noqa: F811 (fixture)
    a = agents({**endpoint.section(), "test": {"sign_delay": DELAY}})
    a.start()
    assert cred_status(a)["state"] == "pending"
    assert a.stop() == 0  # joins the worker; LeakSanitizer would fail the exit status
    assert endpoint.count() == 0


def test_reload_while_signing_discards_the_old_request(agents, endpoint):  # noqa: F811 (fixture)
    a = agents({**endpoint.section(role_session_name="first"), "test": {"sign_delay": DELAY}})
    a.start()
    a.update_config("credentials", role_session_name="second")
    a.reload()
    st = wait_state(a, "valid")
    wait_until(lambda: cred_status(a)["discarded"] == 1, 20, what="the first worker to report")
    (req,) = endpoint.ok_requests()  # only the request of the new configuration went out
    assert json.loads(req["body"])["roleSessionName"] == "second"
    assert st["exchanges"] == 2 and st["failures"] == 0
    assert a.stop() == 0


def test_renewal_while_signing_sends_only_the_new_certificate(agents, endpoint):  # noqa: F811 (fixture)
    a = agents({**endpoint.section(), "test": {"sign_delay": DELAY}})
    a.start()
    cert, key = endpoint.pki.client(key="p384")
    deploy_pair(a.pki_dir, cert, key, ca=endpoint.pki)
    wait_until(lambda: cred_status(a)["state"] == "valid" and cred_status(a)["serial"] == serial_hex(cert), 30,
               what="credentials of the renewed certificate")
    wait_until(lambda: cred_status(a)["discarded"] == 1, 20, what="the first worker to report")
    (req,) = endpoint.ok_requests()
    assert req["serial"] == cert.serial_number
    assert a.stop() == 0


def test_credentials_removed_while_signing(agents, endpoint):  # noqa: F811 (fixture)
    a = agents({**endpoint.section(), "test": {"sign_delay": DELAY}})
    a.start()
    del a.sections["credentials"]
    a.write_config()
    a.reload()
    wait_until(lambda: cred_status(a)["discarded"] == 1, 20, what="the worker to report")
    assert cred_status(a)["state"] == "disabled"
    assert endpoint.count() == 0
    # a second stop signal during the worker's wait is handled the same
    a.update_config("credentials", **endpoint.section()["credentials"])
    a.reload()
    a.proc.send_signal(signal.SIGTERM)
    assert a.stop() == 0


def test_many_activations_one_exchange_each_survivor(agents, endpoint):  # noqa: F811 (fixture)
    """Renewals faster than the worker: every superseded signature is
    discarded, the last pair's is sent, nothing is left running."""
    a = agents({**endpoint.section(), "test": {"sign_delay": "1s"}})
    a.start()
    last = None
    for kind in ("rsa2048", "p256", "p384", "rsa2048"):
        last, key = endpoint.pki.client(key=kind)
        deploy_pair(a.pki_dir, last, key, ca=endpoint.pki)
        wait_until(lambda c=last: a.status()["certificate"]["serial"] == serial_hex(c), 20, what="activation")
    wait_until(lambda: cred_status(a)["state"] == "valid" and cred_status(a)["serial"] == serial_hex(last), 30,
               what="credentials of the last certificate")
    st = cred_status(a)
    assert st["exchanges"] == st["discarded"] + len(endpoint.s.requests)
    assert endpoint.ok_requests()[-1]["serial"] == last.serial_number
    assert a.stop() == 0


def connected_to(port):
    """An established TCP connection to 127.0.0.1:port exists (/proc/net/tcp)."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[2] == f"0100007F:{port:04X}" and fields[3] == "01":
                return True
    return False


def test_stop_while_the_request_is_in_flight(agents, endpoint):  # noqa: F811 (fixture)
    """The transfer runs in the worker; a stop aborts it at once (curl's
    poll is woken) instead of waiting for the reply or the 5 min timeout."""
    endpoint.s.slow_seconds = 120
    endpoint.s.set(mode="slow")
    a = agents(endpoint.section(timeout="5m"))
    a.start()
    wait_until(lambda: connected_to(endpoint.s.port), 20, what="the request's connection to the stand-in")
    assert cred_status(a)["state"] == "pending"
    assert a.stop(timeout=20) == 0  # fails if the worker waited for the reply
