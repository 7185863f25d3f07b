"""The two halves of `agv-agent` (docs/architecture.md): the executable
serves `credential-process` from the agent's cache without mapping OpenSSL
or libsystemd (what makes it fast), also with the official helper's flags,
by sending the certificate file itself for the agent to compare; every other
outcome goes to agv-agent-core.so, which answers exactly as before. The
agent checks who asks before it parses anything sent. A missing module is a
clear error, not a crash."""

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from agvtest import AGENT, SLOW, cert_pem
from credtest import assert_process_json, another_ca_pair, credential_process, credentials, wait_state
from test_credentials_process import helper_flags

BUILD = os.path.dirname(AGENT)
MODULE = os.path.join(BUILD, "agv-agent-core.so")
INSTALLED = os.path.join(BUILD, "installed", "agv-agent")  # RUNPATH $ORIGIN/../lib/.../agv-agent


def loaded_objects(*args):
    """Run credential-process with ld.so's file tracing: (result, objects)."""
    r = credential_process(*args, env={"LD_DEBUG": "files"})
    objs = set(re.findall(r"file=(\S+)\s+\[0\];\s+(?:needed|dynamically loaded) by", r.stderr))
    return r, {os.path.basename(o) for o in objs}


def json_only(stderr):
    """stderr minus ld.so's trace lines."""
    return "\n".join(line for line in stderr.splitlines() if not re.match(r"^\s*\d+:", line)).strip()


def test_executable_links_neither_openssl_nor_libsystemd():
    needed = subprocess.run(["readelf", "-d", AGENT], capture_output=True, text=True, check=True).stdout
    libs = sorted(re.findall(r"\(NEEDED\)\s+Shared library: \[(\S+)\]", needed))
    assert not [x for x in libs if x.startswith(("libcrypto", "libssl", "libsystemd", "libcurl"))], libs
    assert {"libjson-c.so.5", "libinih.so.1", "libc.so.6"} <= set(libs)
    # the module exports its one entry point, nothing of the agent's insides
    syms = subprocess.run(["nm", "-D", "--defined-only", MODULE], capture_output=True, text=True, check=True).stdout
    exported = [line.split()[-1] for line in syms.splitlines() if line.split()[1] in ("T", "D", "B")]
    assert exported == ["agv_core_main"], exported


def test_cache_answers_without_loading_the_core(agents, endpoint):
    a = agents(endpoint.section()).start()
    wait_state(a, "valid")
    ok, cached = credentials(a)
    r, objs = loaded_objects("--socket", a.socket)
    assert r.returncode == 0 and json_only(r.stderr) == "", r.stderr
    assert assert_process_json(r.stdout)["AccessKeyId"] == cached["AccessKeyId"]
    assert "agv-agent-core.so" not in objs and not [o for o in objs if o.startswith(("libcrypto", "libsystemd"))], objs
    # the helper's flags naming the agent's identity: served the same way,
    # the certificate sent as it is (the caller needs no key for it)
    r, objs = loaded_objects("--socket", a.socket, *helper_flags(endpoint, a, **{"--private-key": "/nonexistent/k"}))
    assert r.returncode == 0 and json_only(r.stderr) == "", r.stderr
    assert assert_process_json(r.stdout)["AccessKeyId"] == cached["AccessKeyId"]
    assert "agv-agent-core.so" not in objs and "libcrypto.so.3" not in objs, objs
    assert len(endpoint.s.requests) == 1
    # a failure is the full implementation's to explain: it loads the core
    r, objs = loaded_objects("--socket", "/nonexistent/agv.sock")
    assert r.returncode == 69 and "agv-agent-core.so" in objs
    assert "cannot connect to /nonexistent/agv.sock" in json_only(r.stderr)


def test_certificate_in_der_or_with_its_chain_is_the_same_identity(agents, endpoint, tmp_path):
    a = agents(endpoint.section()).start()
    wait_state(a, "valid")
    ok, cached = credentials(a)
    pem = open(os.path.join(a.pki_dir, "client.crt"), "rb").read()
    der = tmp_path / "client.der"
    subprocess.run(["openssl", "x509", "-in", os.path.join(a.pki_dir, "client.crt"), "-outform", "DER",
                    "-out", str(der)], check=True)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(pem + open(os.path.join(a.pki_dir, "ca.pem"), "rb").read())
    for f in (der, chain):
        r = credential_process("--socket", a.socket, *helper_flags(endpoint, a, **{"--certificate": str(f),
                                                                                  "--private-key": "/nonexistent/k"}))
        assert r.returncode == 0, (f, r.stderr)
        assert assert_process_json(r.stdout)["AccessKeyId"] == cached["AccessKeyId"]
    assert len(endpoint.s.requests) == 1


def test_other_certificate_is_a_mismatch_as_before(agents, endpoint, tmp_path):
    a = agents(endpoint.section()).start()
    wait_state(a, "valid")
    cert, key = another_ca_pair()
    other = tmp_path / "other.crt"
    other.write_bytes(cert_pem(cert))
    # the agent holds another certificate: no key to exchange with -> the file error (66)
    r = credential_process("--socket", a.socket, *helper_flags(endpoint, a, **{"--certificate": str(other),
                                                                              "--private-key": "/nonexistent/k"}))
    assert r.returncode == 66 and r.stdout == "" and "/nonexistent/k" in r.stderr, r.stderr
    # the control command says why, in words
    b64 = base64.b64encode(cert_pem(cert)).decode()
    r = a.call("credentials", trust_anchor_arn=endpoint.s.trust_anchor_arn, profile_arn=endpoint.s.profile_arn,
               role_arn=endpoint.s.role_arns[0], certificate=b64)
    assert not r["ok"] and r["error"]["code"] == "identity_mismatch", r
    assert len(endpoint.s.requests) == 1


def test_garbage_certificate_is_a_clear_error(agents, endpoint, tmp_path):
    a = agents(endpoint.section()).start()
    wait_state(a, "valid")
    for value, words in (("not base64!", "base64"), (base64.b64encode(b"hello").decode(), "certificate"),
                         (base64.b64encode(b"-----BEGIN CERTIFICATE-----\nAAAA\n").decode(), "certificate"),
                         (12, "base64"), ("A" * (48 * 1024 + 4), "at most")):
        r = a.call("credentials", certificate=value)
        assert not r["ok"] and r["error"]["code"] in ("bad_certificate", "line_too_long"), r
        assert words in r["error"]["message"], r
    assert a.call("status")["ok"]  # still serving
    # the same through credential-process: the certificate file's own error, 66
    junk = tmp_path / "junk.crt"
    junk.write_text("not a certificate\n")
    r = credential_process("--socket", a.socket, *helper_flags(endpoint, a, **{"--certificate": str(junk)}))
    assert r.returncode == 66 and r.stdout == "" and str(junk) in r.stderr, r.stderr


def test_refused_peer_is_refused_before_its_certificate_is_read(agents, endpoint):
    if os.getuid() != 0:
        pytest.skip("needs root to act as another user")
    with tempfile.TemporaryDirectory(prefix="agv-sock-") as sockdir:
        os.chmod(sockdir, 0o755)
        path = os.path.join(sockdir, "agent.sock")
        a = agents({**endpoint.section(), "agent": {"socket": path, "socket_mode": "0660", "socket_group": "nogroup"}})
        a.socket = path
        a.start()
        wait_state(a, "valid")
        # garbage a refused peer sends is never parsed: 'forbidden', not 'bad_certificate'
        ask = ("import json,socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
               "s.sendall(json.dumps({'command':'credentials','certificate':'AAAA'}).encode()+b'\\n'); "
               "print(s.makefile().readline())")
        r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3", "-c",
                            ask, path], capture_output=True, text=True, timeout=30 * SLOW)
        reply = json.loads(r.stdout)
        assert reply["error"]["code"] == "forbidden", reply
        # and credential-process with the helper's flags as that peer: 77 (key unreadable to it)
        with tempfile.TemporaryDirectory(prefix="agv-cert-") as d:
            os.chmod(d, 0o755)
            crt = os.path.join(d, "client.crt")
            shutil.copy(os.path.join(a.pki_dir, "client.crt"), crt)
            os.chmod(crt, 0o644)
            r = credential_process("--socket", path, *helper_flags(endpoint, a, **{"--certificate": crt}),
                                   user="nobody")
        assert r.returncode == 77 and r.stdout == "" and "forbidden" in r.stderr, (r.returncode, r.stderr)
        a.stop()


def test_missing_core_module_is_a_clear_error(tmp_path):
    """An installed-layout executable (RUNPATH $ORIGIN/../lib/.../agv-agent)
    copied without its module."""
    bindir = tmp_path / "usr" / "bin"
    bindir.mkdir(parents=True)
    exe = bindir / "agv-agent"
    shutil.copy(INSTALLED, exe)
    for args, code in ((["status"], 1), (["--version"], 1), (["credential-process", "--socket", "/nonexistent"], 69)):
        r = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=30 * SLOW)
        assert r.returncode == code, (args, r.returncode, r.stderr)
        assert r.stdout == ""
        m = re.search(r"cannot load its implementation (\S+)/agv-agent-core\.so", r.stderr)
        assert m and "reinstall the agv-agent package" in r.stderr, r.stderr
    # the module where the message says: the same executable works
    moddir = os.path.normpath(m.group(1))
    os.makedirs(moddir)
    shutil.copy(MODULE, moddir)
    r = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=30 * SLOW)
    assert r.returncode == 0 and r.stdout.startswith("agv-agent "), r.stderr
