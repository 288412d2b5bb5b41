//! pv-ctrl requests from an untrusted container: routing and body parsing
//! must never panic, errors must render as `{"Error":"..."}` JSON, and what
//! reaches the runtime must be well formed (no `.`/`..` names, step names
//! within limits).
#![no_main]
use libfuzzer_sys::fuzz_target;
use pv_ctrl::{Action, CommandFacts, CtrlReply, CtrlRequest};

const METHODS: [&str; 6] = ["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"];

fn no_dots(name: &str) -> bool {
    name.split('/').all(|s| s != "." && s != "..")
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
    match pv_ctrl::parse(method, &target, body) {
        Err(e) => {
            let body = e.body();
            assert!(body.starts_with("{\"Error\":\"") && body.ends_with("\"}"), "{body}");
            assert!((200..600).contains(&e.status()));
            let _ = pv_ctrl::render(CtrlReply::Error(e));
        }
        Ok(Action::SendObject { id }) => assert_eq!(id.to_hex().len(), 64),
        Ok(Action::ReceiveObject { .. }) => assert_eq!(method, "PUT"),
        Ok(Action::Forward(req)) => match req {
            CtrlRequest::PutStep { rev, .. } => {
                assert!(rev.starts_with("locals/") && rev.len() <= 7 + 64 && no_dots(&rev));
                assert_eq!(rev.matches('/').count(), 1);
            }
            CtrlRequest::GetStep { rev }
            | CtrlRequest::GetStepProgress { rev }
            | CtrlRequest::PutCommitMsg { rev, .. } => assert!(no_dots(&rev) && !rev.is_empty()),
            CtrlRequest::PutMeta { key, value, .. } => {
                assert!(no_dots(&key) && !value.is_empty() && value.len() <= 3 * 4096)
            }
            CtrlRequest::Command(cmd) => {
                let facts = CommandFacts {
                    remote_mode: sel & 1 != 0,
                    update_in_progress: sel & 2 != 0,
                    claimed: sel & 4 != 0,
                    control_remote: sel & 8 != 0,
                    debug_shell: sel & 16 != 0,
                    slot_busy: sel & 32 != 0,
                };
                let _ = cmd.admit(&facts);
            }
            _ => {}
        },
    }
});
