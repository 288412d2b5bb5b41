//! Requests from the network to the LAN endpoint: routing, envelopes and
//! signed-URL queries must never panic; routed revisions and object ids
//! must be plain (no `.`/`..`, no extra `/`), and a state accepted from an
//! envelope must be canonical JSON that parses back to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pv_lan::Route;

const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

fn plain_rev(rev: &str) -> bool {
    match rev.strip_prefix("locals/") {
        Some(name) => !name.contains('/') && name != "." && name != ".." && !name.is_empty(),
        None => rev == "current" || rev.bytes().all(|b| b.is_ascii_digit()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let method = METHODS[sel as usize % METHODS.len()];
    let (target, body) = match rest.iter().position(|b| *b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let target = String::from_utf8_lossy(target);
    match pv_lan::route(method, &target) {
        Ok(Route::Remote { rev } | Route::State { rev } | Route::Progress { rev }) => {
            assert!(plain_rev(&rev), "{rev}")
        }
        Ok(Route::ObjectInfo { sha } | Route::BlobGet { sha, .. } | Route::BlobPut { sha, .. }) => {
            assert_eq!(sha.len(), 64)
        }
        _ => {}
    }
    if let Ok(env) = pv_lan::parse_envelope(body) {
        let v = pv_json::parse(&env.state).expect("canonical state parses");
        assert_eq!(pv_json::to_canonical(&v), env.state);
        assert_eq!(env.local_name().len(), 20);
    }
    let token = pv_lan::Token::new("fuzz-token-0123456789").unwrap();
    let q = String::from_utf8_lossy(body);
    let _ = token.verify(method, &target, &q, 1000);
});
