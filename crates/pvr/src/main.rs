//! `pvr`: thin command line over `pvr-core`.

/// Print to stdout; a closed pipe (e.g. `pvr json | head`) ends the
/// process quietly instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => { $crate::exit::write_stdout(format_args!($($arg)*), false) };
}
macro_rules! outln {
    ($($arg:tt)*) => { $crate::exit::write_stdout(format_args!($($arg)*), true) };
}

mod cli;
mod cmd_app;
mod cmd_hub;
mod cmd_remote;
mod cmd_repo;
mod cmd_rollout;
mod cmd_sig;
mod cmd_transfer;
mod exit;

use clap::Parser;

fn main() {
    // pvr spells the hard-link flag of checkout `-hl`
    let args = std::env::args().map(|a| {
        if a == "-hl" {
            "--hardlink".to_string()
        } else {
            a
        }
    });
    let cli = cli::Cli::parse_from(args);
    let code = match cli::run(cli) {
        Ok(()) => 0,
        Err(e) => e.report(),
    };
    std::process::exit(code);
}
