"""A local STS `GetCallerIdentity` endpoint for the consumer tests: it
accepts a request only when its SigV4 (AWS4-HMAC-SHA256) signature verifies
with credentials the Roles Anywhere stand-in issued (read from its issued
JSON file, not expired, session token matching). So an SDK that answers
from it has really obtained *and used* the agent's credentials."""

import datetime
import hashlib
import hmac
import http.server
import secrets
import threading
import urllib.parse

from rolesanywhere import ACCOUNT, canonical_header_value, canonical_query, load_issued


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


class StsEndpoint:
    def __init__(self, issued_path):
        self.issued_path = issued_path
        self.calls = []  # (access key id, verdict)
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                status, xml = outer.handle(self.command, self.path, list(self.headers.items()), body)
                data = xml.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("x-amzn-RequestId", secrets.token_hex(8))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @staticmethod
    def _err(code, msg):
        return 403, (f'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
                     f"<Code>{code}</Code><Message>{msg}</Message></Error><RequestId>x</RequestId></ErrorResponse>")

    def handle(self, method, target, headers, body):
        def values(name):
            return [v for k, v in headers if k.lower() == name]
        auth = (values("authorization") or [""])[0]
        akid = None
        try:
            alg, rest = auth.split(" ", 1)
            f = dict(p.strip().split("=", 1) for p in rest.split(","))
            akid, date, region, service, term = f["Credential"].split("/")
            signed = f["SignedHeaders"].split(";")
            assert alg == "AWS4-HMAC-SHA256" and service == "sts" and term == "aws4_request"
        except (ValueError, KeyError, AssertionError):
            return self._record(akid, "IncompleteSignature", self._err("IncompleteSignature", "bad Authorization"))
        creds = {c["accessKeyId"]: c for c in load_issued(self.issued_path)}
        c = creds.get(akid)
        if c is None:
            return self._record(akid, "InvalidClientTokenId", self._err(
                "InvalidClientTokenId", "The security token included in the request is invalid."))
        exp = datetime.datetime.strptime(c["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        if exp < datetime.datetime.now(datetime.timezone.utc):
            return self._record(akid, "ExpiredToken", self._err("ExpiredToken", "The security token has expired"))
        if values("x-amz-security-token") != [c["sessionToken"]] or "x-amz-security-token" not in signed:
            return self._record(akid, "InvalidClientTokenId", self._err(
                "InvalidClientTokenId", "session token missing, unsigned or wrong"))
        amz_date = (values("x-amz-date") or [""])[0]
        path, _, query = target.partition("?")
        creq = "\n".join([method, urllib.parse.quote(urllib.parse.unquote(path), safe="/-_.~"),
                          canonical_query(query),
                          "".join(f"{h}:{canonical_header_value(values(h))}\n" for h in signed),
                          ";".join(signed), hashlib.sha256(body).hexdigest()])
        scope = f"{date}/{region}/sts/aws4_request"
        sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
        k = _hmac(("AWS4" + c["secretAccessKey"]).encode(), date)
        for part in (region, "sts", "aws4_request"):
            k = _hmac(k, part)
        want = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, f["Signature"]):
            return self._record(akid, "SignatureDoesNotMatch", self._err(
                "SignatureDoesNotMatch", "The request signature we calculated does not match"))
        params = urllib.parse.parse_qs(body.decode()) if body else urllib.parse.parse_qs(query)
        if params.get("Action") != ["GetCallerIdentity"]:
            return self._record(akid, "InvalidAction", self._err("InvalidAction", f"unsupported {params}"))
        role = c["roleArn"].rsplit("/", 1)[-1]
        xml = ('<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>'
               f"<Arn>arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{c['serial']}</Arn>"
               f"<UserId>AROAAGVTEST:{akid}</UserId><Account>{ACCOUNT}</Account>"
               "</GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>"
               "</GetCallerIdentityResponse>")
        return self._record(akid, "ok", (200, xml))

    def _record(self, akid, verdict, reply):
        with self.lock:
            self.calls.append((akid, verdict))
        return reply

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
