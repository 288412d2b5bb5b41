//! X.509 trust: a pool of CA certificates and chain verification for
//! `x5c` headers, following the checks Go's `crypto/x509` makes for pvr:
//! issuer name and signature, validity period of every certificate, CA
//! basic constraints, `keyCertSign` usage and path length of issuers,
//! rejection of unknown critical extensions, and the requested extended key
//! usage (code signing) on every certificate that restricts it. Name
//! constraints and policies are not evaluated.

use std::time::SystemTime;

use der::{Decode, Encode};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};

use crate::keys::{HashAlg, PublicKey};
use crate::pem;

/// Extended key usage `id-kp-codeSigning`.
pub const EKU_CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";
const EKU_ANY: &str = "2.5.29.37.0";
const OID_CN: &str = "2.5.4.3";

/// Extensions whose criticality is understood (as in Go's parser).
const KNOWN_EXTENSIONS: &[&str] = &[
    "2.5.29.14", // subject key id
    "2.5.29.15", // key usage
    "2.5.29.17", // subject alt name
    "2.5.29.19", // basic constraints
    "2.5.29.30", // name constraints
    "2.5.29.31", // crl distribution points
    "2.5.29.32", // certificate policies
    "2.5.29.35", // authority key id
    "2.5.29.37", // extended key usage
];

/// A parsed certificate with its DER.
#[derive(Debug, Clone, PartialEq)]
pub struct Certificate {
    der: Vec<u8>,
    cert: x509_cert::Certificate,
}

impl Certificate {
    pub fn from_der(der: &[u8]) -> Result<Certificate, String> {
        let cert = x509_cert::Certificate::from_der(der).map_err(|e| e.to_string())?;
        Ok(Certificate {
            der: der.to_vec(),
            cert,
        })
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The subject public key, if it is of a supported kind.
    pub fn public_key(&self) -> Option<PublicKey> {
        let spki = self
            .cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .ok()?;
        PublicKey::from_spki_der(&spki).ok()
    }

    /// The first common name of the subject.
    pub fn common_name(&self) -> Option<String> {
        self.cert
            .tbs_certificate
            .subject
            .0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .find(|atv| atv.oid.to_string() == OID_CN)
            .and_then(|atv| String::from_utf8(atv.value.value().to_vec()).ok())
    }

    fn tbs(&self) -> &x509_cert::TbsCertificate {
        &self.cert.tbs_certificate
    }

    fn subject_der(&self) -> Vec<u8> {
        self.tbs().subject.to_der().unwrap_or_default()
    }

    fn issuer_der(&self) -> Vec<u8> {
        self.tbs().issuer.to_der().unwrap_or_default()
    }

    fn valid_at(&self, now: SystemTime) -> bool {
        let v = &self.tbs().validity;
        v.not_before.to_system_time() <= now && now <= v.not_after.to_system_time()
    }

    fn unknown_critical_extension(&self) -> Option<String> {
        self.tbs()
            .extensions
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .map(|e| (e.critical, e.extn_id.to_string()))
            .find(|(crit, oid)| *crit && !KNOWN_EXTENSIONS.contains(&oid.as_str()))
            .map(|(_, oid)| oid)
    }

    fn basic_constraints(&self) -> Option<BasicConstraints> {
        self.tbs()
            .get::<BasicConstraints>()
            .ok()
            .flatten()
            .map(|(_, b)| b)
    }

    /// Can this certificate issue others (CA constraint and usage)?
    fn may_issue(&self) -> bool {
        let v3 = self.tbs().version == x509_cert::Version::V3;
        let ca_ok = match self.basic_constraints() {
            Some(bc) => bc.ca,
            None => !v3,
        };
        let ku_ok = match self.tbs().get::<KeyUsage>() {
            Ok(Some((_, ku))) => ku.key_cert_sign(),
            _ => true,
        };
        ca_ok && ku_ok
    }

    fn allows_eku(&self, wanted: &str) -> bool {
        match self.tbs().get::<ExtendedKeyUsage>() {
            Ok(Some((_, eku))) => eku.0.iter().any(|o| {
                let o = o.to_string();
                o == wanted || o == EKU_ANY
            }),
            Ok(None) => true,
            Err(_) => false,
        }
    }

    /// Did `issuer` sign this certificate?
    fn signed_by(&self, issuer: &Certificate) -> bool {
        if self.issuer_der() != issuer.subject_der() {
            return false;
        }
        let hash = match self.cert.signature_algorithm.oid.to_string().as_str() {
            "1.2.840.113549.1.1.11" | "1.2.840.10045.4.3.2" => HashAlg::Sha256,
            "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => HashAlg::Sha384,
            "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => HashAlg::Sha512,
            _ => return false,
        };
        let (Some(key), Ok(tbs), Some(sig)) = (
            issuer.public_key(),
            self.tbs().to_der(),
            self.cert.signature.as_bytes(),
        ) else {
            return false;
        };
        key.verify_message(hash, &tbs, sig).is_some()
    }
}

/// A set of trusted root certificates.
#[derive(Debug, Clone, Default)]
pub struct CertPool {
    certs: Vec<Certificate>,
}

impl CertPool {
    /// The `CERTIFICATE` blocks (without headers) of a PEM file that parse.
    pub fn from_pem(data: &[u8]) -> CertPool {
        let certs = pem::parse_all(data)
            .into_iter()
            .filter(|b| b.label == "CERTIFICATE" && !b.has_headers)
            .filter_map(|b| Certificate::from_der(&b.der).ok())
            .collect();
        CertPool { certs }
    }

    pub fn from_certs(certs: Vec<Certificate>) -> CertPool {
        CertPool { certs }
    }

    pub fn certs(&self) -> &[Certificate] {
        &self.certs
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    fn contains(&self, c: &Certificate) -> bool {
        self.certs.iter().any(|r| r.der == c.der)
    }
}

/// Verify `leaf` up to a certificate of `roots`, using `intermediates` as
/// needed, at time `now`, requiring extended key usage `eku` if given.
/// Returns the chain, leaf first, root last.
pub fn verify_chain(
    leaf: &Certificate,
    intermediates: &[Certificate],
    roots: &CertPool,
    eku: Option<&str>,
    now: SystemTime,
) -> Result<Vec<Certificate>, String> {
    if let Some(oid) = leaf.unknown_critical_extension() {
        return Err(format!("unhandled critical extension {oid}"));
    }
    if !leaf.valid_at(now) {
        return Err("certificate has expired or is not yet valid".into());
    }
    let mut chain = vec![leaf.clone()];
    let found = if roots.contains(leaf) {
        true
    } else {
        extend(&mut chain, intermediates, roots, now)
    };
    if !found {
        return Err("certificate signed by unknown authority".into());
    }
    if eku.is_some_and(|eku| !chain.iter().all(|c| c.allows_eku(eku))) {
        return Err("certificate specifies an incompatible key usage".into());
    }
    Ok(chain)
}

/// Depth-first search for an issuer path from the last certificate of
/// `chain` to a root.
fn extend(
    chain: &mut Vec<Certificate>,
    intermediates: &[Certificate],
    roots: &CertPool,
    now: SystemTime,
) -> bool {
    const MAX_DEPTH: usize = 10;
    let child = chain.last().expect("chain starts with the leaf").clone();
    let usable = |c: &Certificate, chain: &[Certificate]| {
        !chain.iter().any(|x| x.der == c.der)
            && c.valid_at(now)
            && c.may_issue()
            && c.unknown_critical_extension().is_none()
            && path_len_ok(c, chain)
            && child.signed_by(c)
    };
    for root in &roots.certs {
        if usable(root, chain) {
            chain.push(root.clone());
            return true;
        }
    }
    if chain.len() >= MAX_DEPTH {
        return false;
    }
    for inter in intermediates {
        if usable(inter, chain) {
            chain.push(inter.clone());
            if extend(chain, intermediates, roots, now) {
                return true;
            }
            chain.pop();
        }
    }
    false
}

/// A CA with a path length constraint may have at most that many
/// intermediates below it (the leaf does not count).
fn path_len_ok(ca: &Certificate, below: &[Certificate]) -> bool {
    match ca.basic_constraints().and_then(|b| b.path_len_constraint) {
        Some(max) => below.len().saturating_sub(1) <= usize::from(max),
        None => true,
    }
}
