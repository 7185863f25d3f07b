"""The PKI directory under a hostile local user or a careless administrator
(issue 11): status that is current the moment a fix is picked up, ACLs and
other access-granting xattrs, certificates dated before 1970 or far in the
future, a symlinked directory, hard links that go away, thousands of
key-like files."""

import os
import stat

import pytest

from agvtest import default_pair, install_file, wait_until
from pkitest import cert_section

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown/xattrs need root")


def reasons(st, code):
    return [r for r in st["reasons"] if r["code"] == code]


def log_count(agent, text):
    return agent.log().count(text)


def ca_key_pem():
    from cryptography.hazmat.primitives import serialization
    return default_pair.pki.ca_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption())


# ---- defect 8: status is current as soon as the pass that saw the fix ran ----

def test_status_current_after_ca_key_removed(agents):
    """The operator deletes the CA key; the journal says the finding is
    resolved, and status on a connection that polled a moment ago agrees."""
    a = agents().start()
    c = a.client()
    for name in ("ca.key", "backup.pem"):  # by name, by content
        path = os.path.join(a.pki_dir, name)
        install_file(path, ca_key_pem(), 0o400)
        wait_until(lambda: c.call("status")["result"]["state"] == "critical", what=f"{name} found")
        before = log_count(a, "Resolved ca_key_present")
        assert c.call("status")["result"]["state"] == "critical"  # the reply is cached now
        os.unlink(path)
        wait_until(lambda: log_count(a, "Resolved ca_key_present") > before, what="resolution logged")
        st = c.call("status")["result"]
        assert st["state"] == "ok", st["reasons"]
        assert not reasons(st, "ca_key_present")
    c.close()


def test_status_current_after_manual_fix(agents):
    """Under audit the admin fixes a drifted key mode by hand: the last
    finding goes away, and status says ok at once."""
    a = agents({"pki": {"permissions": "audit"}}).start()
    c = a.client()
    key = os.path.join(a.pki_dir, "client.key")
    os.chmod(key, 0o444)
    wait_until(lambda: reasons(c.call("status")["result"], "permissions"), what="drift reported")
    before = log_count(a, "Resolved permissions")
    assert c.call("status")["result"]["state"] == "critical"
    os.chmod(key, 0o440)
    wait_until(lambda: log_count(a, "Resolved permissions") > before, what="resolution logged")
    st = c.call("status")["result"]
    assert st["state"] == "ok", st["reasons"]
    assert [f["state"] for f in st["permissions"]["files"] if f["role"] == "private_key"] == ["ok"]
    c.close()
