//! Device-style verification against the golden states (spec §7.6 and
//! §9 item 34).

mod common;

use std::time::SystemTime;

use common::*;
use pv_sign::*;
use pv_testkit::golden;
use serde_json::Value;

fn pubkeys(pem: &[u8]) -> Vec<PublicKey> {
    PublicKey::all_from_pem(pem, "pub").unwrap().0
}

#[test]
fn canonical_state_agrees_pretty_state_diverges() {
    let dir = golden("12-sig-part-rs256");
    let trust = DeviceTrust {
        pubkeys: pubkeys(&read(&dir, "input/keys/signer.pub.pem")),
        roots: CertPool::default(),
    };
    let raw = read(&dir, "expected/after-commit-2.pvr.json");
    let report = device_verify(&raw, &trust, SystemTime::now()).unwrap();
    assert_eq!(report.signatures.len(), 1);
    assert_eq!(report.signatures[0].key, "_sigs/app.json");
    assert_eq!(report.signatures[0].outcome, Ok(SigForm::RsaPkcs1v15));
    assert_eq!(
        report.uncovered,
        ["#spec", "bsp/kernel.img", "bsp/pantavisor", "bsp/run.json"]
    );
    assert!(report.accepted(SecureBootMode::Lenient));
    assert!(!report.accepted(SecureBootMode::Strict));
    assert!(report.accepted(SecureBootMode::Audit));

    // The same state pretty-printed: pvr still verifies (it re-encodes
    // canonically), the device does not (it hashes the raw text).
    let value = pv_json::parse(&raw).unwrap();
    let pretty = pv_json::pretty::to_string(&value, pv_json::pretty::PVR_JSON);
    let report = device_verify(pretty.as_bytes(), &trust, SystemTime::now()).unwrap();
    assert!(report.signatures[0].outcome.is_err());
    assert!(!report.accepted(SecureBootMode::Lenient));
    let state = pv_types::State::from_slice(pretty.as_bytes()).unwrap();
    let pvr_trust = pubkey_trust(read(&dir, "input/keys/signer.pub.pem"));
    ls_committed(&state, &[], &pvr_trust, LsOptions::default()).unwrap();

    // A tampered state is refused by both.
    let tampered = String::from_utf8(raw.clone()).unwrap().replace(
        "07bbe0497bdb2e2b52edd54274048b49ce42e6b5bfc4274ec8d2295e481a33f9",
        &"1".repeat(64),
    );
    let report = device_verify(tampered.as_bytes(), &trust, SystemTime::now()).unwrap();
    assert!(!report.signatures_ok());
}

/// On canonical states the device payload equals pvr's for the rule
/// shapes pvr produces (`X/**`, `X/*.json`, exact names), and differs for
/// a bare `**`, which the device matches against nothing.
#[test]
fn device_payload_matches_pvr_payload() {
    let dir = golden("13-sig-raw-globs");
    let raw = read(&dir, "expected/after-commit-2.pvr.json");
    let state = pv_types::State::from_slice(&raw).unwrap();
    for name in ["bsp-skel", "app1", "app2", "everything"] {
        let sig =
            SigFile::from_value(state.get(&format!("_sigs/{name}.json")).unwrap(), name).unwrap();
        let pvs = sig.header.pvs();
        let pvr = payload(&state, &pvs).unwrap();
        let dev = device_payload(&raw, &pvs).unwrap();
        if name == "everything" {
            assert_eq!(dev, b"{}");
            assert_ne!(pvr, dev);
        } else {
            assert_eq!(pvr, dev, "{name}");
        }
    }
    let trust = DeviceTrust {
        pubkeys: pubkeys(&read(&dir, "input/keys/signer.pub.pem")),
        roots: CertPool::default(),
    };
    let report = device_verify(&raw, &trust, SystemTime::now()).unwrap();
    let ok: Vec<(&str, bool)> = report
        .signatures
        .iter()
        .map(|s| (s.key.as_str(), s.outcome.is_ok()))
        .collect();
    assert_eq!(
        ok,
        [
            ("_sigs/app1.json", true),
            ("_sigs/app2.json", true),
            ("_sigs/bsp-skel.json", true),
            ("_sigs/everything.json", false),
        ]
    );
    // `X/**` also covers `X` itself on the device.
    assert!(device_match("bsp/**", "bsp"));
    assert!(!Glob::new("bsp/**").unwrap().matches("bsp"));
}

/// The device accepts ECDSA signatures in DER as well as R||S.
#[test]
fn device_accepts_der_ecdsa() {
    let dir = golden("14-sig-es256");
    let signer = Signer::from_pem(&read(&dir, "input/keys/signer-ec.key.pem"), "k", None).unwrap();
    let mut state = state(&dir, "expected/after-commit-1.pvr.json");
    let req = SigAddRequest::from_flags(Some("app"), None, vec![], vec![], false, false).unwrap();
    let signed = sig_add(&state, &req, &signer).unwrap();
    let mut value = pv_json::parse(&signed.bytes).unwrap();
    let raw_sig = b64url_decode(value["signature"].as_str().unwrap()).unwrap();
    let der = p256::ecdsa::Signature::from_slice(&raw_sig)
        .unwrap()
        .to_der();
    value["signature"] = Value::String(b64url(der.as_bytes()));
    state.insert("_sigs/app.json", value);
    let trust = DeviceTrust {
        pubkeys: pubkeys(&read(&dir, "input/keys/signer-ec.pub.pem")),
        roots: CertPool::default(),
    };
    let report = device_verify(&state.to_canonical(), &trust, SystemTime::now()).unwrap();
    assert_eq!(report.signatures[0].outcome, Ok(SigForm::EcdsaDer));
    // pvr-side verification reports the form too.
    let out = ls_committed(
        &state,
        &[],
        &pubkey_trust(read(&dir, "input/keys/signer-ec.pub.pem")),
        LsOptions::default(),
    )
    .unwrap();
    assert_eq!(out.verified[0].1.form, SigForm::EcdsaDer);
}
