//! The update state machine (spec §4.4-4.9): what to do at boot with a
//! pending try, and how a running update moves from INPROGRESS through
//! TESTING to UPDATED, DONE or a rollback.
//!
//! The decisions are pure functions here; `device` applies them.

use std::time::Instant;

use crate::progress::Progress;

/// Progress messages, byte-identical to the original.
pub mod msg {
    pub const READY_TO_RUN: &str = "Update ready to be run";
    pub const NOT_INSTALLED: &str = "Update not yet installed";
    pub const REBOOTING: &str = "Rebooting";
    pub const TRANSITIONING: &str = "Transitioning to new revision without rebooting";
    pub const TRYING: &str = "Trying new revision";
    pub const TESTING_REBOOT: &str = "Awaiting to set rollback point if update is stable";
    pub const TESTING_NONREBOOT: &str = "Awaiting to see if update is stable";
    pub const WAITING_STABLE: &str = "Waiting for all containers to become stable";
    pub const UPDATED: &str = "Update finished, revision not set as rollback point";
    pub const DONE: &str = "Update finished, revision set as rollback point";
    pub const FACTORY: &str = "Factory revision";
    pub const BAD_FORMAT: &str = "State JSON has bad format";
    pub const NOT_FOUND: &str = "State JSON not found";
    pub const INTERNAL: &str = "Internal error";
    pub const GOAL_NOT_REACHED: &str = "Status goal not reached";
    pub const CONTAINER_FAILED: &str = "A container could not be started";
    pub const UNEXPECTED_ROLLBACK: &str = "Unexpected rollback";
    pub const OBJECT_VALIDATION: &str = "Object validation went wrong";
}

/// How the device reached the revision being tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Booted as a try: on success it becomes the rollback point (DONE).
    Reboot,
    /// Switched without rebooting: on success UPDATED; the next boot tries it.
    NonReboot,
}

/// Where a running update is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    InProgress,
    Testing {
        commit_at: Instant,
        waiting_reported: bool,
    },
}

/// The update being tested on this boot.
#[derive(Debug, Clone)]
pub struct Update {
    pub rev: String,
    pub kind: Kind,
    pub phase: Phase,
}

impl Update {
    pub fn testing_message(&self) -> &'static str {
        match self.kind {
            Kind::Reboot => msg::TESTING_REBOOT,
            Kind::NonReboot => msg::TESTING_NONREBOOT,
        }
    }
}

/// What to do at boot about a pending try (spec §4.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// Nothing pending.
    Normal,
    /// The try is the booted revision: test it.
    Test(String),
    /// The try is booted but already failed: reboot (the boot env falls back).
    RollBack,
    /// A rolled-back boot: clear the try; mark it ERROR "Unexpected rollback"
    /// when it had not finished.
    ClearTry { rev: String, unexpected: bool },
}

/// Decide from the booted revision, the boot env's try and its progress.
pub fn resume(booted: &str, pv_try: Option<&str>, try_progress: Option<&Progress>) -> Resume {
    let Some(t) = pv_try.filter(|t| !t.is_empty()) else {
        return Resume::Normal;
    };
    let failed = try_progress.is_some_and(|p| matches!(p.status.as_str(), "ERROR" | "WONTGO"));
    let done = try_progress.is_some_and(|p| p.status == "DONE");
    if booted == t {
        if failed {
            Resume::RollBack
        } else if done {
            Resume::ClearTry {
                rev: t.to_string(),
                unexpected: false,
            }
        } else {
            Resume::Test(t.to_string())
        }
    } else {
        Resume::ClearTry {
            rev: t.to_string(),
            unexpected: !failed && !done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Progress {
        Progress::new(s, "")
    }

    #[test]
    fn resume_table() {
        assert_eq!(resume("5", None, None), Resume::Normal);
        assert_eq!(resume("5", Some(""), None), Resume::Normal);
        // trying the candidate
        assert_eq!(
            resume("6", Some("6"), Some(&p("INPROGRESS"))),
            Resume::Test("6".into())
        );
        assert_eq!(
            resume("6", Some("6"), Some(&p("UPDATED"))),
            Resume::Test("6".into())
        );
        assert_eq!(resume("6", Some("6"), None), Resume::Test("6".into()));
        assert_eq!(resume("6", Some("6"), Some(&p("ERROR"))), Resume::RollBack);
        assert_eq!(
            resume("6", Some("6"), Some(&p("DONE"))),
            Resume::ClearTry {
                rev: "6".into(),
                unexpected: false
            }
        );
        // the boot env fell back to pv_rev
        assert_eq!(
            resume("5", Some("6"), Some(&p("TESTING"))),
            Resume::ClearTry {
                rev: "6".into(),
                unexpected: true
            }
        );
        assert_eq!(
            resume("5", Some("6"), Some(&p("ERROR"))),
            Resume::ClearTry {
                rev: "6".into(),
                unexpected: false
            }
        );
        assert_eq!(
            resume("5", Some("6"), Some(&p("WONTGO"))),
            Resume::ClearTry {
                rev: "6".into(),
                unexpected: false
            }
        );
    }
}
