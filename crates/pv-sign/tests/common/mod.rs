//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;

use pv_sign::{sig_ls, LsOptions, LsOutput, SignError, TrustSource};
use pv_types::State;

pub fn read(dir: &Path, rel: &str) -> Vec<u8> {
    std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(rel).display()))
}

pub fn read_str(dir: &Path, rel: &str) -> String {
    String::from_utf8(read(dir, rel)).unwrap()
}

pub fn state(dir: &Path, rel: &str) -> State {
    State::from_slice(&read(dir, rel)).unwrap()
}

pub fn data(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `sig ls` where the working-tree signature files equal the committed
/// values (the state right after a commit).
pub fn ls_committed(
    state: &State,
    args: &[&str],
    trust: &TrustSource,
    opts: LsOptions,
) -> Result<LsOutput, SignError> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    sig_ls(
        state,
        &args,
        trust,
        opts,
        std::time::SystemTime::now(),
        |path| {
            state
                .get(path)
                .map(pv_json::to_canonical)
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
        },
    )
}

pub fn pubkey_trust(pem: Vec<u8>) -> TrustSource {
    TrustSource::PublicKeysPem {
        pem,
        source: "signer.pub.pem".into(),
    }
}

/// The exit status recorded for command line `line` (1-based).
pub fn exit_code(dir: &Path, line: usize) -> i32 {
    read_str(dir, "expected/exitcodes.txt")
        .lines()
        .find_map(|l| {
            let (n, code) = l.split_once(' ')?;
            (n.parse::<usize>().ok()? == line).then(|| code.parse().unwrap())
        })
        .unwrap()
}

/// Replace every `"signature":"…"` value with `<SIGNATURE>`, like the
/// recorder's `sigmask` capture.
pub fn mask_signatures(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    let marker = "\"signature\":\"";
    while let Some(i) = rest.find(marker) {
        out.push_str(&rest[..i + marker.len()]);
        rest = &rest[i + marker.len()..];
        let end = rest.find('"').unwrap();
        out.push_str("<SIGNATURE>");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}
