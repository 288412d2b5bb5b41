//! The original pvr's recorded outputs (tests/golden 12, 13, 14)
//! reproduced with the library.

mod common;

use common::*;
use pv_sign::*;
use pv_testkit::golden;
use serde_json::Value;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn signer(dir: &std::path::Path, key: &str) -> Signer {
    Signer::from_pem(&read(dir, key), key, None).unwrap()
}

/// 12: `sig add --part app` with a frozen RSA key is byte-exact; `sig ls`
/// plain / `--with-sigs` / `--with-payload`; tamper detection; `sig update`.
#[test]
fn vector_12_part_rs256() {
    let dir = golden("12-sig-part-rs256");
    let signer = signer(&dir, "input/keys/signer.key.pem");
    let trust = pubkey_trust(read(&dir, "input/keys/signer.pub.pem"));

    // line 4: sig add --part app
    let s1 = state(&dir, "expected/after-commit-1.pvr.json");
    let req = SigAddRequest::from_flags(Some("app"), None, vec![], vec![], false, false).unwrap();
    let signed = sig_add(&s1, &req, &signer).unwrap();
    assert_eq!(signed.path, "_sigs/app.json");
    assert_eq!(signed.bytes, read(&dir, "expected/sig-1.app.json"));
    assert_eq!(
        signed.header_json.as_bytes(),
        read(&dir, "expected/sig-1.app.protected.json")
    );
    assert_eq!(
        signed.payload,
        read(&dir, "expected/sig-1.app.payload.json")
    );

    // lines 8-10: sig ls on the signed commit
    let s2 = state(&dir, "expected/after-commit-2.pvr.json");
    assert_eq!(
        s2.get("_sigs/app.json").map(pv_json::to_canonical).unwrap(),
        signed.bytes
    );
    let plain = LsOptions::default();
    let with_sigs = LsOptions {
        with_sigs: true,
        with_payload: false,
    };
    let with_payload = LsOptions {
        with_sigs: true,
        with_payload: true,
    };
    for (opts, expected) in [
        (plain, "expected/08-sig-ls.stdout"),
        (with_sigs, "expected/09-sig-ls-with-sigs.stdout"),
        (
            with_payload,
            "expected/10-sig-with-payload-ls-with-sigs.stdout",
        ),
    ] {
        let out = ls_committed(&s2, &[], &trust, opts).unwrap();
        assert_eq!(out.stdout, read_str(&dir, expected), "{expected}");
        assert!(out.warnings.is_empty());
    }
    // The re-attached payload is standard base64 (pvr's quirk) and
    // decodes to the signed payload.
    let out = ls_committed(&s2, &[], &trust, with_payload).unwrap();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let p = v["sigs"][0]["payload"].as_str().unwrap();
    assert!(p.contains('+') || p.contains('/'));
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(p)
        .unwrap();
    assert_eq!(decoded, read(&dir, "expected/sig-1.app.payload.json"));

    // line 13: an excluded file changed, still valid
    let s3 = state(&dir, "expected/after-commit-3.pvr.json");
    let out = ls_committed(&s3, &[], &trust, plain).unwrap();
    assert_eq!(out.stdout, read_str(&dir, "expected/13-sig-ls.stdout"));

    // line 16: a protected file changed: exit 13 with pvr's message
    let s4 = state(&dir, "expected/after-commit-4.pvr.json");
    let err = ls_committed(&s4, &[], &trust, plain).unwrap_err();
    assert_eq!(err.exit_code(), exit_code(&dir, 16));
    assert_eq!(
        format!("{err}\n"),
        read_str(&dir, "expected/16-sig-ls.stderr")
    );
    assert_eq!(err.path.as_deref(), Some("_sigs/app.json"));
    assert!(read(&dir, "expected/16-sig-ls.stdout").is_empty());

    // line 17: sig update re-signs with the stored rules
    assert_eq!(update_targets(&s4, &[]).unwrap(), ["_sigs/app.json"]);
    let up = sig_update(&s4, "_sigs/app.json", &signed.bytes, &signer, false).unwrap();
    assert_eq!(up.path, "_sigs/app.json");
    assert_eq!(up.bytes, read(&dir, "expected/sig-2.app.json"));
    assert_eq!(up.payload, read(&dir, "expected/sig-2.app.payload.json"));

    // line 20: committed again, valid
    let s5 = state(&dir, "expected/after-commit-5.pvr.json");
    let out = ls_committed(&s5, &[], &trust, plain).unwrap();
    assert_eq!(out.stdout, read_str(&dir, "expected/20-sig-ls.stdout"));
}

/// 13: raw and part signatures with globs, argument errors, `sig ls` by
/// name, path, several names, and the self-covering raw signature.
#[test]
fn vector_13_raw_globs() {
    let dir = golden("13-sig-raw-globs");
    let signer = signer(&dir, "input/keys/signer.key.pem");
    let trust = pubkey_trust(read(&dir, "input/keys/signer.pub.pem"));
    let s1 = state(&dir, "expected/after-commit-1.pvr.json");

    // (--part, --raw, -i…, -e…, --noconfig, signature name)
    type AddCase<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        &'a [&'a str],
        &'a [&'a str],
        bool,
        &'a str,
    );
    let cases: [AddCase; 4] = [
        (
            None,
            Some("bsp-skel"),
            &["bsp/**", "#spec", "device.json"],
            &["bsp/src.json", "bsp/build.json"],
            false,
            "bsp-skel",
        ),
        (Some("app1"), None, &["*.json"], &["src.json"], true, "app1"),
        (Some("app2"), None, &[], &[], false, "app2"),
        (None, Some("everything"), &[], &[], false, "everything"),
    ];
    for (part, raw, inc, exc, noconfig, name) in cases {
        let req = SigAddRequest::from_flags(part, raw, strings(inc), strings(exc), noconfig, false)
            .unwrap();
        let signed = sig_add(&s1, &req, &signer).unwrap();
        assert_eq!(signed.path, format!("_sigs/{name}.json"));
        assert_eq!(
            signed.bytes,
            read(&dir, &format!("expected/sig.{name}.json")),
            "{name}"
        );
        assert_eq!(
            signed.header_json.as_bytes(),
            read(&dir, &format!("expected/sig.{name}.protected.json"))
        );
        assert_eq!(
            signed.payload,
            read(&dir, &format!("expected/sig.{name}.payload.json"))
        );
    }

    // lines 8, 9: argument errors
    let e = SigAddRequest::from_flags(Some("app1"), Some("x"), vec![], vec![], false, false)
        .unwrap_err();
    assert_eq!(e.exit_code(), exit_code(&dir, 8));
    assert_eq!(
        format!("{e}\n"),
        read_str(&dir, "expected/08-sig-add-part-app1-raw.stderr")
    );
    let e = SigAddRequest::from_flags(None, None, vec![], vec![], false, false).unwrap_err();
    assert_eq!(e.exit_code(), exit_code(&dir, 9));
    assert_eq!(
        format!("{e}\n"),
        read_str(&dir, "expected/09-sig-add.stderr")
    );

    // lines 12-16: sig ls on the committed signatures
    let s2 = state(&dir, "expected/after-commit-2.pvr.json");
    let plain = LsOptions::default();
    for (args, expected) in [
        (&["bsp-skel"][..], "expected/12-sig-ls-bsp-skel.stdout"),
        (
            &["_sigs/app1.json"][..],
            "expected/13-sig-ls-app1.json.stdout",
        ),
        (&["app1", "app2"][..], "expected/14-sig-ls-app1-app2.stdout"),
    ] {
        let out = ls_committed(&s2, args, &trust, plain).unwrap();
        assert_eq!(out.stdout, read_str(&dir, expected), "{expected}");
    }
    for (line, args, expected) in [
        (15, &[][..], "expected/15-sig-ls.stderr"),
        (
            16,
            &["everything"][..],
            "expected/16-sig-ls-everything.stderr",
        ),
    ] {
        let err = ls_committed(&s2, args, &trust, plain).unwrap_err();
        assert_eq!(err.exit_code(), exit_code(&dir, line));
        assert_eq!(format!("{err}\n"), read_str(&dir, expected), "{expected}");
        assert_eq!(err.path.as_deref(), Some("_sigs/everything.json"));
    }

    // A missing signature file exits 125.
    let err = ls_committed(&s2, &["nope"], &trust, plain).unwrap_err();
    assert_eq!(err.exit_code(), 125);
    assert_eq!(
        err.to_string(),
        "ERROR: signature file does not exist with name _sigs/nope.json"
    );
}

/// 14: ES256 header and payload are golden; the signature is random, so
/// the file is compared masked and the signature verified.
#[test]
fn vector_14_es256() {
    let dir = golden("14-sig-es256");
    let signer = signer(&dir, "input/keys/signer-ec.key.pem");
    let trust = pubkey_trust(read(&dir, "input/keys/signer-ec.pub.pem"));
    let s1 = state(&dir, "expected/after-commit-1.pvr.json");
    let req = SigAddRequest::from_flags(
        Some("app"),
        None,
        vec![],
        strings(&["src.json", "lxc.container.conf"]),
        false,
        false,
    )
    .unwrap();
    let signed = sig_add(&s1, &req, &signer).unwrap();
    assert_eq!(signer.key.alg(), Alg::ES256);
    assert_eq!(
        signed.header_json.as_bytes(),
        read(&dir, "expected/sig.app.protected.json")
    );
    assert_eq!(signed.payload, read(&dir, "expected/sig.app.payload.json"));
    let text = String::from_utf8(signed.bytes.clone()).unwrap();
    assert_eq!(
        mask_signatures(&text),
        read_str(&dir, "expected/sig.app.masked.json")
    );

    // Commit it and list: our signature verifies with the public key.
    let mut s2 = s1.clone();
    s2.insert("_sigs/app.json", pv_json::parse(&signed.bytes).unwrap());
    let committed = String::from_utf8(s2.to_canonical()).unwrap();
    assert_eq!(
        mask_signatures(&committed),
        read_str(&dir, "expected/after-commit-2.masked.pvr.json")
    );
    let out = ls_committed(&s2, &[], &trust, LsOptions::default()).unwrap();
    assert_eq!(out.stdout, read_str(&dir, "expected/07-sig-ls.stdout"));
    assert_eq!(out.verified[0].1.form, SigForm::EcdsaRaw);

    // The original's (random) signature verifies too, as R||S and as DER.
    let orig = SigFile::parse(
        &read(&dir, "expected/sig.app.json.random"),
        "_sigs/app.json",
    )
    .unwrap();
    let (Trust::PublicKeys(keys), _) = trust.resolve().unwrap() else {
        panic!("public keys expected");
    };
    let v = verify_with_keys(&s1, &orig, &keys).unwrap();
    assert_eq!((v.alg, v.form), (Alg::ES256, SigForm::EcdsaRaw));
    let raw = orig.signature_bytes();
    let der = p256::ecdsa::Signature::from_slice(&raw).unwrap().to_der();
    let mut as_der = orig.clone();
    as_der.signature = b64url(der.as_bytes());
    let v = verify_with_keys(&s1, &as_der, &keys).unwrap();
    assert_eq!(v.form, SigForm::EcdsaDer);
}

/// Spec §9 item 31: changing a protected value breaks the signature,
/// changing an excluded or not-seen one does not.
#[test]
fn tamper_detection() {
    let dir = golden("12-sig-part-rs256");
    let trust = pubkey_trust(read(&dir, "input/keys/signer.pub.pem"));
    let base = state(&dir, "expected/after-commit-2.pvr.json");
    let sha = "0".repeat(64);
    for (key, still_valid) in [
        ("app/root.squashfs", false),
        ("_config/app/etc/motd", false),
        ("app/src.json", true),
        ("bsp/kernel.img", true),
        ("app/new-file", false),
        ("bsp/new-file", true),
    ] {
        let mut s = base.clone();
        s.insert(key, Value::String(sha.clone()));
        let r = ls_committed(&s, &[], &trust, LsOptions::default());
        assert_eq!(r.is_ok(), still_valid, "{key}");
        if let Err(e) = r {
            assert_eq!(e.exit_code(), EXIT_VERIFY);
            assert!(e.to_string().starts_with("could not verify payload {"));
        }
    }
    // Removing a protected key or changing inline JSON breaks it too.
    let mut s = base.clone();
    s.remove("app/run.json");
    assert!(ls_committed(&s, &[], &trust, LsOptions::default()).is_err());
    let mut s = base.clone();
    s.insert(
        "app/meta.json",
        pv_json::parse(br#"{"bytes":"x"}"#).unwrap(),
    );
    assert!(ls_committed(&s, &[], &trust, LsOptions::default()).is_err());
}

/// Spec §9 item 30 signed with the frozen RSA key of vector 12: sign,
/// commit, list.
#[test]
fn spec_vector_30_signed() {
    let dir = golden("12-sig-part-rs256");
    let signer = signer(&dir, "input/keys/signer.key.pem");
    let trust = pubkey_trust(read(&dir, "input/keys/signer.pub.pem"));
    let a = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb";
    let b = "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d";
    let c = "2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6";
    let text = format!(
        r##"{{"#spec":"pantavisor-service-system@1","_config/app/etc/a.conf":"{a}","app/root.squashfs":"{b}","app/run.json":{{"#spec":"service-manifest-run@1","name":"app","type":"lxc"}},"app/src.json":{{"#spec":"service-manifest-src@1"}},"bsp/kernel.img":"{c}"}}"##
    );
    let mut s = pv_types::State::from_slice(text.as_bytes()).unwrap();
    let req = SigAddRequest::from_flags(Some("app"), None, vec![], vec![], false, false).unwrap();
    let signed = sig_add(&s, &req, &signer).unwrap();
    assert_eq!(
        b64url(&signed.payload),
        "eyJfY29uZmlnL2FwcC9ldGMvYS5jb25mIjoiY2E5NzgxMTJjYTFiYmRjYWZhYzIzMWIzOWEyM2RjNGRhNzg2ZWZmODE0N2M0ZTcyYjk4MDc3ODVhZmVlNDhiYiIsImFwcC9yb290LnNxdWFzaGZzIjoiM2UyM2U4MTYwMDM5NTk0YTMzODk0ZjY1NjRlMWIxMzQ4YmJkN2EwMDg4ZDQyYzRhY2I3M2VlYWVkNTljMDA5ZCIsImFwcC9ydW4uanNvbiI6eyIjc3BlYyI6InNlcnZpY2UtbWFuaWZlc3QtcnVuQDEiLCJuYW1lIjoiYXBwIiwidHlwZSI6Imx4YyJ9fQ"
    );
    let input = String::from_utf8(signing_input(
        &b64url(signed.header_json.as_bytes()),
        &signed.payload,
    ))
    .unwrap();
    assert!(input.ends_with(&format!(".{}", b64url(&signed.payload))));
    s.insert(signed.path.clone(), pv_json::parse(&signed.bytes).unwrap());
    let out = ls_committed(&s, &[], &trust, LsOptions::default()).unwrap();
    let (p, e, n) = summary(&out.verified);
    assert_eq!(
        p,
        [
            "_config/app/etc/a.conf",
            "app/root.squashfs",
            "app/run.json"
        ]
    );
    assert_eq!(e, ["_sigs/app.json", "app/src.json"]);
    assert_eq!(n, ["#spec", "bsp/kernel.img"]);
}
