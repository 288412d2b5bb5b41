//! `x5c` chains and CA-pool trust with the certificates in tests/data
//! (root RSA CA → P-256 intermediate → P-384 code-signing leaf; see
//! tests/data/make.sh).

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use pv_sign::*;
use pv_types::State;

fn small_state() -> State {
    State::from_slice(
        br##"{"#spec":"pantavisor-service-system@1","app/run.json":{"name":"app"},"app/root.squashfs":"2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6","bsp/kernel.img":"3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"}"##,
    )
    .unwrap()
}

/// Sign part `app` with `signer`, commit the file, and return the state.
fn signed_state(signer: &Signer) -> (State, SignedFile) {
    let mut s = small_state();
    let req = SigAddRequest::from_flags(Some("app"), None, vec![], vec![], false, false).unwrap();
    let signed = sig_add(&s, &req, signer).unwrap();
    s.insert(signed.path.clone(), pv_json::parse(&signed.bytes).unwrap());
    (s, signed)
}

fn ca(pem: &str) -> TrustSource {
    TrustSource::CaCertsPem { pem: data(pem) }
}

#[test]
fn x5c_header_and_chain_trust() {
    let signer = Signer::from_pem(
        &data("leaf.key.pem"),
        "leaf.key.pem",
        Some(&data("x5c.pem")),
    )
    .unwrap();
    assert_eq!(signer.key.alg(), Alg::ES384);
    assert_eq!(signer.x5c.len(), 2);
    let (state, signed) = signed_state(&signer);

    // x5c is the last header member, standard base64 DER, leaf first.
    let h: serde_json::Value = serde_json::from_str(&signed.header_json).unwrap();
    let x5c: Vec<&str> = h["x5c"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(x5c.len(), 2);
    assert!(signed
        .header_json
        .starts_with(r#"{"alg":"ES384","jwk":{"kty":"EC","crv":"P-384","x":""#));
    assert!(signed.header_json.contains(r#""typ":"PVS","x5c":[""#));
    let certs = certificates_from_pem(&data("x5c.pem"));
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(x5c[0])
            .unwrap(),
        certs[0]
    );

    // Trusted through the root, and through the intermediate as a root.
    for pool in ["root.cert.pem", "inter.cert.pem"] {
        let out = ls_committed(&state, &[], &ca(pool), LsOptions::default()).unwrap();
        assert_eq!(out.verified[0].1.alg, Alg::ES384, "{pool}");
        assert!(out.stdout.contains("\"app/run.json\""));
    }
    // The leaf itself in the pool is trusted directly (as in Go).
    ls_committed(&state, &[], &ca("leaf.cert.pem"), LsOptions::default()).unwrap();
    // A pool that contains nothing of the chain.
    let err = ls_committed(&state, &[], &ca("server.cert.pem"), LsOptions::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NoVerificationKeys);
    assert_eq!(err.exit_code(), 13);
}

#[test]
fn code_signing_usage_is_required() {
    let signer = Signer::from_pem(
        &data("leaf.key.pem"),
        "leaf.key.pem",
        Some(&data("x5c-server.pem")),
    )
    .unwrap();
    let (state, _) = signed_state(&signer);
    let err = ls_committed(&state, &[], &ca("root.cert.pem"), LsOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no pubKeys available. Neither as parameters nor from x5c header nor from root pool"
    );
    // The same chain is fine for the device, which does not check usage.
    let raw = state.to_canonical();
    let trust = DeviceTrust {
        pubkeys: vec![],
        roots: CertPool::from_pem(&data("root.cert.pem")),
    };
    let report = device_verify(&raw, &trust, SystemTime::now()).unwrap();
    assert!(report.signatures_ok(), "{report:?}");
}

#[test]
fn chain_checks() {
    let pool = CertPool::from_pem(&data("root.cert.pem"));
    let chain: Vec<Certificate> = certificates_from_pem(&data("x5c.pem"))
        .iter()
        .map(|d| Certificate::from_der(d).unwrap())
        .collect();
    let now = SystemTime::now();
    let ok = verify_chain(&chain[0], &chain[1..], &pool, Some(EKU_CODE_SIGNING), now).unwrap();
    assert_eq!(ok.len(), 3);
    assert_eq!(ok[2].common_name().as_deref(), Some("pv-sign test root"));
    assert_eq!(chain[0].common_name().as_deref(), Some("pv-sign test leaf"));
    // Missing intermediate, not yet valid, expired.
    assert!(verify_chain(&chain[0], &[], &pool, None, now).is_err());
    assert!(verify_chain(&chain[0], &chain[1..], &pool, None, UNIX_EPOCH).is_err());
    let far = now + Duration::from_secs(200 * 365 * 86400);
    assert!(verify_chain(&chain[0], &chain[1..], &pool, None, far).is_err());
    // The leaf cannot act as an issuer (CA:false).
    let leaf_pool = CertPool::from_certs(vec![chain[0].clone()]);
    let server =
        Certificate::from_der(&certificates_from_pem(&data("server.cert.pem"))[0]).unwrap();
    assert!(verify_chain(&server, &[], &leaf_pool, None, now).is_err());
}

#[test]
fn pool_without_x5c_uses_pool_keys() {
    // Signed by the root key itself, no x5c: every valid pool certificate
    // is a candidate key.
    let signer = Signer::from_pem(&data("root.key.pem"), "root.key.pem", None).unwrap();
    let (state, _) = signed_state(&signer);
    let out = ls_committed(&state, &[], &ca("root.cert.pem"), LsOptions::default()).unwrap();
    assert_eq!(out.verified[0].1.alg, Alg::RS256);
    // The intermediate alone is also self-trusted but holds another key.
    let err = ls_committed(&state, &[], &ca("inter.cert.pem"), LsOptions::default()).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::NotVerified { .. }));
    // A pool whose only certificate is a non-CA code-signing leaf is
    // still a candidate (it verifies against itself).
    let leaf_signer = Signer::from_pem(&data("leaf.key.pem"), "leaf.key.pem", None).unwrap();
    let (state, _) = signed_state(&leaf_signer);
    ls_committed(&state, &[], &ca("leaf.cert.pem"), LsOptions::default()).unwrap();
    // A server-auth-only certificate is not.
    let out = ls_committed(&state, &[], &ca("server.cert.pem"), LsOptions::default());
    assert_eq!(out.unwrap_err().kind, ErrorKind::NoVerificationKeys);
}

#[test]
fn trust_source_errors() {
    let (state, _) = signed_state(&Signer::from_pem(&data("es384.key.pem"), "k", None).unwrap());
    let empty = TrustSource::CaCertsPem {
        pem: b"nothing".to_vec(),
    };
    let e = ls_committed(&state, &[], &empty, LsOptions::default()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::NoVerificationKeys);
    let (_, warnings) = empty.resolve().unwrap();
    assert_eq!(
        warnings,
        ["WARNING: could not append cacerts to cert pool. Disabling cert pool."]
    );
    let e = ls_committed(&state, &[], &TrustSource::SystemPool, LsOptions::default()).unwrap_err();
    assert_eq!(
        (e.exit_code(), e.to_string().as_str()),
        (13, "Using system cert pool not supported anymore")
    );
    let e = ls_committed(
        &state,
        &[],
        &pubkey_trust(b"no keys".to_vec()),
        LsOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "no valid PEM encoded verify key found in signer.pub.pem"
    );
    // With no signature nothing is resolved: an empty summary.
    let out = ls_committed(
        &small_state(),
        &[],
        &TrustSource::SystemPool,
        LsOptions::default(),
    )
    .unwrap();
    assert_eq!(out.stdout, "{}\n");
    // Right key type, several keys in one file: the matching one is used.
    let mut pem = data("rsa-pkcs1.pub.pem");
    pem.extend(data("es384.pub.pem"));
    let out = ls_committed(&state, &[], &pubkey_trust(pem), LsOptions::default()).unwrap();
    assert_eq!(out.verified[0].1.key_index, 1);
}
