//! Checks a revision passes before it runs: a valid, coherent state; every
//! object with the right content; signatures as `PV_SECUREBOOT_MODE` asks.

use std::fs;
use std::path::Path;

use pv_config::SecurebootMode;
use pv_types::State;
use tracing::{info, warn};

use crate::layout::Layout;
use crate::{Error, Result};

/// Check every object of `rev`'s trail against its id.
pub fn check_objects(layout: &Layout, rev: &str, state: &State) -> Result<()> {
    let trail = layout.trail(rev);
    for (key, id) in state.objects() {
        let p = trail.join(key);
        let actual = pv_objects::hash_file(&p).map_err(|source| Error::ObjectUnreadable {
            key: key.to_string(),
            source,
        })?;
        if actual != id {
            return Err(Error::BadChecksum {
                key: key.to_string(),
                expected: id,
                actual,
            });
        }
    }
    info!(
        "revision {rev}: {} objects validated",
        state.objects().len()
    );
    Ok(())
}

/// Trust for signature checks: every PEM file of `dir` (certificates are
/// roots for x5c chains, public keys are trusted directly).
pub fn load_trust(dir: Option<&Path>) -> pv_sign::DeviceTrust {
    let mut trust = pv_sign::DeviceTrust::default();
    let Some(dir) = dir else { return trust };
    let Ok(rd) = fs::read_dir(dir) else {
        return trust;
    };
    let mut roots = vec![];
    for e in rd.flatten() {
        let Ok(pem) = fs::read(e.path()) else {
            continue;
        };
        if let Ok((keys, _)) = pv_sign::PublicKey::all_from_pem(&pem, &e.path().to_string_lossy()) {
            trust.pubkeys.extend(keys);
        }
        roots.extend_from_slice(&pem);
    }
    trust.roots = pv_sign::CertPool::from_pem(&roots);
    trust
}

/// Verify signatures of the raw state text according to `mode`.
pub fn check_signatures(
    raw: &[u8],
    mode: SecurebootMode,
    trust: &pv_sign::DeviceTrust,
) -> Result<()> {
    if mode == SecurebootMode::Disabled {
        return Ok(());
    }
    let report = pv_sign::device_verify(raw, trust, std::time::SystemTime::now())
        .map_err(Error::Signature)?;
    let sb = match mode {
        SecurebootMode::Audit => pv_sign::SecureBootMode::Audit,
        SecurebootMode::Strict => pv_sign::SecureBootMode::Strict,
        _ => pv_sign::SecureBootMode::Lenient,
    };
    if !report.uncovered.is_empty() {
        warn!(
            "{} state keys are not covered by any signature",
            report.uncovered.len()
        );
    }
    if !report.accepted(sb) {
        // a signature that fails is a failure whatever the coverage
        return Err(Error::SignaturesRejected {
            uncovered: report.signatures_ok() && !report.uncovered.is_empty(),
        });
    }
    Ok(())
}
