//! The three boot variables, the predicates the update engine uses, and a
//! model of the bootloader's choice at boot.

use crate::vars::{EnvVars, PV_REV, PV_TRY, PV_TRYING};

/// The revision booted when `pv_rev` is not set at all.
pub const FACTORY_REV: &str = "0";

/// `pv_rev`, `pv_try` and `pv_trying` as read from an env (empty values
/// count as unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootState {
    /// Last committed revision.
    pub pv_rev: Option<String>,
    /// Candidate revision.
    pub pv_try: Option<String>,
    /// The candidate that has already been attempted once.
    pub pv_trying: Option<String>,
}

impl BootState {
    /// Read the three variables from `vars`.
    pub fn from_vars(vars: &EnvVars) -> BootState {
        let get = |k| vars.get_nonempty(k).map(str::to_string);
        BootState {
            pv_rev: get(PV_REV),
            pv_try: get(PV_TRY),
            pv_trying: get(PV_TRYING),
        }
    }

    /// The committed revision, `"0"` when `pv_rev` is unset.
    pub fn committed(&self) -> &str {
        self.pv_rev.as_deref().unwrap_or(FACTORY_REV)
    }

    /// An update is in progress: `pv_try` is set.
    pub fn update_in_progress(&self) -> bool {
        self.pv_try.is_some()
    }

    /// The running revision is the one being tried: an update is in
    /// progress and `booted` equals `pv_try`.
    pub fn trying_update(&self, booted: &str) -> bool {
        self.pv_try.as_deref() == Some(booted)
    }
}

/// What the bootloader does at power on, as a pure function: returns the
/// revision to boot and the env it leaves behind.
///
/// - no `pv_try`: boot `pv_rev` (`"0"` if unset), env unchanged;
/// - `pv_try` set and `pv_trying` differs: record `pv_trying = pv_try`,
///   boot `pv_try`;
/// - `pv_try` set and equal to `pv_trying` (already attempted): clear
///   `pv_trying`, boot `pv_rev`. `pv_try` stays set on purpose: the
///   runtime, booted on the fallback, sees the failed try and clears it
///   with [`crate::BootEnv::fail`].
pub fn select_boot(vars: &EnvVars) -> (String, EnvVars) {
    let state = BootState::from_vars(vars);
    let mut next = vars.clone();
    let Some(try_rev) = state.pv_try.as_deref() else {
        return (state.committed().to_string(), next);
    };
    if state.pv_trying.as_deref() == Some(try_rev) {
        next.unset(PV_TRYING);
        (state.committed().to_string(), next)
    } else {
        next.set(PV_TRYING, try_rev);
        (try_rev.to_string(), next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> EnvVars {
        EnvVars::from_pairs(pairs.iter().copied())
    }

    type Pairs = &'static [(&'static str, &'static str)];

    #[test]
    fn select_boot_truth_table() {
        // (env before, booted, env after)
        let cases: [(Pairs, &str, Pairs); 7] = [
            (&[], "0", &[]),
            (&[("pv_rev", "3")], "3", &[("pv_rev", "3")]),
            (
                &[("pv_rev", "3"), ("pv_try", "")],
                "3",
                &[("pv_rev", "3"), ("pv_try", "")],
            ),
            (
                &[("pv_rev", "3"), ("pv_try", "4")],
                "4",
                &[("pv_rev", "3"), ("pv_try", "4"), ("pv_trying", "4")],
            ),
            (
                &[("pv_rev", "3"), ("pv_try", "4"), ("pv_trying", "4")],
                "3",
                &[("pv_rev", "3"), ("pv_try", "4")],
            ),
            (
                &[("pv_rev", "3"), ("pv_try", "5"), ("pv_trying", "4")],
                "5",
                &[("pv_rev", "3"), ("pv_try", "5"), ("pv_trying", "5")],
            ),
            (
                &[("pv_try", "1"), ("pv_trying", "1")],
                "0",
                &[("pv_try", "1")],
            ),
        ];
        for (before, booted, after) in cases {
            let (rev, next) = select_boot(&vars(before));
            assert_eq!(rev, booted, "{before:?}");
            assert_eq!(next, vars(after), "{before:?}");
        }
    }

    #[test]
    fn two_boots_after_install_try_then_fall_back() {
        let env = vars(&[("pv_rev", "3"), ("pv_try", "4")]);
        let (first, env) = select_boot(&env);
        let (second, env) = select_boot(&env);
        let (third, _) = select_boot(&env);
        assert_eq!(
            (first.as_str(), second.as_str(), third.as_str()),
            ("4", "3", "4")
        );
    }

    #[test]
    fn predicates() {
        let s = BootState::from_vars(&vars(&[("pv_rev", "3"), ("pv_try", "4")]));
        assert!(s.update_in_progress());
        assert!(s.trying_update("4"));
        assert!(!s.trying_update("3"));
        let s = BootState::from_vars(&vars(&[("pv_rev", "3"), ("pv_try", "")]));
        assert!(!s.update_in_progress() && !s.trying_update(""));
        assert_eq!(BootState::default().committed(), "0");
    }
}
