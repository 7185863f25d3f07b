#!/bin/sh
# Seeds for fuzz_credentials_args that carry a certificate, generated with
# openssl at build time (nothing of it committed): `credentials` requests
# with the client's certificate file in base64 (PEM, DER, a chain file), with
# and without the ARNs and certificate_sha256. Each seed is one mode byte
# (bit 0: the agent holds credentials, bit 1: from this very certificate)
# and the request line.
#
#   gen-credentials-seeds.sh OUTDIR
set -eu

out=$1
rm -rf "$out"
mkdir -p "$out"
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
cd "$w"

o() { openssl "$@" 2>/dev/null; }
o req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -out c.pem -subj "/CN=fuzz-vm" -days 30
o x509 -in c.pem -outform DER -out c.der
cat c.pem c.pem > chain.pem
b64() { base64 -w0 "$1"; }
sha=$(o x509 -in c.pem -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')
TA=arn:aws:rolesanywhere:eu-west-1:123456789012:trust-anchor/1f2a3b4c-0000-4000-8000-000000000001
PR=arn:aws:rolesanywhere:eu-west-1:123456789012:profile/1f2a3b4c-0000-4000-8000-000000000002
RO=arn:aws:iam::123456789012:role/agentic-vault-signer
seed() { # name mode json
        printf "\\$(printf '%03o' "$2")%s" "$3" > "$out/$1"
}
seed pem-same 3 "{\"command\":\"credentials\",\"trust_anchor_arn\":\"$TA\",\"profile_arn\":\"$PR\",\"role_arn\":\"$RO\",\"certificate\":\"$(b64 c.pem)\"}"
seed pem-other 1 "{\"command\":\"credentials\",\"certificate\":\"$(b64 c.pem)\"}"
seed der-same 3 "{\"command\":\"credentials\",\"certificate\":\"$(b64 c.der)\",\"certificate_sha256\":\"$sha\"}"
seed chain-none 0 "{\"command\":\"credentials\",\"role_arn\":\"$RO\",\"certificate\":\"$(b64 chain.pem)\"}"
seed key-not-cert 3 "{\"command\":\"credentials\",\"certificate\":\"$(b64 k.pem)\"}"
touch "$out/.stamp"
