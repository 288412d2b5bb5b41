//! pvr-style verification of one signature against a committed state:
//! rebuild the payload with the header's rules (doublestar globs over the
//! canonical state), collect candidate keys from the trust configuration,
//! and check the detached JWS with each until one passes.

use std::time::SystemTime;

use pv_types::State;

use crate::error::ErrorKind;
use crate::jws::SigFile;
use crate::keys::{Alg, PublicKey, SigForm};
use crate::payload::{select, Selection};
use crate::x509::{verify_chain, CertPool, Certificate, EKU_CODE_SIGNING};

/// What to trust, as given on the command line, before it is read.
#[derive(Debug, Clone)]
pub enum TrustSource {
    /// `--pubkey FILE`: every public key block of the file.
    PublicKeysPem { pem: Vec<u8>, source: String },
    /// `--cacerts FILE` (or the default pool file): CA certificates.
    CaCertsPem { pem: Vec<u8> },
    /// `--cacerts _system_`, which pvr rejects.
    SystemPool,
}

/// Resolved trust.
#[derive(Debug, Clone)]
pub enum Trust {
    PublicKeys(Vec<PublicKey>),
    /// Verify `x5c` chains (code signing) to these roots; without `x5c`,
    /// every pool certificate valid against the pool is a candidate key.
    CertPool(CertPool),
}

impl TrustSource {
    /// Read the keys or certificates. Returns warning lines for stderr
    /// (unparsable key blocks, an empty pool).
    pub fn resolve(&self) -> Result<(Trust, Vec<String>), ErrorKind> {
        match self {
            TrustSource::PublicKeysPem { pem, source } => {
                let (keys, warnings) = PublicKey::all_from_pem(pem, source)?;
                Ok((Trust::PublicKeys(keys), warnings))
            }
            TrustSource::CaCertsPem { pem } => {
                let pool = CertPool::from_pem(pem);
                let mut warnings = Vec::new();
                if pool.is_empty() {
                    warnings.push(
                        "WARNING: could not append cacerts to cert pool. Disabling cert pool."
                            .to_string(),
                    );
                }
                Ok((Trust::CertPool(pool), warnings))
            }
            TrustSource::SystemPool => Err(ErrorKind::SystemPoolUnsupported),
        }
    }
}

impl Trust {
    /// The keys to try for a signature with this header, plus warning
    /// lines. With a pool: the `x5c` leaf if its chain verifies (nothing if
    /// it does not), or without `x5c` each pool certificate that verifies
    /// against the pool itself.
    pub fn candidate_keys(&self, sig: &SigFile, now: SystemTime) -> (Vec<PublicKey>, Vec<String>) {
        match self {
            Trust::PublicKeys(keys) => (keys.clone(), Vec::new()),
            Trust::CertPool(pool) if pool.is_empty() => (Vec::new(), Vec::new()),
            Trust::CertPool(pool) => {
                let mut warnings = Vec::new();
                if !sig.header.x5c.is_empty() {
                    let certs: Result<Vec<Certificate>, String> = sig
                        .header
                        .x5c
                        .iter()
                        .map(|d| Certificate::from_der(d))
                        .collect();
                    let key = certs.ok().and_then(|certs| {
                        verify_chain(&certs[0], &certs[1..], pool, Some(EKU_CODE_SIGNING), now)
                            .ok()
                            .and_then(|chain| chain[0].public_key())
                    });
                    return (key.into_iter().collect(), warnings);
                }
                let mut keys = Vec::new();
                for cert in pool.certs() {
                    match verify_chain(cert, &[], pool, Some(EKU_CODE_SIGNING), now) {
                        Ok(_) => keys.extend(cert.public_key()),
                        Err(e) => warnings.push(format!(
                            "could not validate cert in pool against the pool itself {e}"
                        )),
                    }
                }
                (keys, warnings)
            }
        }
    }
}

/// A signature that verified.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// How the state's keys split under this signature's rules.
    pub selection: Selection,
    /// The payload that was verified (canonical JSON).
    pub payload: Vec<u8>,
    pub alg: Alg,
    /// The signature encoding that verified (ECDSA: raw `R||S` or DER).
    pub form: SigForm,
    /// Index into the candidate keys of the key that verified.
    pub key_index: usize,
}

/// Check `sig` against `state` with the given candidate keys.
pub fn verify_with_keys(
    state: &State,
    sig: &SigFile,
    keys: &[PublicKey],
) -> Result<Verified, ErrorKind> {
    let selection = select(state, &sig.header.pvs())?;
    let payload = selection.payload();
    if keys.is_empty() {
        return Err(ErrorKind::NoVerificationKeys);
    }
    let not_verified = || ErrorKind::NotVerified {
        payload: String::from_utf8_lossy(&payload).into_owned(),
    };
    let Some(alg) = sig.header.alg.as_deref().and_then(Alg::parse) else {
        return Err(not_verified());
    };
    let input = sig.signing_input(&payload);
    let raw_sig = sig.signature_bytes();
    for (key_index, key) in keys.iter().enumerate() {
        if let Some(form) = key.verify_jws(alg, &input, &raw_sig) {
            return Ok(Verified {
                selection,
                payload,
                alg,
                form,
                key_index,
            });
        }
    }
    Err(not_verified())
}

/// Resolve candidates from `trust` and verify.
pub fn verify(
    state: &State,
    sig: &SigFile,
    trust: &Trust,
    now: SystemTime,
) -> Result<(Verified, Vec<String>), ErrorKind> {
    let (keys, warnings) = trust.candidate_keys(sig, now);
    verify_with_keys(state, sig, &keys).map(|v| (v, warnings))
}
