//! Named fault points for crash tests: with `PH_FAULT=<name>` in its
//! environment, the process exits at once (status 86, nothing flushed or
//! rolled forward) when it reaches the point of that name, as if it had
//! been killed there.

/// The exit status of a process stopped at a fault point.
pub const FAULT_EXIT: i32 = 86;

/// Exit here if `PH_FAULT` names this point.
pub fn point(name: &str) {
    if std::env::var("PH_FAULT").is_ok_and(|v| v == name) {
        eprintln!("fault point {name}: exiting");
        std::process::exit(FAULT_EXIT);
    }
}
