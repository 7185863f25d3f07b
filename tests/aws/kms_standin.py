#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A local stand-in for AWS KMS, enough for the real signer (DescribeKey,
GetPublicKey, Sign with one secp256k1 key) reached through
AWS_ENDPOINT_URL_KMS.

Like AWS, it checks every request's SigV4 signature (HMAC-SHA256 over the
canonical request) against the credentials it accepts, independently of the
agent: the static ones given with --access-key/--secret-key, and every
credential in --creds-file (JSON objects, one per line or a JSON array, with
AccessKeyId, SecretAccessKey and optionally SessionToken and Expiration, or
the same in camelCase as tests/integration/rolesanywhere.py writes them),
re-read on every request so a Roles Anywhere stand-in can append the ones it
issues. A request with an unknown key id, a missing or wrong session token,
an expired credential, a stale date or a wrong signature is refused with
the error AWS would give, and counted.

Test hooks on /_standin/ (loopback, outside the KMS API): GET stats, POST
fault?op=GetPublicKey&count=N&type=T (fail the next N calls of op with
error T: KMSInternalException, HTTP 500, which the SDK retries, or
AccessDeniedException, HTTP 400, which it does not), POST delay?op=Sign&ms=N (answer every call of op N ms
late; 0 ends it), POST reset.

On start it prints one JSON line on stdout: {"port", "key_id", "address"}
(the Ethereum address of the key, computed here with its own Keccak-256).
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

KEY_ARN_PREFIX = "arn:aws:kms:{region}:111122223333:key/"
MAX_SKEW = datetime.timedelta(minutes=5)

# ---- Keccak-256 (Ethereum's, not SHA3-256: different padding) -----------

_RC = [
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
]
_ROT = [[0, 36, 3, 41, 18], [1, 44, 10, 45, 2], [62, 6, 43, 15, 61], [28, 55, 25, 21, 56], [27, 20, 39, 8, 14]]
_M = (1 << 64) - 1


def _rol(v, n):
    return ((v << n) | (v >> (64 - n))) & _M if n else v


def _keccak_f(a):
    for rc in _RC:
        c = [a[x][0] ^ a[x][1] ^ a[x][2] ^ a[x][3] ^ a[x][4] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rol(c[(x + 1) % 5], 1) for x in range(5)]
        a = [[a[x][y] ^ d[x] for y in range(5)] for x in range(5)]
        b = [[0] * 5 for _ in range(5)]
        for x in range(5):
            for y in range(5):
                b[y][(2 * x + 3 * y) % 5] = _rol(a[x][y], _ROT[x][y])
        a = [[b[x][y] ^ ((~b[(x + 1) % 5][y]) & b[(x + 2) % 5][y]) for y in range(5)] for x in range(5)]
        a[0][0] ^= rc
    return a


def keccak256(data: bytes) -> bytes:
    rate = 136
    msg = bytearray(data) + b"\x01"
    msg += b"\x00" * (-len(msg) % rate)
    msg[-1] |= 0x80
    a = [[0] * 5 for _ in range(5)]
    for off in range(0, len(msg), rate):
        block = msg[off:off + rate]
        for i in range(rate // 8):
            x, y = i % 5, i // 5
            a[x][y] ^= int.from_bytes(block[8 * i:8 * i + 8], "little")
        a = _keccak_f(a)
    out = b""
    for i in range(4):
        out += a[i % 5][i // 5].to_bytes(8, "little")
    return out


def eth_address(pub: ec.EllipticCurvePublicKey) -> str:
    raw = pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return "0x" + keccak256(raw[1:])[-20:].hex()


# ---- SigV4 ----------------------------------------------------------------

class AuthError(Exception):
    def __init__(self, kind, message, status=400):
        super().__init__(message)
        self.kind, self.message, self.status = kind, message, status


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _uri_encode(s, keep_slash):
    return urllib.parse.quote(s, safe="/-_.~" if keep_slash else "-_.~")


def verify_sigv4(method, path, query, headers, body, credentials, region, service, now):
    """Returns the AccessKeyId that signed the request, or raises AuthError."""
    auth = headers.get("authorization")
    if not auth:
        raise AuthError("MissingAuthenticationTokenException", "Missing Authentication Token")
    algo, _, rest = auth.partition(" ")
    if algo != "AWS4-HMAC-SHA256":
        raise AuthError("IncompleteSignatureException", f"Unsupported algorithm {algo}")
    parts = {}
    for p in rest.split(","):
        k, _, v = p.strip().partition("=")
        parts[k] = v
    try:
        akid, date, reg, svc, term = parts["Credential"].split("/")
        signed = parts["SignedHeaders"].split(";")
        sig = parts["Signature"]
    except (KeyError, ValueError):
        raise AuthError("IncompleteSignatureException", "Authorization header is malformed")
    if term != "aws4_request" or svc != service:
        raise AuthError("InvalidSignatureException", f"Credential should be scoped to correct service: '{service}'.")
    if reg != region:
        raise AuthError("InvalidSignatureException", f"Credential should be scoped to a valid region: '{region}'.")
    if "host" not in signed:
        raise AuthError("InvalidSignatureException", "'Host' must be a signed header.")
    amzdate = headers.get("x-amz-date")
    if not amzdate or not amzdate.startswith(date):
        raise AuthError("IncompleteSignatureException", "X-Amz-Date missing or not matching the credential scope")
    when = datetime.datetime.strptime(amzdate, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    if abs(now - when) > MAX_SKEW:
        raise AuthError("InvalidSignatureException", "Signature expired: the request date is too far from the server time.")

    cred = credentials.get(akid)
    if cred is None:
        raise AuthError("UnrecognizedClientException", "The security token included in the request is invalid.")
    token = headers.get("x-amz-security-token")
    if cred.get("SessionToken") and token != cred["SessionToken"]:
        raise AuthError("UnrecognizedClientException", "The security token included in the request is invalid.")
    if cred.get("SessionToken") and "x-amz-security-token" not in signed:
        raise AuthError("InvalidSignatureException", "The security token must be signed.")
    exp = cred.get("Expiration")
    if exp:
        e = datetime.datetime.fromisoformat(exp.replace("Z", "+00:00"))
        if now >= e:
            raise AuthError("ExpiredTokenException", "The security token included in the request is expired")

    canon_query = "&".join(
        f"{_uri_encode(k, False)}={_uri_encode(v, False)}"
        for k, v in sorted(urllib.parse.parse_qsl(query, keep_blank_values=True)))
    canon_headers = "".join(f"{h}:{' '.join(headers.get(h, '').split())}\n" for h in signed)
    payload_hash = hashlib.sha256(body).hexdigest()
    creq = "\n".join([method, _uri_encode(path, True) or "/", canon_query, canon_headers, ";".join(signed), payload_hash])
    scope = f"{date}/{reg}/{svc}/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amzdate, scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = _hmac(("AWS4" + cred["SecretAccessKey"]).encode(), date)
    k = _hmac(k, reg)
    k = _hmac(k, svc)
    k = _hmac(k, "aws4_request")
    want = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, sig):
        raise AuthError("InvalidSignatureException",
                        "The request signature we calculated does not match the signature you provided.")
    return akid


def load_credentials(static, creds_file):
    creds = dict(static)
    if creds_file and os.path.exists(creds_file):
        with open(creds_file) as f:
            text = f.read().strip()
        items = []
        if text.startswith("["):
            items = json.loads(text)
        else:
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        for c in items:
            # the STS/credential_process shape, or the Roles Anywhere one (camelCase)
            c = {k[0].upper() + k[1:]: v for k, v in c.items()}
            creds[c["AccessKeyId"]] = c
    return creds


# ---- the service ------------------------------------------------------------

class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.region = args.region
        self.key = ec.generate_private_key(ec.SECP256K1())
        self.key_uuid = "1234abcd-12ab-34cd-56ef-1234567890ab"
        self.arn = KEY_ARN_PREFIX.format(region=args.region) + self.key_uuid
        self.alias = args.key_id
        self.static = {}
        if args.access_key:
            self.static[args.access_key] = {"AccessKeyId": args.access_key, "SecretAccessKey": args.secret_key,
                                            "SessionToken": args.session_token}
        self.creds_file = args.creds_file
        self.faults = {}
        self.delays = {}
        self.reset()

    def reset(self):
        self.stats = {"ok": {}, "refused": {}, "by_key": {}, "faults": 0}
        self.faults = {}
        self.delays = {}

    def count(self, bucket, name):
        d = self.stats[bucket]
        d[name] = d.get(name, 0) + 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kms-standin"

    def log_message(self, fmt, *a):
        if os.environ.get("KMS_STANDIN_DEBUG"):
            sys.stderr.write("kms-standin: " + fmt % a + "\n")

    def reply(self, status, obj, ctype="application/x-amz-json-1.1"):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", base64.b16encode(os.urandom(8)).decode())
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, kind, message):
        self.reply(status, {"__type": kind, "message": message})

    def do_GET(self):
        st = self.server.state
        if self.path.startswith("/_standin/stats"):
            with st.lock:
                self.reply(200, st.stats, "application/json")
            return
        self.error(404, "UnknownOperationException", "not found")

    def do_POST(self):
        st = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/_standin/fault":
            q = dict(urllib.parse.parse_qsl(url.query))
            with st.lock:
                st.faults[q["op"]] = (int(q.get("count", "1")), q.get("type", "KMSInternalException"))
            self.reply(200, {"ok": True}, "application/json")
            return
        if url.path == "/_standin/delay":
            q = dict(urllib.parse.parse_qsl(url.query))
            with st.lock:
                st.delays[q["op"]] = int(q.get("ms", "0")) / 1000.0
            self.reply(200, {"ok": True}, "application/json")
            return
        if url.path == "/_standin/reset":
            with st.lock:
                st.reset()
            self.reply(200, {"ok": True}, "application/json")
            return

        target = self.headers.get("X-Amz-Target", "")
        op = target.split(".", 1)[1] if target.startswith("TrentService.") else target
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            creds = load_credentials(st.static, st.creds_file)
            akid = verify_sigv4("POST", url.path, url.query, headers, body, creds, st.region, "kms",
                                datetime.datetime.now(datetime.timezone.utc))
        except AuthError as e:
            with st.lock:
                st.count("refused", e.kind)
            self.error(e.status, e.kind, e.message)
            return
        except (ValueError, json.JSONDecodeError) as e:
            self.error(500, "KMSInternalException", f"stand-in: bad credentials file: {e}")
            return
        with st.lock:
            st.count("by_key", akid)
            n, fault = st.faults.get(op, (0, None))
            if n > 0:
                st.faults[op] = (n - 1, fault)
                st.stats["faults"] += 1
            else:
                fault = None
            delay = st.delays.get(op, 0)
        if delay:
            time.sleep(delay)
        if fault == "AccessDeniedException":
            self.error(400, fault, f"User: arn:aws:sts::111122223333:assumed-role/agentic-vault-signer/x is not "
                                   f"authorized to perform: kms:{op} (stand-in fault)")
            return
        if fault:
            self.error(500, fault, f"stand-in fault injected into {op}")
            return
        try:
            req = json.loads(body or b"{}")
        except json.JSONDecodeError:
            self.error(400, "SerializationException", "body is not JSON")
            return
        key_id = req.get("KeyId")
        if key_id not in (st.alias, st.key_uuid, st.arn):
            self.error(400, "NotFoundException", f"Key '{key_id}' does not exist")
            return
        pub = st.key.public_key()
        if op == "DescribeKey":
            out = {"KeyMetadata": {
                "AWSAccountId": "111122223333", "KeyId": st.key_uuid, "Arn": st.arn,
                "CreationDate": 1700000000.0, "Enabled": True, "Description": "kms-standin",
                "KeyUsage": "SIGN_VERIFY", "KeyState": "Enabled", "Origin": "AWS_KMS", "KeyManager": "CUSTOMER",
                "CustomerMasterKeySpec": "ECC_SECG_P256K1", "KeySpec": "ECC_SECG_P256K1",
                "SigningAlgorithms": ["ECDSA_SHA_256"], "MultiRegion": False}}
        elif op == "GetPublicKey":
            der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            out = {"KeyId": st.arn, "PublicKey": base64.b64encode(der).decode(), "KeySpec": "ECC_SECG_P256K1",
                   "CustomerMasterKeySpec": "ECC_SECG_P256K1", "KeyUsage": "SIGN_VERIFY",
                   "SigningAlgorithms": ["ECDSA_SHA_256"]}
        elif op == "Sign":
            if req.get("SigningAlgorithm") != "ECDSA_SHA_256":
                self.error(400, "InvalidKeyUsageException", "unsupported SigningAlgorithm")
                return
            msg = base64.b64decode(req.get("Message", ""))
            if req.get("MessageType") == "DIGEST":
                if len(msg) != 32:
                    self.error(400, "ValidationException", "Digest must be 32 bytes for ECDSA_SHA_256")
                    return
                sig = st.key.sign(msg, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
            else:
                sig = st.key.sign(msg, ec.ECDSA(hashes.SHA256()))
            out = {"KeyId": st.arn, "Signature": base64.b64encode(sig).decode(), "SigningAlgorithm": "ECDSA_SHA_256"}
        else:
            self.error(400, "UnknownOperationException", f"stand-in does not implement {op or 'that'}")
            return
        with st.lock:
            st.count("ok", op)
        self.reply(200, out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--region", default="eu-west-1")
    ap.add_argument("--key-id", default="alias/agentic-vault-signer")
    ap.add_argument("--access-key")
    ap.add_argument("--secret-key")
    ap.add_argument("--session-token")
    ap.add_argument("--creds-file", help="accepted credentials, re-read on every request")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    if bool(args.access_key) != bool(args.secret_key):
        ap.error("--access-key and --secret-key go together")
    if not args.access_key and not args.creds_file:
        ap.error("no credentials would be accepted: give --access-key/--secret-key or --creds-file")
    state = State(args)
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.state = state
    print(json.dumps({"port": srv.server_address[1], "key_id": args.key_id,
                      "address": eth_address(state.key.public_key())}), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
