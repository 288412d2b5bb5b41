//! The answers that depend on device state, decided once: the runtime's
//! owner of state and the fake of `testing` (feature `testing`) call these functions
//! with their own facts, so the endpoint tests exercise the rules the
//! device applies, not a copy of them.
//!
//! What stays with the owner is only what it alone knows: which containers
//! exist and their restart policy, whether a container may go from its
//! current status to the one asked, whether it expects a `ready` signal,
//! the revisions in use, signature checks.

use pv_types::State;

use crate::{ApiError, Caller, Command, CommandFacts, ContainerAction, CtrlReply, Signal};

/// Why the owner could not carry out an admitted container action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionRefusal {
    /// The container went away.
    NotFound,
    /// Its restart policy is `system`.
    Protected,
    /// Its current status does not allow the action.
    WrongState,
}

/// `PUT /containers/<name>`: 404 for an unknown container (`policy` is
/// `None`), 403 unless its restart policy is `container`, the body's own
/// error, else whatever `act` makes of the action.
pub fn container_action(
    policy: Option<&str>,
    action: &Result<ContainerAction, ApiError>,
    act: impl FnOnce(ContainerAction) -> Result<(), ActionRefusal>,
) -> CtrlReply {
    let Some(policy) = policy else {
        return ApiError::container_not_found().into();
    };
    if policy != "container" {
        return ApiError::container_protected().into();
    }
    let a = match action {
        Ok(a) => *a,
        Err(e) => return e.clone().into(),
    };
    match act(a) {
        Ok(()) => CtrlReply::Ok,
        Err(ActionRefusal::NotFound) => ApiError::container_not_found().into(),
        Err(ActionRefusal::Protected) => ApiError::container_protected().into(),
        Err(ActionRefusal::WrongState) if a == ContainerAction::Restart => {
            ApiError::cannot_restart().into()
        }
        Err(ActionRefusal::WrongState) => ApiError::cannot_start().into(),
    }
}

/// `POST /signal`: only a container sends signals, only `ready` is one,
/// and only a container the owner expects it from (`ready` returns true
/// once it took it into account).
pub fn signal(caller: &Caller, s: &Signal, ready: impl FnOnce(&str) -> bool) -> CtrlReply {
    match (caller, &s.kind) {
        (Caller::Container { name, .. }, crate::SignalType::Ready) if ready(name) => CtrlReply::Ok,
        _ => ApiError::signal_not_expected().into(),
    }
}

/// `POST /commands`: admit `cmd` into the one-command `slot` (busy while
/// it holds one) under the owner's `facts`.
pub fn command(cmd: &Command, facts: CommandFacts, slot: &mut Option<Command>) -> CtrlReply {
    let facts = CommandFacts {
        slot_busy: slot.is_some(),
        ..facts
    };
    match cmd.admit(&facts) {
        Ok(()) => {
            *slot = Some(cmd.clone());
            CtrlReply::Ok
        }
        Err(e) => e.into(),
    }
}

/// Why a stored revision's name cannot take a new state.
pub const STEP_IN_USE: &str = "Cannot overwrite a revision in use";
/// The 422 of a state JSON that is not a well-formed state.
pub const STEP_BAD_FORMAT: &str = "Parser: State JSON has bad format";

/// `PUT /steps/locals/<name>`: a state the owner may store, before its
/// signature check; `in_use` when the name is a revision the device needs
/// (running, committed, tried).
pub fn step(json: &[u8], in_use: bool) -> Result<State, ApiError> {
    if in_use {
        return Err(ApiError::step_rejected(STEP_IN_USE));
    }
    let state = State::from_slice(json).map_err(|_| ApiError::step_rejected(STEP_BAD_FORMAT))?;
    state
        .validate_structure()
        .map_err(|_| ApiError::step_rejected(STEP_BAD_FORMAT))?;
    Ok(state)
}

/// The 422 of a state whose signatures the device refuses.
pub fn step_signature_refused(message: &str) -> ApiError {
    ApiError::step_rejected(format!("Secureboot: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SignalType;

    fn status(r: CtrlReply) -> u16 {
        match r {
            CtrlReply::Ok => 200,
            CtrlReply::Error(e) => e.status(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn container_actions_in_the_original_order() {
        let ok = |_| Ok(());
        let stop = Ok(ContainerAction::Stop);
        assert_eq!(status(container_action(None, &stop, ok)), 404);
        assert_eq!(status(container_action(Some("system"), &stop, ok)), 403);
        let bad = Err(ApiError::missing_action());
        assert_eq!(
            container_action(Some("container"), &bad, ok),
            CtrlReply::Error(ApiError::missing_action())
        );
        assert_eq!(status(container_action(Some("container"), &stop, ok)), 200);
        let refuse = |_| Err(ActionRefusal::WrongState);
        assert_eq!(
            container_action(Some("container"), &Ok(ContainerAction::Restart), refuse),
            CtrlReply::Error(ApiError::cannot_restart())
        );
        assert_eq!(
            container_action(Some("container"), &Ok(ContainerAction::Start), refuse),
            CtrlReply::Error(ApiError::cannot_start())
        );
    }

    #[test]
    fn only_an_expected_ready_from_a_container_is_a_signal() {
        let ready = Signal {
            kind: SignalType::Ready,
            payload: None,
        };
        let app = Caller::Container {
            name: "a".into(),
            mgmt: false,
        };
        assert_eq!(signal(&app, &ready, |n| n == "a"), CtrlReply::Ok);
        assert_eq!(status(signal(&app, &ready, |_| false)), 500);
        assert_eq!(status(signal(&Caller::Host, &ready, |_| true)), 500);
        let other = Signal {
            kind: SignalType::Other("x".into()),
            payload: None,
        };
        assert_eq!(status(signal(&app, &other, |_| true)), 500);
    }

    #[test]
    fn steps_in_use_or_malformed_are_refused() {
        let good = br##"{"#spec":"pantavisor-service-system@1"}"##;
        assert!(step(good, false).is_ok());
        assert_eq!(
            step(good, true).unwrap_err(),
            ApiError::step_rejected(STEP_IN_USE)
        );
        for bad in [
            &b"{"[..],
            b"[]",
            br##"{"#spec":"pantavisor-service-system@1","a/../b":{}}"##,
        ] {
            assert_eq!(
                step(bad, false).unwrap_err(),
                ApiError::step_rejected(STEP_BAD_FORMAT),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
