"""A local stand-in for the IAM Roles Anywhere `CreateSession` endpoint.

AWS itself is the one component the tests cannot run, so this server checks
every request the way the service does, from the raw HTTP request and
independently of the agent's code:

- SigV4-X.509: the canonical request is rebuilt from what arrived on the
  wire (method, path, the query re-encoded and sorted, the signed headers
  lower-cased/trimmed/sorted, SHA-256 of the body as received), the string to
  sign uses AWS4-X509-RSA-SHA256 or AWS4-X509-ECDSA-SHA256 (matching the
  certificate's key type), and the signature (hex) is verified with the
  public key of the certificate in X-Amz-X509: RSA PKCS#1 v1.5 or ECDSA
  (DER), both over SHA-256.
- The Credential scope: the certificate serial in decimal, the date of
  X-Amz-Date, the endpoint's region, service `rolesanywhere`, `aws4_request`.
- X-Amz-Date within 5 minutes of the server's clock.
- The certificate: within its validity, RSA >= 2048 or EC P-256/P-384,
  an end-entity (CA:FALSE) with keyUsage digitalSignature and EKU clientAuth,
  and a chain (X-Amz-X509-Chain intermediates, comma separated base64 DER)
  up to the configured trust anchor, every signature and CA flag checked.
- The three ARNs (query): the trust anchor and profile this endpoint knows,
  enabled, in its region; a role the profile lists. `durationSeconds`
  900..43200 (the body is JSON, Content-Type application/json).

Replies use the AWS REST-JSON shapes the official helper parses: 201 with
`credentialSet[0].credentials`, errors with `X-Amzn-ErrorType` (with the
`:http://internal.amazon.com/...` suffix the real service appends) and a
`message` body.

Faults are switched with `mode` (every request until changed) or `script`
(one entry per request, consumed first): see MODES. Issued credentials are
kept in `issued` and, when `issued_path` is set, in a JSON file (a KMS
stand-in can accept exactly these). `requests` records every request with
its verdict.

Run standalone (for the system test and benchmarks):
    python3 rolesanywhere.py --dir DIR [--port N]
writes DIR/standin.json (url, ARNs, CA files) once it listens, and accepts
control requests `POST /_standin/mode {"mode": ..., "script": [...]}` and
`GET /_standin/stats`.
"""

import base64
import binascii
import datetime
import hashlib
import http.server
import json
import os
import secrets
import socket
import ssl
import string
import tempfile
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

REGION = "eu-central-1"
ACCOUNT = "123456789012"
MAX_SKEW = 300  # seconds, like AWS
ERROR_SUFFIX = ":http://internal.amazon.com/coral/com.amazonaws.rolesanywhere/"

# mode -> what the endpoint answers (after a fully verified request, except
# "garbage"/"500"/"slow" which model transport or server faults and so
# answer whatever came in).
MODES = ("ok", "trust_anchor_disabled", "profile_disabled", "untrusted", "insufficient", "access_denied",
         "throttle", "500", "slow", "garbage", "empty", "no_credentials_field")


def arn_ta(region=REGION, ident="a1b2c3d4-0000-4000-8000-00000000000a"):
    return f"arn:aws:rolesanywhere:{region}:{ACCOUNT}:trust-anchor/{ident}"


def arn_profile(region=REGION, ident="a1b2c3d4-0000-4000-8000-00000000000b"):
    return f"arn:aws:rolesanywhere:{region}:{ACCOUNT}:profile/{ident}"


def arn_role(name="agentic-vault-signer"):
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


class Rejected(Exception):
    """An AWS-style error reply: HTTP status, error type, message."""

    def __init__(self, status, etype, message):
        super().__init__(f"{status} {etype}: {message}")
        self.status, self.etype, self.message = status, etype, message


# ---- SigV4 pieces, written from the SigV4 specification ----------------------

_UNRESERVED = set(string.ascii_letters + string.digits + "-_.~")


def sigv4_encode(s):
    """URI-encode every byte except the unreserved characters (SigV4)."""
    out = []
    for b in s.encode("utf-8"):
        c = chr(b)
        out.append(c if c in _UNRESERVED else "%%%02X" % b)
    return "".join(out)


def canonical_query(raw_query):
    """The canonical query string from the query as it arrived: every
    name/value decoded, re-encoded, sorted by name then value."""
    pairs = []
    if raw_query:
        for part in raw_query.split("&"):
            if part == "":
                continue
            k, _, v = part.partition("=")
            pairs.append((sigv4_encode(urllib.parse.unquote(k)), sigv4_encode(urllib.parse.unquote(v))))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def canonical_header_value(values):
    """Values of one header name joined with ',' after trimming and
    collapsing runs of spaces (SigV4)."""
    return ",".join(" ".join(v.strip().split()) for v in values)


def parse_authorization(value):
    alg, _, rest = value.strip().partition(" ")
    fields = {}
    for item in rest.split(","):
        k, sep, v = item.strip().partition("=")
        if not sep:
            raise Rejected(403, "IncompleteSignatureException",
                           f"Authorization header requires Credential, SignedHeaders and Signature: {value[:80]}")
        fields[k] = v
    for k in ("Credential", "SignedHeaders", "Signature"):
        if k not in fields:
            raise Rejected(403, "IncompleteSignatureException", f"Authorization header requires '{k}' parameter.")
    return alg, fields


def _fmt_amz(dt):
    return dt.strftime("%Y%m%dT%H%M%SZ")


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _utc(dt):
    return dt if dt.tzinfo else dt.replace(tzinfo=datetime.timezone.utc)


# ---- certificate checks ------------------------------------------------------

def _verify_issued_by(cert, issuer):
    """Signature of `cert` made by `issuer`'s key (cryptography 38 has no
    verify_directly_issued_by)."""
    if cert.issuer != issuer.subject:
        return False
    pub = issuer.public_key()
    h = cert.signature_hash_algorithm
    try:
        if isinstance(pub, rsa.RSAPublicKey):
            pub.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), h)
        elif isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(h))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _ext(cert, cls):
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def check_key_strength(pub):
    if isinstance(pub, rsa.RSAPublicKey):
        if pub.key_size < 2048:
            raise Rejected(403, "AccessDeniedException",
                           f"Untrusted signing certificate: RSA key of {pub.key_size} bits (2048 or more required)")
        return "AWS4-X509-RSA-SHA256"
    if isinstance(pub, ec.EllipticCurvePublicKey):
        if pub.curve.name not in ("secp256r1", "secp384r1"):
            raise Rejected(403, "AccessDeniedException",
                           f"Untrusted signing certificate: EC curve {pub.curve.name} is not supported")
        return "AWS4-X509-ECDSA-SHA256"
    raise Rejected(403, "AccessDeniedException", "Untrusted signing certificate: unsupported key type")


def check_leaf(cert, now):
    nb, na = _utc(cert.not_valid_before), _utc(cert.not_valid_after)
    if now < nb:
        raise Rejected(403, "AccessDeniedException", "Untrusted signing certificate: certificate is not yet valid")
    if now > na:
        raise Rejected(403, "AccessDeniedException", "Untrusted signing certificate: certificate has expired")
    if cert.signature_hash_algorithm is None or cert.signature_hash_algorithm.name not in ("sha256", "sha384", "sha512"):
        raise Rejected(403, "AccessDeniedException", "Untrusted signing certificate: weak signature algorithm")
    bc = _ext(cert, x509.BasicConstraints)
    if bc is not None and bc.ca:
        raise Rejected(403, "AccessDeniedException",
                       "Untrusted certificate. Insufficient certificate: an end-entity certificate must be CA:FALSE")
    ku = _ext(cert, x509.KeyUsage)
    if ku is None or not ku.digital_signature:
        raise Rejected(403, "AccessDeniedException",
                       "Untrusted certificate. Insufficient certificate: keyUsage digitalSignature is required")
    eku = _ext(cert, x509.ExtendedKeyUsage)
    if eku is None or ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        raise Rejected(403, "AccessDeniedException",
                       "Untrusted certificate. Insufficient certificate: extendedKeyUsage clientAuth is required")


def check_chain(leaf, intermediates, anchors, now):
    """Walk leaf -> intermediates -> an anchor; every link a verified
    signature by a valid CA certificate."""
    current = leaf
    pool = list(intermediates)
    for _ in range(len(pool) + 1):
        for a in anchors:
            if _verify_issued_by(current, a):
                return
        nxt = None
        for c in pool:
            if _verify_issued_by(current, c):
                nxt = c
                break
        if nxt is None:
            break
        bc = _ext(nxt, x509.BasicConstraints)
        ku = _ext(nxt, x509.KeyUsage)
        if bc is None or not bc.ca or (ku is not None and not ku.key_cert_sign):
            raise Rejected(403, "AccessDeniedException",
                           "Untrusted signing certificate: an intermediate is not a CA certificate")
        if not (_utc(nxt.not_valid_before) <= now <= _utc(nxt.not_valid_after)):
            raise Rejected(403, "AccessDeniedException",
                           "Untrusted signing certificate: an intermediate CA certificate is not valid now")
        pool.remove(nxt)
        current = nxt
    raise Rejected(403, "AccessDeniedException", "Untrusted signing certificate")


def _decode_cert(b64, what):
    try:
        der = base64.b64decode(b64.strip(), validate=True)
        return x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError) as e:
        raise Rejected(400, "ValidationException", f"{what} is not a base64 DER certificate: {e}")


# ---- the request verifier ----------------------------------------------------

class Request:
    """What arrived: method, raw target (path?query), header list (name,
    value) in order, raw body."""

    def __init__(self, method, target, headers, body):
        self.method, self.target, self.headers, self.body = method, target, headers, body

    def values(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def one(self, name):
        v = self.values(name)
        return v[0] if len(v) == 1 else None


def verify(req, anchors, region, service="rolesanywhere", now=None):
    """Check one CreateSession request like AWS. Returns a dict of the
    verified facts (cert, serial, algorithm, query, body). Raises Rejected."""
    now = now or _now()
    path, _, raw_query = req.target.partition("?")
    if req.method != "POST" or path != "/sessions":
        raise Rejected(404, "UnknownOperationException", f"no operation {req.method} {path}")

    auth = req.values("Authorization")
    if len(auth) != 1:
        raise Rejected(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    alg, fields = parse_authorization(auth[0])
    if alg not in ("AWS4-X509-RSA-SHA256", "AWS4-X509-ECDSA-SHA256"):
        raise Rejected(403, "IncompleteSignatureException", f"Unsupported signing algorithm {alg}")

    amz_date = req.one("X-Amz-Date")
    try:
        signed_at = datetime.datetime.strptime(amz_date or "", "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise Rejected(403, "IncompleteSignatureException",
                       f"X-Amz-Date must be in the ISO8601 basic format YYYYMMDD'T'HHMMSS'Z', got {amz_date!r}")
    skew = (signed_at - now).total_seconds()
    if skew < -MAX_SKEW:
        raise Rejected(403, "InvalidSignatureException",
                       f"Signature expired: {_fmt_amz(signed_at)} is now earlier than "
                       f"{_fmt_amz(now - datetime.timedelta(seconds=MAX_SKEW))} ({_fmt_amz(now)} - 5 min.)")
    if skew > MAX_SKEW:
        raise Rejected(403, "InvalidSignatureException",
                       f"Signature not yet current: {_fmt_amz(signed_at)} is still later than "
                       f"{_fmt_amz(now + datetime.timedelta(seconds=MAX_SKEW))} ({_fmt_amz(now)} + 5 min.)")

    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise Rejected(403, "IncompleteSignatureException",
                       f"Credential should be scoped to a valid region: {fields['Credential']}")
    serial_s, date_s, region_s, service_s, _ = scope
    if date_s != amz_date[:8]:
        raise Rejected(403, "InvalidSignatureException",
                       f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                       f"'{date_s}' != '{amz_date[:8]}'")
    if region_s != region:
        raise Rejected(403, "InvalidSignatureException",
                       f"Credential should be scoped to a valid region. '{region_s}' is not '{region}'")
    if service_s != service:
        raise Rejected(403, "InvalidSignatureException",
                       f"Credential should be scoped to correct service: '{service}'")

    x509_hdr = req.values("X-Amz-X509")
    if len(x509_hdr) != 1:
        raise Rejected(400, "ValidationException", "exactly one X-Amz-X509 header is required")
    leaf = _decode_cert(x509_hdr[0], "X-Amz-X509")
    if not serial_s.isdigit() or int(serial_s) != leaf.serial_number or serial_s != str(leaf.serial_number):
        raise Rejected(403, "InvalidSignatureException",
                       f"Credential serial {serial_s} is not the certificate's serial (decimal {leaf.serial_number})")
    expected_alg = check_key_strength(leaf.public_key())
    if alg != expected_alg:
        raise Rejected(403, "InvalidSignatureException",
                       f"Signing algorithm {alg} does not match the certificate's key ({expected_alg})")

    chain_hdr = req.values("X-Amz-X509-Chain")
    if len(chain_hdr) > 1:
        raise Rejected(400, "ValidationException", "more than one X-Amz-X509-Chain header")
    intermediates = [_decode_cert(p, "X-Amz-X509-Chain") for p in chain_hdr[0].split(",")] if chain_hdr else []

    # signed headers: lower case, sorted, unique, each present; the ones that
    # carry identity must be among them
    signed = fields["SignedHeaders"].split(";")
    if signed != sorted(set(signed)) or any(h != h.lower() or not h for h in signed):
        raise Rejected(403, "InvalidSignatureException", f"SignedHeaders must be lower case, sorted, unique: {signed}")
    required = {"host", "x-amz-date", "x-amz-x509"} | ({"x-amz-x509-chain"} if chain_hdr else set())
    missing = required - set(signed)
    if missing:
        raise Rejected(403, "InvalidSignatureException", f"headers not signed: {', '.join(sorted(missing))}")
    present = {k.lower() for k, _ in req.headers}
    for h in signed:
        if h not in present:
            raise Rejected(403, "InvalidSignatureException", f"signed header {h} is not in the request")
    for h in present:
        if h.startswith("x-amz-") and h not in signed:
            raise Rejected(403, "InvalidSignatureException", f"header {h} is not signed")

    payload_hash = hashlib.sha256(req.body).hexdigest()
    declared = req.one("X-Amz-Content-Sha256")
    if declared is not None and declared != payload_hash:
        raise Rejected(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match")
    canonical = "\n".join([
        req.method,
        path,
        canonical_query(raw_query),
        "".join(f"{h}:{canonical_header_value(req.values(h))}\n" for h in signed),
        ";".join(signed),
        payload_hash,
    ])
    sts = "\n".join([alg, amz_date, "/".join(scope[1:]), hashlib.sha256(canonical.encode()).hexdigest()])
    try:
        sig = bytes.fromhex(fields["Signature"])
    except ValueError:
        raise Rejected(403, "InvalidSignatureException", "Signature is not hex")
    pub = leaf.public_key()
    try:
        if isinstance(pub, rsa.RSAPublicKey):
            pub.verify(sig, sts.encode(), padding.PKCS1v15(), hashes.SHA256())
        else:
            pub.verify(sig, sts.encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Rejected(403, "AccessDeniedException", "Invalid signature")

    check_leaf(leaf, now)
    check_chain(leaf, intermediates, anchors, now)

    query = {}
    for part in raw_query.split("&") if raw_query else []:
        k, _, v = part.partition("=")
        k, v = urllib.parse.unquote(k), urllib.parse.unquote(v)
        if k in query:
            raise Rejected(400, "ValidationException", f"query parameter {k} given twice")
        query[k] = v
    ctype = (req.one("Content-Type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise Rejected(415, "UnsupportedMediaTypeException", f"Content-Type must be application/json, not {ctype!r}")
    try:
        body = json.loads(req.body or b"{}")
        if not isinstance(body, dict):
            raise ValueError("not an object")
    except ValueError as e:
        raise Rejected(400, "SerializationException", f"body is not a JSON object: {e}")
    return {"cert": leaf, "serial": leaf.serial_number, "algorithm": alg, "query": query, "body": body,
            "intermediates": intermediates, "signed_at": signed_at}


# ---- the server --------------------------------------------------------------

def _access_key():
    return "ASIA" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16))


class StandIn:
    """The endpoint. anchors: CA certificates of the (enabled) trust anchor.
    tls_cert/tls_key: the server's certificate (PEM bytes) for 127.0.0.1."""

    def __init__(self, anchors, tls_cert_pem, tls_key_pem, region=REGION, trust_anchor_arn=None,
                 profile_arn=None, role_arns=None, issued_path=None, host="127.0.0.1", port=0,
                 profile_max_duration=43200):
        self.anchors = list(anchors)
        self.region = region
        self.trust_anchor_arn = trust_anchor_arn or arn_ta(region)
        self.profile_arn = profile_arn or arn_profile(region)
        self.role_arns = list(role_arns or [arn_role()])
        self.profile_max_duration = profile_max_duration
        self.issued_path = issued_path
        self.mode = "ok"
        self.script = []          # per-request modes, consumed before `mode`
        self.slow_seconds = 3.0   # for "slow"
        self.retry_after = 2      # seconds, for "throttle"
        self.clock_offset = 0.0   # the server's clock vs. ours (skew tests)
        self.issued = []          # every credential handed out
        self.requests = []        # dicts: time, headers, target, verdict, status, mode
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.path == "/_standin/stats":
                    return self._send(200, {"requests": outer.count(), "ok": outer.count("ok"),
                                            "issued": len(outer.issued)})
                self._send(404, {"message": "not found"})

            def do_POST(self):
                body = self._body()
                if self.path == "/_standin/mode":
                    c = json.loads(body)
                    with outer.lock:
                        outer.mode = c.get("mode", outer.mode)
                        outer.script = list(c.get("script", outer.script))
                    return self._send(200, {"mode": outer.mode})
                status, hdrs, payload = outer.handle(Request("POST", self.path, list(self.headers.items()), body))
                try:
                    self.send_response(status)
                    for k, v in hdrs:
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    pass

            def _body(self):
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    out = b""
                    while True:
                        n = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if n == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return out
                        out += self.rfile.read(n)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _send(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._dir = tempfile.mkdtemp(prefix="agv-ra-tls-")
        cf, kf = os.path.join(self._dir, "server.crt"), os.path.join(self._dir, "server.key")
        with open(cf, "wb") as f:
            f.write(tls_cert_pem)
        with open(kf, "wb") as f:
            f.write(tls_key_pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cf, kf)
        os.unlink(kf)
        self.httpd = http.server.ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        self.host = host
        self.port = self.httpd.server_address[1]
        self.url = f"https://{host}:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    # -- introspection used by the tests --
    def count(self, verdict=None):
        with self.lock:
            return sum(1 for r in self.requests if verdict is None or r["verdict"] == verdict)

    def wait_requests(self, n, timeout=15.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"stand-in: {len(self.requests)} of {n} requests after {timeout}s: "
                                         f"{[r['verdict'] for r in self.requests]}")
                self.cond.wait(left)
            return list(self.requests)

    def secrets_issued(self):
        with self.lock:
            return [c["secretAccessKey"] for c in self.issued] + [c["sessionToken"] for c in self.issued]

    def set(self, mode=None, script=None):
        with self.lock:
            if mode is not None:
                assert mode in MODES, mode
                self.mode = mode
            if script is not None:
                assert all(m in MODES for m in script), script
                self.script = list(script)

    # -- the endpoint --
    def _error(self, status, etype, message, extra=()):
        body = json.dumps({"message": message}).encode()
        return status, [("Content-Type", "application/json"), ("X-Amzn-ErrorType", etype + ERROR_SUFFIX),
                        ("x-amzn-RequestId", secrets.token_hex(16)), *extra], body

    def handle(self, req):
        now = _now() + datetime.timedelta(seconds=self.clock_offset)
        with self.lock:
            mode = self.script.pop(0) if self.script else self.mode
        rec = {"time": time.time(), "target": req.target, "headers": req.headers, "body": req.body,
               "mode": mode, "verdict": None, "status": None, "serial": None}
        try:  # who tried, also when the request is then rejected
            rec["serial"] = _decode_cert(req.values("X-Amz-X509")[0], "X-Amz-X509").serial_number
        except (IndexError, Rejected):
            pass
        try:
            status, hdrs, payload = self._handle(req, mode, now, rec)
        except Rejected as e:
            rec["verdict"] = e.etype
            rec["message"] = e.message
            status, hdrs, payload = self._error(e.status, e.etype, e.message)
        rec["status"] = status
        with self.cond:
            self.requests.append(rec)
            self.cond.notify_all()
        return status, hdrs, payload

    def _handle(self, req, mode, now, rec):
        if mode == "slow":
            time.sleep(self.slow_seconds)
        if mode == "500":
            rec["verdict"] = "500"
            return self._error(500, "InternalServerException", "An internal error occurred.")
        if mode == "garbage":
            rec["verdict"] = "garbage"
            return 201, [("Content-Type", "application/json")], b"<html>\x00\xff not json {"
        host = req.values("Host")
        names = [self.host] + (["localhost"] if self.host in ("127.0.0.1", "::1") else [])
        if len(host) != 1 or host[0] not in [f"{n}:{self.port}" for n in names] + (names if self.port == 443 else []):
            raise Rejected(400, "ValidationException", f"Host header {host} is not this endpoint")
        facts = verify(req, self.anchors, self.region, now=now)
        q = facts["query"]
        for k in ("trustAnchorArn", "profileArn", "roleArn"):
            if not q.get(k):
                raise Rejected(400, "ValidationException", f"1 validation error detected: '{k}' is required")
        for k, v in q.items():
            if k not in ("trustAnchorArn", "profileArn", "roleArn"):
                raise Rejected(400, "ValidationException", f"unknown query parameter {k}")
        for k in ("trustAnchorArn", "profileArn"):
            parts = q[k].split(":")
            if len(parts) != 6 or parts[:3] != ["arn", "aws", "rolesanywhere"]:
                raise Rejected(400, "ValidationException", f"Invalid {k}: {q[k]}")
            if parts[3] != self.region:
                raise Rejected(400, "ValidationException", f"{k} region {parts[3]} does not match {self.region}")
        if q["trustAnchorArn"] != self.trust_anchor_arn:
            raise Rejected(404, "ResourceNotFoundException", "Trust anchor not found")
        if q["profileArn"] != self.profile_arn:
            raise Rejected(404, "ResourceNotFoundException", "Profile not found")
        body = facts["body"]
        for k in body:
            if k not in ("durationSeconds", "roleSessionName", "instanceProperties", "sessionName"):
                raise Rejected(400, "SerializationException", f"unknown field {k}")
        dur = body.get("durationSeconds", 3600)
        if not isinstance(dur, int) or isinstance(dur, bool):
            raise Rejected(400, "SerializationException", "durationSeconds must be an integer")
        if dur < 900 or dur > 43200:
            bound = "greater than or equal to 900" if dur < 900 else "less than or equal to 43200"
            raise Rejected(400, "ValidationException", f"1 validation error detected: Value '{dur}' at "
                           f"'durationSeconds' failed to satisfy constraint: Member must have value {bound}")
        rsn = body.get("roleSessionName")
        if rsn is not None and (not isinstance(rsn, str) or not 2 <= len(rsn) <= 64
                                or any(c not in string.ascii_letters + string.digits + "+=,.@-_" for c in rsn)):
            raise Rejected(400, "ValidationException", f"Invalid roleSessionName {rsn!r}")

        if mode == "trust_anchor_disabled":
            raise Rejected(403, "AccessDeniedException", "Trust anchor is disabled")
        if mode == "profile_disabled":
            raise Rejected(403, "AccessDeniedException", "Profile is disabled")
        if mode == "untrusted":
            raise Rejected(403, "AccessDeniedException", "Untrusted signing certificate")
        if mode == "insufficient":
            raise Rejected(403, "AccessDeniedException", "Untrusted certificate. Insufficient certificate")
        if q["roleArn"] not in self.role_arns:
            raise Rejected(403, "AccessDeniedException", f"Unable to assume role for {q['roleArn']}")
        if mode == "access_denied":
            raise Rejected(403, "AccessDeniedException",
                           f"Unable to assume role for {q['roleArn']}. Verify the role trust policy")
        if mode == "throttle":
            rec["verdict"] = "ThrottlingException"
            return self._error(429, "ThrottlingException", "Rate exceeded",
                               extra=[("Retry-After", str(self.retry_after))])
        if mode == "empty":
            rec["verdict"] = "empty"
            return 201, [("Content-Type", "application/json")], json.dumps(
                {"credentialSet": [], "subjectArn": f"arn:aws:rolesanywhere:{self.region}:{ACCOUNT}:subject/x"}).encode()

        cert = facts["cert"]
        seconds = min(dur, self.profile_max_duration,
                      int((_utc(cert.not_valid_after) - now).total_seconds()))
        expiration = (now + datetime.timedelta(seconds=seconds)).replace(microsecond=0)
        cred = {"accessKeyId": _access_key(),
                "secretAccessKey": base64.b64encode(secrets.token_bytes(30)).decode(),
                "sessionToken": "IQoJb3JpZ2luX2Vj" + base64.b64encode(secrets.token_bytes(300)).decode(),
                "expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ")}
        role_name = q["roleArn"].rsplit("/", 1)[-1]
        session = rsn or str(cert.serial_number)
        entry = {"credentials": cred,
                 "assumedRoleUser": {"arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{session}",
                                     "assumedRoleId": "AROA" + secrets.token_hex(8).upper() + ":" + session},
                 "packedPolicySize": 0, "roleArn": q["roleArn"],
                 "sourceIdentity": cert.subject.rfc4514_string()}
        if mode == "no_credentials_field":
            del entry["credentials"]
        with self.lock:
            if mode != "no_credentials_field":
                self.issued.append(dict(cred, serial=cert.serial_number, roleArn=q["roleArn"],
                                        durationSeconds=dur, roleSessionName=rsn))
                self._save_issued()
        rec["verdict"] = "ok" if mode != "no_credentials_field" else "no_credentials_field"
        rec["duration"] = dur
        body = {"credentialSet": [entry],
                "subjectArn": f"arn:aws:rolesanywhere:{self.region}:{ACCOUNT}:subject/{secrets.token_hex(8)}"}
        return 201, [("Content-Type", "application/json"), ("x-amzn-RequestId", secrets.token_hex(16))], \
            json.dumps(body).encode()

    def _save_issued(self):
        # atomically, so a reader (a KMS stand-in) never sees half a file
        if not self.issued_path:
            return
        tmp = self.issued_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.issued, f)
        os.rename(tmp, self.issued_path)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        try:
            os.unlink(os.path.join(self._dir, "server.crt"))
            os.rmdir(self._dir)
        except OSError:
            pass


def load_issued(path):
    """The credentials a stand-in issued (for other stand-ins, e.g. KMS)."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return []


# ---- test PKI for the endpoint's TLS ----------------------------------------

def make_tls(host="127.0.0.1"):
    """A throwaway CA and a server certificate for `host` (IP SAN and
    localhost). Returns (ca_pem, cert_pem, key_pem)."""
    import ipaddress
    now = _now()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "agv-agent test endpoint CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName("localhost")]
    try:
        sans.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        sans.append(x509.DNSName(host))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return (ca.public_bytes(pem), cert.public_bytes(pem),
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    """Standalone: a fresh client PKI (CA + RSA client pair) and endpoint
    in DIR; DIR/standin.json says where everything is."""
    import argparse
    import signal
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dir", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--client-key", default="rsa2048")
    a = p.parse_args()
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from agvtest import TestPKI, cert_pem, key_pem
    pki = TestPKI()
    cert, key = pki.client(key=a.client_key)
    os.makedirs(a.dir, exist_ok=True)

    def put(name, data, mode=0o644):
        path = os.path.join(a.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return path
    ca_pem, tls_cert, tls_key = make_tls(a.host)
    s = StandIn([pki.ca_cert], tls_cert, tls_key, host=a.host, port=a.port,
                issued_path=os.path.join(a.dir, "issued.json"))
    info = {"url": s.url, "region": s.region, "trust_anchor_arn": s.trust_anchor_arn,
            "profile_arn": s.profile_arn, "role_arn": s.role_arns[0],
            "endpoint_ca": put("endpoint-ca.pem", ca_pem), "client_ca": put("ca.pem", cert_pem(pki.ca_cert)),
            "client_cert": put("client.crt", cert_pem(cert)), "client_key": put("client.key", key_pem(key), 0o600),
            # so a test can issue a renewed client certificate the endpoint trusts
            "client_ca_key": put("ca.key", key_pem(pki.ca_key), 0o600),
            "issued": os.path.join(a.dir, "issued.json")}
    put("standin.json.tmp", json.dumps(info).encode())
    os.rename(os.path.join(a.dir, "standin.json.tmp"), os.path.join(a.dir, "standin.json"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    s.close()


if __name__ == "__main__":
    main()
