//! `pvflasher`: write a disk image to a removable device or a file.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "pvflasher",
    version,
    about = "Write Pantavisor disk images to devices"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write IMAGE (raw, .gz, .bz2, .xz) to TARGET (a block device or a file)
    Copy {
        image: PathBuf,
        target: PathBuf,
        /// Do not read the target back to compare
        #[arg(long)]
        no_verify: bool,
        /// No progress bar
        #[arg(long, short)]
        quiet: bool,
    },
    /// List removable block devices
    List,
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.cmd {
        Cmd::Copy {
            image,
            target,
            no_verify,
            quiet,
        } => {
            let t = Instant::now();
            match pv_flasher::flash(&image, &target, !no_verify, !quiet) {
                Ok(r) => {
                    println!(
                        "{} -> {}: {} bytes ({:?}), {} written, {} empty skipped, {}, {:.1} s",
                        image.display(),
                        target.display(),
                        r.bytes,
                        r.format,
                        r.written,
                        r.skipped,
                        if r.verified {
                            "verified"
                        } else {
                            "not verified"
                        },
                        t.elapsed().as_secs_f64()
                    );
                    0
                }
                Err(e) => {
                    eprintln!("pvflasher: {e}");
                    1
                }
            }
        }
        Cmd::List => {
            let l = pv_flasher::list_removable(std::path::Path::new("/sys/block"));
            if l.is_empty() {
                eprintln!("no removable block device");
            }
            for d in l {
                println!(
                    "{}\t{:.1} GB\t{}\t{}",
                    d.path.display(),
                    d.size as f64 / 1e9,
                    if d.model.is_empty() { "-" } else { &d.model },
                    d.in_use.map(|w| format!("in use {w}")).unwrap_or_default()
                );
            }
            0
        }
    };
    std::process::exit(code);
}
