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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const B: &str = "7d865e959b2466918c9863afca942d0fb89d7c9ac0c99bafc3749504ded97730";

    /// A state whose `app` part is signed (pvr sig add --part app) and
    /// whose `bsp` part is not, with the trust to check it.
    fn partly_signed() -> (pv_types::State, pv_sign::DeviceTrust) {
        let pem = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../pv-sign/tests/data/es384.key.pem"
        ))
        .unwrap();
        let key = pv_sign::PrivateKey::from_pem(&pem, "es384.key.pem").unwrap();
        let trust = pv_sign::DeviceTrust {
            pubkeys: vec![key.public_key()],
            roots: pv_sign::CertPool::default(),
        };
        let mut state = State::from_slice(
            json!({
                "#spec": "pantavisor-service-system@1",
                "app/root.squashfs": A,
                "app/run.json": {"name": "app"},
                "bsp/kernel.img": B,
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        let req =
            pv_sign::SigAddRequest::from_flags(Some("app"), None, vec![], vec![], false, false)
                .unwrap();
        let sig = pv_sign::sig_add(&state, &req, &pv_sign::Signer::new(key)).unwrap();
        state.insert(sig.path, serde_json::from_slice(&sig.bytes).unwrap());
        (state, trust)
    }

    #[test]
    fn a_signature_that_fails_is_named_even_when_parts_are_uncovered() {
        let (state, trust) = partly_signed();
        let raw = state.to_canonical();
        // as signed: lenient accepts the uncovered bsp, strict does not
        check_signatures(&raw, SecurebootMode::Lenient, &trust).unwrap();
        let e = check_signatures(&raw, SecurebootMode::Strict, &trust).unwrap_err();
        assert!(
            matches!(e, Error::SignaturesRejected { uncovered: true }),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "State not fully covered by signatures");
        // the signed container edited after signing: the signature fails,
        // and that is what is said, in either mode
        let mut edited = state.clone();
        edited.insert("app/root.squashfs", json!(B));
        let raw = edited.to_canonical();
        for mode in [SecurebootMode::Lenient, SecurebootMode::Strict] {
            let e = check_signatures(&raw, mode, &trust).unwrap_err();
            assert!(
                matches!(e, Error::SignaturesRejected { uncovered: false }),
                "{mode:?}: {e:?}"
            );
            assert_eq!(e.to_string(), "Signature validation failed");
        }
        assert!(check_signatures(&raw, SecurebootMode::Disabled, &trust).is_ok());
    }
}
