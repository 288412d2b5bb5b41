#!/bin/sh
# Regenerates the test keys and certificates (run once; the outputs are
# committed so tests do not depend on openssl). Validity: 100 years.
set -e
cd "$(dirname "$0")"
D=36500

# Plain keys in each supported encoding.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out es384.key.pem
openssl pkey -in es384.key.pem -pubout -out es384.pub.pem
openssl ecparam -name prime256v1 -genkey -noout -out p256-sec1.key.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out es512.key.pem
openssl pkey -in es512.key.pem -pubout -out es512.pub.pem
openssl genrsa -traditional -out rsa-pkcs1.key.pem 2048
openssl rsa -in rsa-pkcs1.key.pem -RSAPublicKey_out -out rsa-pkcs1.pub.pem

# Root CA (RSA) -> intermediate (P-256, pathlen 0) -> code-signing leaf (P-384).
cat > ext.cnf <<'CNF'
[root]
basicConstraints=critical,CA:true
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[inter]
basicConstraints=critical,CA:true,pathlen:0
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[leaf]
basicConstraints=critical,CA:false
keyUsage=critical,digitalSignature
extendedKeyUsage=codeSigning
[server]
basicConstraints=critical,CA:false
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
CNF
openssl genrsa -out root.key.pem 2048
openssl req -x509 -new -key root.key.pem -sha256 -days $D -subj "/CN=pv-sign test root" \
  -extensions root -config ext.cnf -out root.cert.pem
openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out inter.key.pem
openssl req -new -key inter.key.pem -subj "/CN=pv-sign test intermediate" -out inter.csr
openssl x509 -req -in inter.csr -CA root.cert.pem -CAkey root.key.pem -CAcreateserial \
  -sha256 -days $D -extfile ext.cnf -extensions inter -out inter.cert.pem
openssl ecparam -name secp384r1 -genkey -noout -out leaf.key.pem
for kind in leaf server; do
  openssl req -new -key leaf.key.pem -subj "/CN=pv-sign test $kind" -out $kind.csr
  openssl x509 -req -in $kind.csr -CA inter.cert.pem -CAkey inter.key.pem -CAcreateserial \
    -sha384 -days $D -extfile ext.cnf -extensions $kind -out $kind.cert.pem
done
cat leaf.cert.pem inter.cert.pem > x5c.pem
cat server.cert.pem inter.cert.pem > x5c-server.pem
rm -f *.csr *.srl ext.cnf
