//! Signing and verification keys: PEM loading, JWK rendering, the JWS
//! algorithms pvr uses and the raw signature primitives.

use pkcs1::DecodeRsaPrivateKey;
use pkcs1::DecodeRsaPublicKey;
use pkcs8::DecodePrivateKey;
use pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256, Sha384, Sha512};
use signature::hazmat::PrehashVerifier;
use signature::{Signer, Verifier};

use crate::encoding::b64url;
use crate::error::KeyError;
use crate::pem;

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_P521: &str = "1.3.132.0.35";

/// A JWS signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    RS256,
    RS384,
    RS512,
    ES256,
    ES384,
    ES512,
}

impl Alg {
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::ES512 => "ES512",
        }
    }

    pub fn parse(s: &str) -> Option<Alg> {
        [
            Alg::RS256,
            Alg::RS384,
            Alg::RS512,
            Alg::ES256,
            Alg::ES384,
            Alg::ES512,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }

    pub fn hash(self) -> HashAlg {
        match self {
            Alg::RS256 | Alg::ES256 => HashAlg::Sha256,
            Alg::RS384 | Alg::ES384 => HashAlg::Sha384,
            Alg::RS512 | Alg::ES512 => HashAlg::Sha512,
        }
    }
}

/// The digests used by JWS algorithms and certificate signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlg::Sha256 => Sha256::digest(data).to_vec(),
            HashAlg::Sha384 => Sha384::digest(data).to_vec(),
            HashAlg::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

/// How a signature that verified was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigForm {
    /// RSA PKCS#1 v1.5.
    RsaPkcs1v15,
    /// ECDSA as fixed-size `R || S` (the JWS encoding).
    EcdsaRaw,
    /// ECDSA as an ASN.1 DER `SEQUENCE { r, s }` (what mbedTLS expects).
    EcdsaDer,
}

/// A private key that can sign pvs signatures.
#[derive(Clone)]
pub enum PrivateKey {
    Rsa(Box<rsa::RsaPrivateKey>),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    P521(p521::ecdsa::SigningKey),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({})", self.alg().as_str())
    }
}

impl PrivateKey {
    /// Load the first PEM block whose label contains `PRIVATE KEY`, as
    /// PKCS#1 RSA, PKCS#8 (RSA or EC) or SEC1 EC. `source` names the file
    /// in error messages.
    pub fn from_pem(data: &[u8], source: &str) -> Result<PrivateKey, KeyError> {
        let block = pem::parse_all(data)
            .into_iter()
            .find(|b| b.label.contains("PRIVATE KEY"))
            .ok_or_else(|| KeyError::NoPrivateKey(source.to_string()))?;
        if block.has_headers {
            return Err(KeyError::Encrypted(source.to_string()));
        }
        Self::from_der(&block.der).map_err(|why| KeyError::Unparsable {
            source_name: source.to_string(),
            why,
        })
    }

    /// Parse DER as PKCS#1, then PKCS#8, then SEC1.
    pub fn from_der(der: &[u8]) -> Result<PrivateKey, String> {
        if let Ok(k) = rsa::RsaPrivateKey::from_pkcs1_der(der) {
            return Ok(PrivateKey::Rsa(Box::new(k)));
        }
        if let Ok(info) = pkcs8::PrivateKeyInfo::try_from(der) {
            let alg = info.algorithm.oid.to_string();
            if alg == OID_RSA {
                let k = rsa::RsaPrivateKey::from_pkcs8_der(der).map_err(|e| e.to_string())?;
                return Ok(PrivateKey::Rsa(Box::new(k)));
            }
            if alg == OID_EC {
                let curve = info
                    .algorithm
                    .parameters_oid()
                    .map_err(|e| e.to_string())?
                    .to_string();
                return ec_from_sec1(&curve, info.private_key);
            }
            return Err(format!("unsupported private key algorithm {alg}"));
        }
        if let Ok(ec) = <sec1::EcPrivateKey as der::Decode>::from_der(der) {
            let curve = ec
                .parameters
                .and_then(|p| p.named_curve())
                .map(|o| o.to_string())
                .ok_or("EC private key without a named curve")?;
            return ec_from_sec1(&curve, der);
        }
        Err("not a PKCS#1, PKCS#8 or SEC1 private key".into())
    }

    /// The JWS algorithm pvr picks for this key.
    pub fn alg(&self) -> Alg {
        match self {
            PrivateKey::Rsa(_) => Alg::RS256,
            PrivateKey::P256(_) => Alg::ES256,
            PrivateKey::P384(_) => Alg::ES384,
            PrivateKey::P521(_) => Alg::ES512,
        }
    }

    pub fn public_key(&self) -> PublicKey {
        match self {
            PrivateKey::Rsa(k) => PublicKey::Rsa(k.to_public_key()),
            PrivateKey::P256(k) => PublicKey::P256(*k.verifying_key()),
            PrivateKey::P384(k) => PublicKey::P384(*k.verifying_key()),
            PrivateKey::P521(k) => {
                let point = p521::ecdsa::VerifyingKey::from(k).to_encoded_point(false);
                PublicKey::P521(
                    ecdsa::VerifyingKey::from_encoded_point(&point).expect("valid public point"),
                )
            }
        }
    }

    /// Sign `input` with [`Self::alg`]: RSA PKCS#1 v1.5 (deterministic) or
    /// ECDSA encoded as JWS `R || S` (RFC 6979 nonces for P-256/P-384,
    /// random nonces for P-521).
    pub fn sign(&self, input: &[u8]) -> Vec<u8> {
        match self {
            PrivateKey::Rsa(k) => {
                let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new((**k).clone());
                let sig: rsa::pkcs1v15::Signature = signer.sign(input);
                Box::<[u8]>::from(sig).into_vec()
            }
            PrivateKey::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(input);
                sig.to_bytes().to_vec()
            }
            PrivateKey::P384(k) => {
                let sig: p384::ecdsa::Signature = k.sign(input);
                sig.to_bytes().to_vec()
            }
            PrivateKey::P521(k) => {
                let sig: p521::ecdsa::Signature = k.sign(input);
                sig.to_bytes().to_vec()
            }
        }
    }
}

fn ec_from_sec1(curve: &str, sec1_der: &[u8]) -> Result<PrivateKey, String> {
    let e = |e: p256::elliptic_curve::Error| e.to_string();
    match curve {
        OID_P256 => Ok(PrivateKey::P256(
            p256::SecretKey::from_sec1_der(sec1_der).map_err(e)?.into(),
        )),
        OID_P384 => Ok(PrivateKey::P384(
            p384::SecretKey::from_sec1_der(sec1_der).map_err(e)?.into(),
        )),
        OID_P521 => {
            let sk = p521::SecretKey::from_sec1_der(sec1_der).map_err(e)?;
            let k =
                p521::ecdsa::SigningKey::from_bytes(&sk.to_bytes()).map_err(|e| e.to_string())?;
            Ok(PrivateKey::P521(k))
        }
        other => Err(format!("unsupported EC curve {other}")),
    }
}

/// A public key that can verify pvs signatures or certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    Rsa(rsa::RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(ecdsa::VerifyingKey<p521::NistP521>),
}

impl PublicKey {
    /// Parse a PKIX `SubjectPublicKeyInfo` (PEM label `PUBLIC KEY`).
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, String> {
        let spki = spki::SubjectPublicKeyInfoRef::try_from(der).map_err(|e| e.to_string())?;
        let alg = spki.algorithm.oid.to_string();
        if alg == OID_RSA {
            return rsa::RsaPublicKey::from_public_key_der(der)
                .map(PublicKey::Rsa)
                .map_err(|e| e.to_string());
        }
        if alg != OID_EC {
            return Err(format!("unsupported public key algorithm {alg}"));
        }
        let curve = spki
            .algorithm
            .parameters_oid()
            .map_err(|e| e.to_string())?
            .to_string();
        let point = spki.subject_public_key.raw_bytes();
        let e = |e: signature::Error| e.to_string();
        match curve.as_str() {
            OID_P256 => Ok(PublicKey::P256(
                p256::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(e)?,
            )),
            OID_P384 => Ok(PublicKey::P384(
                p384::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(e)?,
            )),
            OID_P521 => Ok(PublicKey::P521(
                ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(e)?,
            )),
            other => Err(format!("unsupported EC curve {other}")),
        }
    }

    /// Parse DER as PKCS#1 `RSAPublicKey`, then as PKIX.
    pub fn from_der(der: &[u8]) -> Result<PublicKey, String> {
        if let Ok(k) = rsa::RsaPublicKey::from_pkcs1_der(der) {
            return Ok(PublicKey::Rsa(k));
        }
        Self::from_spki_der(der)
    }

    /// Every `PUBLIC KEY` / `RSA PUBLIC KEY` block of a PEM file. Blocks that
    /// do not parse are skipped with a warning line (for stderr); a file with
    /// no such block at all is an error.
    pub fn all_from_pem(
        data: &[u8],
        source: &str,
    ) -> Result<(Vec<PublicKey>, Vec<String>), KeyError> {
        let blocks: Vec<_> = pem::parse_all(data)
            .into_iter()
            .filter(|b| b.label.starts_with("PUBLIC ") || b.label == "RSA PUBLIC KEY")
            .collect();
        if blocks.is_empty() {
            return Err(KeyError::NoPublicKey(source.to_string()));
        }
        let mut keys = Vec::new();
        let mut warnings = Vec::new();
        for b in blocks {
            match Self::from_der(&b.der) {
                Ok(k) => keys.push(k),
                Err(e) => warnings.push(format!("WARNING: Error Parsing Public key from PEM: {e}")),
            }
        }
        Ok((keys, warnings))
    }

    /// The JWK members go-jose embeds, in its member order.
    pub fn jwk_json(&self) -> String {
        match self {
            PublicKey::Rsa(k) => format!(
                r#"{{"kty":"RSA","n":"{}","e":"{}"}}"#,
                b64url(&k.n().to_bytes_be()),
                b64url(&k.e().to_bytes_be())
            ),
            PublicKey::P256(k) => ec_jwk("P-256", k.to_encoded_point(false).as_bytes()),
            PublicKey::P384(k) => ec_jwk("P-384", k.to_encoded_point(false).as_bytes()),
            PublicKey::P521(k) => ec_jwk("P-521", k.to_encoded_point(false).as_bytes()),
        }
    }

    /// Verify a JWS signature made with `alg` over `input`. ECDSA accepts
    /// both `R || S` and DER. Returns the encoding that verified.
    pub fn verify_jws(&self, alg: Alg, input: &[u8], sig: &[u8]) -> Option<SigForm> {
        let key_fits = matches!(
            (alg, self),
            (Alg::RS256 | Alg::RS384 | Alg::RS512, PublicKey::Rsa(_))
                | (Alg::ES256, PublicKey::P256(_))
                | (Alg::ES384, PublicKey::P384(_))
                | (Alg::ES512, PublicKey::P521(_))
        );
        if !key_fits {
            return None;
        }
        self.verify_message(alg.hash(), input, sig)
    }

    /// Verify `sig` over `msg` hashed with `hash` (certificate signatures,
    /// where the curve and the digest are independent).
    pub fn verify_message(&self, hash: HashAlg, msg: &[u8], sig: &[u8]) -> Option<SigForm> {
        match self {
            PublicKey::Rsa(k) => verify_rsa(k, hash, msg, sig).then_some(SigForm::RsaPkcs1v15),
            PublicKey::P256(k) => {
                ecdsa_any::<_, p256::ecdsa::Signature>(k, &hash.digest(msg), sig, 32)
            }
            PublicKey::P384(k) => {
                ecdsa_any::<_, p384::ecdsa::Signature>(k, &hash.digest(msg), sig, 48)
            }
            PublicKey::P521(k) => {
                let k = p521::ecdsa::VerifyingKey::from(*k);
                ecdsa_any::<_, p521::ecdsa::Signature>(&k, &hash.digest(msg), sig, 66)
            }
        }
    }
}

fn ec_jwk(crv: &str, uncompressed: &[u8]) -> String {
    let coords = &uncompressed[1..];
    let (x, y) = coords.split_at(coords.len() / 2);
    format!(
        r#"{{"kty":"EC","crv":"{crv}","x":"{}","y":"{}"}}"#,
        b64url(x),
        b64url(y)
    )
}

fn verify_rsa(k: &rsa::RsaPublicKey, hash: HashAlg, msg: &[u8], sig: &[u8]) -> bool {
    let Ok(s) = rsa::pkcs1v15::Signature::try_from(sig) else {
        return false;
    };
    match hash {
        HashAlg::Sha256 => rsa::pkcs1v15::VerifyingKey::<Sha256>::new(k.clone())
            .verify(msg, &s)
            .is_ok(),
        HashAlg::Sha384 => rsa::pkcs1v15::VerifyingKey::<Sha384>::new(k.clone())
            .verify(msg, &s)
            .is_ok(),
        HashAlg::Sha512 => rsa::pkcs1v15::VerifyingKey::<Sha512>::new(k.clone())
            .verify(msg, &s)
            .is_ok(),
    }
}

/// Verify an ECDSA signature over a prehash, as raw `R || S` when it has the
/// fixed size, else as DER.
fn ecdsa_any<K, S>(key: &K, prehash: &[u8], sig: &[u8], field: usize) -> Option<SigForm>
where
    K: PrehashVerifier<S>,
    S: EcdsaSignature,
{
    if sig.len() == 2 * field {
        let s = S::from_raw(sig)?;
        return key
            .verify_prehash(prehash, &s)
            .ok()
            .map(|_| SigForm::EcdsaRaw);
    }
    let s = S::from_der(sig)?;
    key.verify_prehash(prehash, &s)
        .ok()
        .map(|_| SigForm::EcdsaDer)
}

/// The two encodings every ECDSA signature type can be read from.
trait EcdsaSignature: Sized {
    fn from_raw(b: &[u8]) -> Option<Self>;
    fn from_der(b: &[u8]) -> Option<Self>;
}

macro_rules! ecdsa_sig {
    ($t:ty) => {
        impl EcdsaSignature for $t {
            fn from_raw(b: &[u8]) -> Option<Self> {
                <$t>::from_slice(b).ok()
            }
            fn from_der(b: &[u8]) -> Option<Self> {
                <$t>::from_der(b).ok()
            }
        }
    };
}
ecdsa_sig!(p256::ecdsa::Signature);
ecdsa_sig!(p384::ecdsa::Signature);
ecdsa_sig!(p521::ecdsa::Signature);

/// The DER certificates of a PEM file (`CERTIFICATE` blocks without
/// headers), in file order: an `x5c` chain, leaf first. Blocks that are not
/// X.509 certificates are skipped.
pub fn certificates_from_pem(data: &[u8]) -> Vec<Vec<u8>> {
    pem::parse_all(data)
        .into_iter()
        .filter(|b| b.label == "CERTIFICATE" && !b.has_headers)
        .filter(|b| <x509_cert::Certificate as der::Decode>::from_der(&b.der).is_ok())
        .map(|b| b.der)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pem: &[u8]) -> PrivateKey {
        PrivateKey::from_pem(pem, "test").unwrap()
    }

    #[test]
    fn every_encoding_loads_and_round_trips() {
        let cases: [(&[u8], &[u8], Alg); 3] = [
            (
                include_bytes!("../tests/data/es384.key.pem"),
                include_bytes!("../tests/data/es384.pub.pem"),
                Alg::ES384,
            ),
            (
                include_bytes!("../tests/data/es512.key.pem"),
                include_bytes!("../tests/data/es512.pub.pem"),
                Alg::ES512,
            ),
            (
                include_bytes!("../tests/data/rsa-pkcs1.key.pem"),
                include_bytes!("../tests/data/rsa-pkcs1.pub.pem"),
                Alg::RS256,
            ),
        ];
        for (priv_pem, pub_pem, alg) in cases {
            let k = key(priv_pem);
            assert_eq!(k.alg(), alg);
            let (pubs, warnings) = PublicKey::all_from_pem(pub_pem, "pub").unwrap();
            assert!(warnings.is_empty());
            assert_eq!(pubs, [k.public_key()]);
            let sig = k.sign(b"input");
            assert!(pubs[0].verify_jws(alg, b"input", &sig).is_some(), "{alg:?}");
            assert!(pubs[0].verify_jws(alg, b"other", &sig).is_none());
        }
        let sec1 = key(include_bytes!("../tests/data/p256-sec1.key.pem"));
        assert_eq!(sec1.alg(), Alg::ES256);
        assert_eq!(
            key(include_bytes!("../tests/data/leaf.key.pem")).alg(),
            Alg::ES384
        );
    }

    #[test]
    fn jwk_coordinates_are_fixed_size() {
        let k = key(include_bytes!("../tests/data/es512.key.pem")).public_key();
        let jwk: serde_json::Value = serde_json::from_str(&k.jwk_json()).unwrap();
        assert_eq!(jwk["crv"], "P-521");
        assert_eq!(jwk["x"].as_str().unwrap().len(), 88); // 66 bytes
        let k = key(include_bytes!("../tests/data/es384.key.pem")).public_key();
        assert!(k
            .jwk_json()
            .starts_with(r#"{"kty":"EC","crv":"P-384","x":""#));
    }

    #[test]
    fn ecdsa_wrong_curve_or_alg_fails() {
        let k = key(include_bytes!("../tests/data/es384.key.pem"));
        let sig = k.sign(b"m");
        assert!(k.public_key().verify_jws(Alg::ES256, b"m", &sig).is_none());
        assert!(k.public_key().verify_jws(Alg::RS256, b"m", &sig).is_none());
        let der = p384::ecdsa::Signature::from_slice(&sig).unwrap().to_der();
        assert_eq!(
            k.public_key().verify_jws(Alg::ES384, b"m", der.as_bytes()),
            Some(SigForm::EcdsaDer)
        );
    }

    #[test]
    fn key_file_errors() {
        let pub_only = include_bytes!("../tests/data/es384.pub.pem");
        assert_eq!(
            PrivateKey::from_pem(pub_only, "k.pem").unwrap_err(),
            KeyError::NoPrivateKey("k.pem".into())
        );
        let garbage = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            PrivateKey::from_pem(garbage, "k.pem"),
            Err(KeyError::Unparsable { .. })
        ));
        assert_eq!(
            PublicKey::all_from_pem(b"", "p.pem").unwrap_err(),
            KeyError::NoPublicKey("p.pem".into())
        );
        let bad_pub = b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        let (keys, warnings) = PublicKey::all_from_pem(bad_pub, "p.pem").unwrap();
        assert!(keys.is_empty());
        assert!(warnings[0].starts_with("WARNING: Error Parsing Public key from PEM: "));
        let certs = certificates_from_pem(include_bytes!("../tests/data/x5c.pem"));
        assert_eq!(certs.len(), 2);
    }
}
