"""Self-test of the Roles Anywhere stand-in (rolesanywhere.py): a signer
written here from the SigV4-X.509 description, sharing no code with the
stand-in's verifier, must be accepted for RSA-2048, EC P-256 and P-384 keys
and with an intermediate CA; every tampered or non-conforming variant must be
rejected with the error AWS gives. This proves the stand-in can fail, so the
agent's tests against it mean something. No agent is involved."""

import base64
import datetime
import hashlib
import http.client
import json
import os
import ssl
import urllib.parse

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

import rolesanywhere as ra
from agvtest import TestPKI


# ---- an independent client ---------------------------------------------------

def _enc(s):
    return urllib.parse.quote(s, safe="-_.~")


def sign_and_send(endpoint, cert, key, ta, profile, role, duration=3600, chain=(), region=ra.REGION,
                  when=None, mutate=None, extra_headers=(), body=None, alg=None, serial=None,
                  service="rolesanywhere", query_order=("roleArn", "trustAnchorArn", "profileArn")):
    """Build, sign and send one CreateSession; returns (status, headers, body).
    `mutate(parts)` may change the request after signing (tampering)."""
    host = f"127.0.0.1:{endpoint.port}"
    when = when or datetime.datetime.now(datetime.timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    args = {"profileArn": profile, "roleArn": role, "trustAnchorArn": ta}
    # the wire order is deliberately not sorted: the server must sort
    query = "&".join(f"{k}={_enc(args[k])}" for k in query_order)
    payload = body if body is not None else json.dumps({"durationSeconds": duration}).encode()
    der = cert.public_bytes(serialization.Encoding.DER)
    hdrs = {"Content-Type": "application/json", "Host": host, "X-Amz-Date": amz_date,
            "X-Amz-X509": base64.b64encode(der).decode()}
    if chain:
        hdrs["X-Amz-X509-Chain"] = ",".join(base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
                                            for c in chain)
    names = sorted(h.lower() for h in hdrs)
    lower = {k.lower(): v for k, v in hdrs.items()}
    sorted_query = "&".join(sorted(f"{k}={_enc(v)}" for k, v in args.items()))
    creq = "POST\n/sessions\n" + sorted_query + "\n" + "".join(f"{n}:{lower[n]}\n" for n in names) + "\n" \
        + ";".join(names) + "\n" + hashlib.sha256(payload).hexdigest()
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    alg = alg or ("AWS4-X509-RSA-SHA256" if is_rsa else "AWS4-X509-ECDSA-SHA256")
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    sts = f"{alg}\n{amz_date}\n{scope}\n{hashlib.sha256(creq.encode()).hexdigest()}"
    if is_rsa:
        sig = key.sign(sts.encode(), padding.PKCS1v15(), hashes.SHA256())
    else:
        sig = key.sign(sts.encode(), ec.ECDSA(hashes.SHA256()))
    serial = cert.serial_number if serial is None else serial
    hdrs["Authorization"] = f"{alg} Credential={serial}/{scope}, SignedHeaders={';'.join(names)}, Signature={sig.hex()}"
    hdrs["User-Agent"] = "standin-selftest"  # unsigned, like the helper's
    hdrs.update(dict(extra_headers))
    parts = {"path": "/sessions?" + query, "headers": hdrs, "body": payload}
    if mutate:
        mutate(parts)
    ctx = ssl.create_default_context(cafile=endpoint.ca_file)
    conn = http.client.HTTPSConnection("127.0.0.1", endpoint.port, context=ctx, timeout=30)
    try:
        conn.putrequest("POST", parts["path"], skip_host=True, skip_accept_encoding=True)
        for k, v in parts["headers"].items():
            for one in (v if isinstance(v, list) else [v]):
                conn.putheader(k, one)
        conn.putheader("Content-Length", str(len(parts["body"])))
        conn.endheaders(parts["body"])
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


class Endpoint:
    def __init__(self, tmp_path):
        self.pki = TestPKI()
        ca_pem, cert_pem, key_pem = ra.make_tls()
        self.ca_file = str(tmp_path / "endpoint-ca.pem")
        with open(self.ca_file, "wb") as f:
            f.write(ca_pem)
        self.issued_path = str(tmp_path / "issued.json")
        self.s = ra.StandIn([self.pki.ca_cert], cert_pem, key_pem, issued_path=self.issued_path)
        self.port = self.s.port

    def send(self, cert, key, **kw):
        kw.setdefault("ta", self.s.trust_anchor_arn)
        kw.setdefault("profile", self.s.profile_arn)
        kw.setdefault("role", self.s.role_arns[0])
        return sign_and_send(self, cert, key, **kw)


@pytest.fixture
def ep(tmp_path):
    e = Endpoint(tmp_path)
    yield e
    e.s.close()


def error_of(resp):
    status, hdrs, body = resp
    etype = hdrs.get("X-Amzn-ErrorType", "").split(":")[0]
    return status, etype, json.loads(body).get("message", "")


@pytest.mark.parametrize("kind", ["rsa2048", "p256", "p384"])
def test_accepts_correct_request_and_issues_recorded_credentials(ep, kind):
    cert, key = ep.pki.client(key=kind)
    status, hdrs, body = ep.send(cert, key, duration=1800)
    assert status == 201, body
    cs = json.loads(body)["credentialSet"]
    c = cs[0]["credentials"]
    assert c["accessKeyId"].startswith("ASIA") and len(c["accessKeyId"]) == 20
    assert c["secretAccessKey"] and c["sessionToken"]
    exp = datetime.datetime.strptime(c["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    left = (exp - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    assert 1700 < left <= 1800
    assert cs[0]["roleArn"] == ep.s.role_arns[0]
    # recorded for other stand-ins, with what was asked
    (rec,) = ra.load_issued(ep.issued_path)
    assert rec["secretAccessKey"] == c["secretAccessKey"] and rec["serial"] == cert.serial_number
    assert rec["durationSeconds"] == 1800
    assert ep.s.count("ok") == 1


def test_accepts_chain_through_intermediate(ep):
    inter_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Issuing CA")])
    inter = (x509.CertificateBuilder().subject_name(name).issuer_name(ep.pki.ca_cert.subject)
             .public_key(inter_key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=90))
             .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
             .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
             .sign(ep.pki.ca_key, hashes.SHA256()))

    class Issuer:
        ca_cert, ca_key = inter, inter_key
    cert, key = ep.pki.client(key="p256", issuer=Issuer)
    assert ep.send(cert, key, chain=[inter])[0] == 201
    # without the intermediate there is no path to the anchor
    assert error_of(ep.send(cert, key)) == (403, "AccessDeniedException", "Untrusted signing certificate")

    # an intermediate header nobody signed is refused
    def unsigned_chain(p):
        p["headers"]["X-Amz-X509-Chain"] = base64.b64encode(inter.public_bytes(serialization.Encoding.DER)).decode()
    st, et, msg = error_of(ep.send(cert, key, mutate=unsigned_chain))
    assert st == 403 and "x-amz-x509-chain" in msg


def _tamper(field, value):
    def m(p):
        if field == "body":
            p["body"] = value
        elif field == "path":
            p["path"] = value(p["path"])
        else:
            p["headers"][field] = value(p["headers"][field]) if callable(value) else value
    return m


def _flip_sig(auth):
    head, sig = auth.rsplit("Signature=", 1)
    return head + "Signature=" + ("0" if sig[0] != "0" else "1") + sig[1:]


@pytest.mark.parametrize("kind", ["rsa2048", "p256"])
@pytest.mark.parametrize("name,mutate,expect", [
    ("body changed", _tamper("body", b'{"durationSeconds":43200}'), "Invalid signature"),
    ("role in query changed", _tamper("path", lambda q: q.replace("agentic-vault-signer", "admin")), "Invalid signature"),
    ("signature flipped", _tamper("Authorization", _flip_sig), "Invalid signature"),
    ("date header changed", _tamper("X-Amz-Date", lambda d: d[:13] + ("00" if d[13:15] != "00" else "01") + "Z"),
     "Invalid signature"),
    ("content-type changed", _tamper("Content-Type", "application/x-amz-json-1.1"), "Invalid signature"),
    ("header duplicated", lambda p: p["headers"].__setitem__("Content-Type", ["application/json", "x"]),
     "Invalid signature"),
])
def test_rejects_tampered_request(ep, kind, name, mutate, expect):
    cert, key = ep.pki.client(key=kind)
    assert error_of(ep.send(cert, key, mutate=mutate)) == (403, "AccessDeniedException", expect), name
    assert not ra.load_issued(ep.issued_path)


def test_rejects_another_certificate_in_the_header(ep):
    cert, key = ep.pki.client()
    other, _ = ep.pki.client()

    def swap(p):
        p["headers"]["X-Amz-X509"] = base64.b64encode(other.public_bytes(serialization.Encoding.DER)).decode()
    st, et, msg = error_of(ep.send(cert, key, mutate=swap))
    # the serial in the scope names the signed certificate, not this one
    assert st == 403 and "serial" in msg


def test_rejects_scope_and_algorithm_errors(ep):
    cert, key = ep.pki.client(key="p256")
    assert error_of(ep.send(cert, key, serial=cert.serial_number + 1))[2].startswith("Credential serial")
    st, et, msg = error_of(ep.send(cert, key, serial=format(cert.serial_number, "X")))  # hex is not decimal
    assert st == 403 and et == "InvalidSignatureException"
    assert "valid region" in error_of(ep.send(cert, key, region="us-east-1"))[2]
    assert "correct service" in error_of(ep.send(cert, key, service="sts"))[2]
    assert "does not match the certificate" in error_of(ep.send(cert, key, alg="AWS4-X509-RSA-SHA256"))[2]
    assert error_of(ep.send(cert, key, alg="AWS4-HMAC-SHA256"))[1] == "IncompleteSignatureException"


def test_rejects_skewed_date_with_aws_message(ep):
    cert, key = ep.pki.client()
    now = datetime.datetime.now(datetime.timezone.utc)
    st, et, msg = error_of(ep.send(cert, key, when=now - datetime.timedelta(minutes=6)))
    assert (st, et) == (403, "InvalidSignatureException") and msg.startswith("Signature expired:")
    st, et, msg = error_of(ep.send(cert, key, when=now + datetime.timedelta(minutes=6)))
    assert msg.startswith("Signature not yet current:")
    assert ep.send(cert, key, when=now - datetime.timedelta(minutes=4))[0] == 201
    # the server's clock can be moved too
    ep.s.clock_offset = 3600
    assert error_of(ep.send(cert, key))[2].startswith("Signature expired:")


@pytest.mark.parametrize("variant,expect", [
    (dict(key="rsa1024"), "RSA key of 1024 bits"),
    (dict(key="secp256k1"), "EC curve secp256k1"),
    (dict(eku=False), "extendedKeyUsage clientAuth"),
    (dict(key_usage=False), "keyUsage digitalSignature"),
    (dict(ca_flag=True), "CA:FALSE"),
    (dict(not_after=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1),
          not_before=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)), "expired"),
])
def test_rejects_certificates_aws_does_not_accept(ep, variant, expect):
    cert, key = ep.pki.client(**variant)
    st, et, msg = error_of(ep.send(cert, key))
    assert (st, et) == (403, "AccessDeniedException") and expect in msg, msg


def test_rejects_certificate_of_another_ca(ep):
    cert, key = TestPKI().client()
    assert error_of(ep.send(cert, key)) == (403, "AccessDeniedException", "Untrusted signing certificate")


def test_rejects_wrong_arns_and_durations(ep):
    cert, key = ep.pki.client(key="p384")
    assert error_of(ep.send(cert, key, ta=ra.arn_ta(ident="ffff")))[:2] == (404, "ResourceNotFoundException")
    assert error_of(ep.send(cert, key, profile=ra.arn_profile(ident="ffff")))[:2] == (404, "ResourceNotFoundException")
    st, et, msg = error_of(ep.send(cert, key, ta=ra.arn_ta(region="us-east-1")))
    assert (st, et) == (400, "ValidationException") and "region" in msg
    st, et, msg = error_of(ep.send(cert, key, role=ra.arn_role("admin")))
    assert (st, et) == (403, "AccessDeniedException") and "Unable to assume role" in msg
    for d in (899, 43201):
        st, et, msg = error_of(ep.send(cert, key, duration=d))
        assert (st, et) == (400, "ValidationException") and "durationSeconds" in msg
    assert ep.send(cert, key, duration=900)[0] == 201
    assert ep.send(cert, key, duration=43200)[0] == 201
    assert not any(r["verdict"] == "ok" and r["duration"] not in (900, 43200) for r in ep.s.requests)


def test_duration_capped_by_certificate_lifetime(ep):
    cert, key = ep.pki.client(not_after=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=20))
    status, _, body = ep.send(cert, key, duration=3600)
    assert status == 201
    exp = json.loads(body)["credentialSet"][0]["credentials"]["expiration"]
    exp = datetime.datetime.strptime(exp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    assert exp <= cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize("mode,status,etype,message", [
    ("trust_anchor_disabled", 403, "AccessDeniedException", "Trust anchor is disabled"),
    ("profile_disabled", 403, "AccessDeniedException", "Profile is disabled"),
    ("untrusted", 403, "AccessDeniedException", "Untrusted signing certificate"),
    ("insufficient", 403, "AccessDeniedException", "Untrusted certificate. Insufficient certificate"),
    ("access_denied", 403, "AccessDeniedException", "Unable to assume role"),
    ("throttle", 429, "ThrottlingException", "Rate exceeded"),
    ("500", 500, "InternalServerException", "An internal error occurred."),
])
def test_fault_modes_answer_like_aws(ep, mode, status, etype, message):
    cert, key = ep.pki.client()
    ep.s.set(script=[mode])
    resp = ep.send(cert, key)
    assert error_of(resp)[:2] == (status, etype)
    assert error_of(resp)[2].startswith(message)
    # the official helper's parser drops everything after ':' of the type
    assert resp[1]["X-Amzn-ErrorType"].startswith(etype + ":http")
    if mode == "throttle":
        assert resp[1]["Retry-After"] == str(ep.s.retry_after)
    # the script is consumed: the next request is served
    assert ep.send(cert, key)[0] == 201


def test_fault_modes_with_bad_success_bodies(ep):
    cert, key = ep.pki.client()
    ep.s.set(script=["garbage", "empty", "no_credentials_field"])
    st, _, body = ep.send(cert, key)
    assert st == 201 and not body.startswith(b"{")
    st, _, body = ep.send(cert, key)
    assert st == 201 and json.loads(body)["credentialSet"] == []
    st, _, body = ep.send(cert, key)
    assert st == 201 and "credentials" not in json.loads(body)["credentialSet"][0]
    assert ra.load_issued(ep.issued_path) == []
    ep.s.slow_seconds = 0.5
    ep.s.set(mode="slow")
    t0 = datetime.datetime.now()
    assert ep.send(cert, key)[0] == 201
    assert (datetime.datetime.now() - t0).total_seconds() >= 0.5


def test_host_header_must_name_the_endpoint(ep):
    cert, key = ep.pki.client()

    def other_host(p):
        p["headers"]["Host"] = "rolesanywhere.eu-central-1.amazonaws.com"
    st, et, msg = error_of(ep.send(cert, key, mutate=other_host))
    assert st == 400 and "Host" in msg


def test_unsigned_request_refused(ep):
    cert, key = ep.pki.client()

    def strip(p):
        del p["headers"]["Authorization"]
    assert error_of(ep.send(cert, key, mutate=strip))[:2] == (403, "MissingAuthenticationTokenException")


def test_standalone_mode_writes_its_description(tmp_path):
    import subprocess
    import sys
    import time
    d = tmp_path / "ra"
    p = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(ra.__file__), "rolesanywhere.py"),
                          "--dir", str(d)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not (d / "standin.json").exists():
            assert p.poll() is None, p.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        info = json.loads((d / "standin.json").read_text())
        cert = x509.load_pem_x509_certificate(open(info["client_cert"], "rb").read())
        key = serialization.load_pem_private_key(open(info["client_key"], "rb").read(), None)

        class E:
            port = int(info["url"].rsplit(":", 1)[1])
            ca_file = info["endpoint_ca"]
        st, _, body = sign_and_send(E, cert, key, info["trust_anchor_arn"], info["profile_arn"], info["role_arn"])
        assert st == 201, body
        assert len(json.load(open(info["issued"]))) == 1
        # the control API switches faults for out-of-process users
        ctx = ssl.create_default_context(cafile=info["endpoint_ca"])
        c = http.client.HTTPSConnection("127.0.0.1", E.port, context=ctx)
        c.request("POST", "/_standin/mode", body=json.dumps({"mode": "profile_disabled"}))
        assert c.getresponse().read()
        c.close()
        st, hdrs, body = sign_and_send(E, cert, key, info["trust_anchor_arn"], info["profile_arn"], info["role_arn"])
        assert st == 403 and json.loads(body)["message"] == "Profile is disabled"
    finally:
        p.terminate()
        p.wait(10)
