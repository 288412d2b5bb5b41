//! Device-style verification, as the Pantavisor runtime checks a stored
//! state before running it.
//!
//! Unlike pvr, the device does not re-encode anything: it walks the raw
//! state text in document order and concatenates `"key":value` with each
//! value's token text as written. Patterns use `fnmatch(FNM_PATHNAME)`; a
//! pattern `X/**` is matched as `X` with `FNM_LEADING_DIR` (so it also
//! matches `X` itself) and a bare `**` as the empty pattern with
//! `FNM_LEADING_DIR` (which matches no key). On a canonical state with
//! `X/**`-style rules this gives pvr's payload; on a pretty-printed state
//! it does not.

use std::time::SystemTime;

use crate::encoding::b64url;
use crate::fnmatch::fnmatch;
use crate::header::PvsMatch;
use crate::jws::{self, SigFile};
use crate::keys::{Alg, PublicKey, SigForm};
use crate::rawjson::{object_members, RawMember};
use crate::x509::{verify_chain, CertPool, Certificate};

/// `PV_SECUREBOOT_MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecureBootMode {
    Disabled,
    /// Check everything, only log failures.
    Audit,
    /// Signatures present must verify (the default).
    Lenient,
    /// Signatures must verify and cover every key outside `_sigs/`.
    Strict,
}

impl SecureBootMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "disabled" => Some(Self::Disabled),
            "audit" => Some(Self::Audit),
            "lenient" => Some(Self::Lenient),
            "strict" => Some(Self::Strict),
            _ => None,
        }
    }
}

/// The device's trust store.
#[derive(Debug, Clone, Default)]
pub struct DeviceTrust {
    /// Keys for signatures without `x5c`.
    pub pubkeys: Vec<PublicKey>,
    /// Roots for `x5c` chains (no extended key usage is required).
    pub roots: CertPool,
}

/// A state the device cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state JSON cannot be parsed: {0}")]
pub struct DeviceError(pub String);

/// The outcome for one signature found in the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSignature {
    /// The state key holding the signature.
    pub key: String,
    pub alg: Option<String>,
    /// The encoding that verified, or why it did not.
    pub outcome: Result<SigForm, String>,
}

/// The outcome of [`device_verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceReport {
    pub signatures: Vec<DeviceSignature>,
    /// Keys outside `_sigs/` matched by no pattern of any signature.
    pub uncovered: Vec<String>,
}

impl DeviceReport {
    pub fn signatures_ok(&self) -> bool {
        self.signatures.iter().all(|s| s.outcome.is_ok())
    }

    /// Would the device accept the state in `mode`?
    pub fn accepted(&self, mode: SecureBootMode) -> bool {
        match mode {
            SecureBootMode::Disabled | SecureBootMode::Audit => true,
            SecureBootMode::Lenient => self.signatures_ok(),
            SecureBootMode::Strict => self.signatures_ok() && self.uncovered.is_empty(),
        }
    }
}

/// Device pattern semantics (see the module documentation).
pub fn device_match(pattern: &str, key: &str) -> bool {
    if pattern == "**" {
        fnmatch("", key, true)
    } else if let Some(dir) = pattern.strip_suffix("/**") {
        fnmatch(dir, key, true)
    } else {
        fnmatch(pattern, key, false)
    }
}

fn members(raw_state: &[u8]) -> Result<Vec<RawMember<'_>>, DeviceError> {
    let text = std::str::from_utf8(raw_state).map_err(|e| DeviceError(e.to_string()))?;
    object_members(text).map_err(DeviceError)
}

/// Which members `pvs` includes (`Some(true)`), excludes (`Some(false)`) or
/// does not match (`None`): includes are applied first, then excludes.
fn marks(members: &[RawMember<'_>], pvs: &PvsMatch) -> Vec<Option<bool>> {
    members
        .iter()
        .map(|m| {
            let mut mark = None;
            if pvs.include.iter().any(|p| device_match(p, m.raw_key)) {
                mark = Some(true);
            }
            if pvs.exclude.iter().any(|p| device_match(p, m.raw_key)) {
                mark = Some(false);
            }
            mark
        })
        .collect()
}

fn payload_of(members: &[RawMember<'_>], marks: &[Option<bool>]) -> Vec<u8> {
    let pairs: Vec<String> = members
        .iter()
        .zip(marks)
        .filter(|(_, m)| **m == Some(true))
        .map(|(m, _)| format!("\"{}\":{}", m.raw_key, m.value))
        .collect();
    format!("{{{}}}", pairs.join(",")).into_bytes()
}

/// The payload the device computes for `pvs` over the raw state text.
pub fn device_payload(raw_state: &[u8], pvs: &PvsMatch) -> Result<Vec<u8>, DeviceError> {
    let members = members(raw_state)?;
    let marks = marks(&members, pvs);
    Ok(payload_of(&members, &marks))
}

/// Verify every pvs@2 value of the raw state and compute coverage.
pub fn device_verify(
    raw_state: &[u8],
    trust: &DeviceTrust,
    now: SystemTime,
) -> Result<DeviceReport, DeviceError> {
    let members = members(raw_state)?;
    let mut covered = vec![false; members.len()];
    let mut signatures = Vec::new();
    for m in &members {
        let Ok(value) = pv_json::parse(m.value.as_bytes()) else {
            continue;
        };
        if !jws::is_pvs2(&value) {
            continue;
        }
        let sig = match SigFile::from_value(&value, &m.key) {
            Ok(s) => s,
            Err(e) => {
                signatures.push(DeviceSignature {
                    key: m.key.clone(),
                    alg: None,
                    outcome: Err(e.to_string()),
                });
                continue;
            }
        };
        let outcome = if sig.header.include.is_none() || sig.header.exclude.is_none() {
            Err("no pvs include/exclude in protected header".to_string())
        } else {
            let marks = marks(&members, &sig.header.pvs());
            for (c, mark) in covered.iter_mut().zip(&marks) {
                *c |= mark.is_some();
            }
            check(&sig, &payload_of(&members, &marks), trust, now)
        };
        signatures.push(DeviceSignature {
            key: m.key.clone(),
            alg: sig.header.alg.clone(),
            outcome,
        });
    }
    let uncovered = members
        .iter()
        .zip(&covered)
        .filter(|(m, c)| !**c && !m.raw_key.starts_with("_sigs/"))
        .map(|(m, _)| m.key.clone())
        .collect();
    Ok(DeviceReport {
        signatures,
        uncovered,
    })
}

fn check(
    sig: &SigFile,
    payload: &[u8],
    trust: &DeviceTrust,
    now: SystemTime,
) -> Result<SigForm, String> {
    let alg = sig
        .header
        .alg
        .as_deref()
        .and_then(Alg::parse)
        .ok_or_else(|| format!("unknown algorithm {:?}", sig.header.alg))?;
    let keys = if sig.header.x5c.is_empty() {
        trust.pubkeys.clone()
    } else {
        let certs = sig
            .header
            .x5c
            .iter()
            .map(|d| Certificate::from_der(d))
            .collect::<Result<Vec<_>, _>>()?;
        let chain = verify_chain(&certs[0], &certs[1..], &trust.roots, None, now)?;
        chain[0].public_key().into_iter().collect()
    };
    let input = jws::signing_input(&sig.protected, payload);
    let raw_sig = sig.signature_bytes();
    keys.iter()
        .find_map(|k| k.verify_jws(alg, &input, &raw_sig))
        .ok_or_else(|| format!("signature does not verify over {}", b64url(payload)))
}
