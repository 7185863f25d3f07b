#!/bin/sh
# Seeds for fuzz_pki_assess, generated with openssl at build time (no key
# material is ever committed): throw-away CAs, leaves and keys in PEM and
# DER, RSA and EC, plus the cases the assessment must judge: expired,
# mismatched, weak, encrypted, chains. Each seed is
# "certificate \n@@AGV@@\n key [\n@@AGV@@\n CA bundle [\n@@AGV@@\n intermediates]]".
# With CREDDIR also the fuzz_credentials_args seeds that carry a certificate:
# `credentials` requests with the client's certificate file in base64 (PEM,
# DER, a chain file, a key in its place), each one mode byte (bit 0: the
# agent holds credentials, bit 1: from this very certificate) and the line.
#
#   gen-pki-seeds.sh OUTDIR [CREDDIR]
set -eu

out=$1
cred=${2:-}
rm -rf "$out"
mkdir -p "$out"
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
cd "$w"

o() { openssl "$@" 2>/dev/null; }

o req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca-ec.key -out ca-ec.pem \
  -subj "/CN=Fuzz EC CA" -days 3650 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
o req -x509 -newkey rsa:2048 -nodes -keyout ca-rsa.key -out ca-rsa.pem \
  -subj "/CN=Fuzz RSA CA" -days 3650 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign

leaf() { # name keyspec ca days [extra x509 options]
        n=$1 spec=$2 ca=$3 days=$4
        shift 4
        o req -new -newkey "$spec" -nodes -keyout "$n.key" -out "$n.csr" -subj "/CN=$n/O=agv fuzz"
        printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' > ext
        o x509 -req -in "$n.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial -days "$days" -extfile ext \
          -out "$n.pem" "$@"
}
o ecparam -name prime256v1 -out p256.param
leaf ec ec:p256.param ca-ec 365
leaf rsa rsa:2048 ca-rsa 365
leaf weak rsa:1024 ca-rsa 365
o ecparam -name secp384r1 -out p384.param
leaf p384 ec:p384.param ca-ec 365
# explicit validity periods need 'openssl ca'
printf '[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\npolicy = p\ndefault_md = sha256\n[p]\ncommonName = supplied\n' > ca.cnf
: > index.txt
echo 1000 > serial
dated() { # name startdate enddate
        o req -new -newkey ec:p256.param -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$1"
        o ca -batch -notext -config ca.cnf -cert ca-ec.pem -keyfile ca-ec.key -in "$1.csr" \
          -startdate "$2" -enddate "$3" -out "$1.pem"
}
dated expired 20200101000000Z 20210101000000Z
dated future 20900101000000Z 20950101000000Z
# UTCTime 69 is 1969: expired before the epoch (issue 11, defect 4)
dated pre1970 600101000000Z 691231235959Z

o x509 -in ec.pem -outform DER -out ec.der
o pkey -in ec.key -outform DER -out ec.key.der
o x509 -in rsa.pem -outform DER -out rsa.der
o rsa -in rsa.key -traditional -out rsa.pkcs1.key
o ec -in ec.key -out ec.sec1.key
o pkcs8 -topk8 -in ec.key -passout pass:fuzz -out ec.enc.key
o x509 -in ca-ec.pem -outform DER -out ca-ec.der

sep='
@@AGV@@
'
seed() { # name cert key [ca [intermediates]]
        n=$1
        { cat "$2"; printf '%s' "$sep"; cat "$3"; if [ $# -ge 4 ]; then printf '%s' "$sep"; cat "$4"; fi
          if [ $# -ge 5 ]; then printf '%s' "$sep"; cat "$5"; fi; } > "$out/$n"
}
seed ec-pem ec.pem ec.key ca-ec.pem
seed ec-nobundle ec.pem ec.key
seed ec-der ec.der ec.key.der ca-ec.der
seed ec-sec1 ec.pem ec.sec1.key ca-ec.pem
seed ec-encrypted ec.pem ec.enc.key ca-ec.pem
seed rsa-pem rsa.pem rsa.key ca-rsa.pem
seed rsa-der rsa.der rsa.key ca-rsa.pem
seed rsa-pkcs1 rsa.pem rsa.pkcs1.key ca-rsa.pem
seed weak-rsa weak.pem weak.key ca-rsa.pem
seed p384 p384.pem p384.key ca-ec.pem
seed mismatch ec.pem rsa.key ca-ec.pem
seed wrong-ca ec.pem ec.key ca-rsa.pem
seed expired expired.pem expired.key ca-ec.pem
seed future future.pem future.key ca-ec.pem
seed pre1970 pre1970.pem pre1970.key
# a notAfter that is no time at all (month 13; the signature is broken too,
# so no CA bundle): fuzz_pki_assess found it judged valid
python3 - ec.der notafter-bad.der <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
i = d.find(b"\x17\x0d", d.find(b"\x17\x0d") + 1)  # the second UTCTime: notAfter
d[i + 4:i + 6] = b"13"
open(sys.argv[2], "wb").write(d)
PY
seed notafter-not-a-time notafter-bad.der ec.key.der
seed ca-key-in-dir ec.pem ca-ec.key ca-ec.pem
cat ec.pem ca-ec.pem > chain.pem
seed chain chain.pem ec.key ca-ec.pem
cat ca-ec.pem ca-rsa.pem > bundle.pem
seed two-cas rsa.pem rsa.key bundle.pem
# [credentials] intermediates: an issuing CA under the EC root, the root
# alone as the bundle; then the careless variants (root first in the file,
# the leaf in it, an expired intermediate beside the good one)
o req -new -newkey ec:p256.param -nodes -keyout int.key -out int.csr -subj "/CN=Fuzz Issuing CA"
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' > int.ext
o x509 -req -in int.csr -CA ca-ec.pem -CAkey ca-ec.key -CAcreateserial -days 1000 -extfile int.ext -out int.pem
o ca -batch -notext -config ca.cnf -cert ca-ec.pem -keyfile ca-ec.key -in int.csr -extfile int.ext \
  -startdate 20200101000000Z -enddate 20210101000000Z -out int-old.pem
leaf viaint ec:p256.param int 365
seed inter viaint.pem viaint.key ca-ec.pem int.pem
cat ca-ec.pem int.pem > root-first.pem
seed inter-root-first viaint.pem viaint.key ca-ec.pem root-first.pem
cat viaint.pem int.pem > with-leaf.pem
seed inter-with-leaf viaint.pem viaint.key ca-ec.pem with-leaf.pem
cat int-old.pem int.pem > stale.pem
seed inter-stale viaint.pem viaint.key ca-ec.pem stale.pem
seed inter-missing viaint.pem viaint.key ca-ec.pem ec.key
touch "$out/.stamp"

[ -n "$cred" ] || exit 0
rm -rf "$cred"
mkdir -p "$cred"
cat ec.pem ca-ec.pem > ec-chain.pem
b64() { base64 -w0 "$1"; }
sha=$(o x509 -in ec.pem -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')
TA=arn:aws:rolesanywhere:eu-west-1:123456789012:trust-anchor/1f2a3b4c-0000-4000-8000-000000000001
PR=arn:aws:rolesanywhere:eu-west-1:123456789012:profile/1f2a3b4c-0000-4000-8000-000000000002
RO=arn:aws:iam::123456789012:role/agentic-vault-signer
req() { # name mode json
        printf "\\$(printf '%03o' "$2")%s" "$3" > "$cred/$1"
}
req pem-same 3 "{\"command\":\"credentials\",\"trust_anchor_arn\":\"$TA\",\"profile_arn\":\"$PR\",\"role_arn\":\"$RO\",\"certificate\":\"$(b64 ec.pem)\"}"
req pem-other 1 "{\"command\":\"credentials\",\"certificate\":\"$(b64 ec.pem)\"}"
req der-same 3 "{\"command\":\"credentials\",\"certificate\":\"$(b64 ec.der)\",\"certificate_sha256\":\"$sha\"}"
req chain-none 0 "{\"command\":\"credentials\",\"role_arn\":\"$RO\",\"certificate\":\"$(b64 ec-chain.pem)\"}"
req key-not-cert 3 "{\"command\":\"credentials\",\"certificate\":\"$(b64 ec.key)\"}"
touch "$cred/.stamp"
