//! `pvr`: thin command line over `pvr-core`.

mod cli;
mod cmd_repo;
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
