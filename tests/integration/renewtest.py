"""Helpers for the on-VM renewal tests: a "dev machine" directory holding the
CA like the deployment guide's, the request/sign/install round, and byte-exact
snapshots of the PKI directory."""

import json
import os
import re
import subprocess

from agvtest import cert_pem, key_pem

from cryptography.hazmat.primitives import serialization


class DevMachine:
    """A directory with ca.pem and ca.key, where the printed sign command is
    run, like ~/rolesanywhere-ca on the guide's dev machine."""

    def __init__(self, path, pki):
        self.dir = str(path)
        os.makedirs(self.dir, exist_ok=True)
        self.pki = pki
        with open(os.path.join(self.dir, "ca.pem"), "wb") as f:
            f.write(cert_pem(pki.ca_cert))
        with open(os.path.join(self.dir, "ca.key"), "wb") as f:
            f.write(key_pem(pki.ca_key, fmt="traditional"))

    def path(self, name):
        return os.path.join(self.dir, name)

    def run(self, script):
        """Run a shell snippet literally, in this directory."""
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=self.dir, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, (script, r.stdout, r.stderr)
        return r


def request(agent, *args, check=True, **kw):
    """`agv-agent request --json ...` -> parsed JSON (or the CompletedProcess)."""
    r = agent.cli("request", "--config", agent.config_path, "--json", *args, **kw)
    if not check:
        return r
    assert r.returncode == 0, (r.stdout, r.stderr)
    return json.loads(r.stdout)


def install(agent, path, *args, env=None):
    return agent.cli("install-cert", "--config", agent.config_path, *args, str(path), env=env)


def renew(agent, dev, *req_args):
    """request -> sign with the printed command -> install-cert. Returns
    (request JSON, the signed certificate's PEM, install result)."""
    req = request(agent, "--out", dev.path("client.csr"), *req_args)
    dev.run(req["sign_command"])
    with open(dev.path("client.crt"), "rb") as f:
        pem = f.read()
    r = install(agent, dev.path("client.crt"))
    return req, pem, r


def snapshot(root):
    """Every entry under root: path -> (type, mode, uid, gid, content)."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(d, name)
            st = os.lstat(p)
            content = None
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    content = f.read()
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_uid, st.st_gid, content)
    return out


def read(path):
    with open(path, "rb") as f:
        return f.read()


def pubkey_der_of_cert(pem):
    from cryptography import x509
    c = x509.load_pem_x509_certificate(pem)
    return c.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def pubkey_der_of_key(pem):
    k = serialization.load_pem_private_key(pem, None)
    return k.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def pair_matches(pki_dir):
    return pubkey_der_of_cert(read(os.path.join(pki_dir, "client.crt"))) == \
        pubkey_der_of_key(read(os.path.join(pki_dir, "client.key")))


def sign_block(text):
    """The sign snippet as printed in the text output (from `cat >` to `rm`)."""
    m = re.search(r"^cat > client-ext\.cnf .*?^rm client-ext\.cnf$", text, re.M | re.S)
    assert m, text
    return m.group(0)
