//! The command tree.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::exit::Exit;
use crate::{cmd_repo, cmd_transfer};

/// pvr: manage Pantavisor device states like a git repository.
#[derive(Debug, Parser)]
#[command(name = "pvr", version, about)]
pub struct Cli {
    /// Global config directory (object pool, caches, history).
    #[arg(long = "config-dir", env = "PVR_CONFIG_DIR", global = true)]
    pub config_dir: Option<PathBuf>,
    /// Never draw progress bars.
    #[arg(long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create an empty repository in the current directory.
    Init {
        /// Object pool directory (default: <config dir>/objects).
        #[arg(long, env = "PVR_OBJECTS_DIR")]
        objects: Option<PathBuf>,
        /// #spec of the new state.
        #[arg(long)]
        spec: Option<String>,
    },
    /// Stage new files (no argument or '.' = every file).
    Add {
        /// Store .json files as objects instead of inline JSON.
        #[arg(long, env = "PVR_ADD_RAW")]
        raw: bool,
        globs: Vec<String>,
    },
    /// Show added (A), deleted (D), changed (C) and untracked (?) files.
    Status {
        /// One JSON array of {"status","path"} objects.
        #[arg(long)]
        json: bool,
    },
    /// Print the merge patch from the committed to the working state.
    Diff { args: Vec<String> },
    /// Print the working state.
    Json {
        #[arg(long, short = 'c')]
        canonical: bool,
    },
    /// Commit the working tree.
    Commit {
        #[arg(short = 'm', long = "message", alias = "commit-msg")]
        message: Option<String>,
        /// Print what was committed as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Also record a checkpoint.json.
        #[arg(long)]
        checkpoint: bool,
    },
    /// Write the committed state (or an earlier commit) into the tree.
    #[command(aliases = ["reset", "co", "r"])]
    Checkout {
        /// Hard-link objects from the pool (read-only) instead of copying.
        #[arg(long)]
        hardlink: bool,
        /// Write inline JSON canonically.
        #[arg(long, short = 'c', env = "PVR_CANONICAL_JSON")]
        canonical: bool,
        /// An earlier commit: rev number, ~N, or state sha prefix (see `pvr log`).
        #[arg(long)]
        rev: Option<String>,
    },
    /// List the local history of commits.
    Log {
        #[arg(long)]
        json: bool,
    },
    /// Copy a repository (local directory or export) into a new checkout.
    Clone {
        reference: String,
        dir: Option<PathBuf>,
        #[arg(long)]
        objects: Option<PathBuf>,
        #[arg(long)]
        canonical: bool,
    },
    /// Replace the committed state (or some parts) with another repository's.
    Get { reference: Option<String> },
    /// Merge another repository's state (or some parts) into the committed state.
    Merge { reference: Option<String> },
    /// Print a state from a repository or export without changing anything.
    Inspect {
        reference: Option<String>,
        #[arg(long, short = 'c')]
        canonical: bool,
    },
    /// Write the committed state and its objects as a tarball.
    Export {
        /// Comma-separated parts to export.
        #[arg(long)]
        parts: Option<String>,
        /// Output file ('.tgz'/'.gz' = gzip), or '-' for a tar on stdout.
        file: String,
    },
    /// Make an export's state the committed state (objects verified).
    Import { file: PathBuf },
    /// Containers from images or rootfs trees.
    #[command(alias = "ap")]
    App(crate::cmd_app::AppArgs),
    /// Sign the committed state and verify signatures (pvs@2).
    #[command(alias = "s")]
    Sig(crate::cmd_sig::SigArgs),
    /// Lay out a state as a device trail with hard links.
    Deploy {
        dir: PathBuf,
        references: Vec<String>,
        #[arg(long)]
        nomerge: bool,
    },
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<(), Exit> {
    let ctx = Ctx {
        config_dir: cli
            .config_dir
            .clone()
            .unwrap_or_else(pvr_core::config::default_config_dir),
        progress: if cli.quiet {
            pvr_core::progress::Progress::quiet()
        } else {
            pvr_core::progress::Progress::auto()
        },
        cwd: std::env::current_dir()?,
    };
    match cli.cmd {
        Cmd::Init { objects, spec } => cmd_repo::init(&ctx, objects, spec),
        Cmd::Add { raw, globs } => cmd_repo::add(&ctx, raw, &globs),
        Cmd::Status { json } => cmd_repo::status(&ctx, json),
        Cmd::Diff { .. } => cmd_repo::diff(&ctx),
        Cmd::Json { canonical } => cmd_repo::json(&ctx, canonical),
        Cmd::Commit {
            message,
            checkpoint,
            json,
        } => cmd_repo::commit(&ctx, message, checkpoint, json),
        Cmd::Checkout {
            hardlink,
            canonical,
            rev,
        } => cmd_repo::checkout(&ctx, hardlink, canonical, rev),
        Cmd::Log { json } => cmd_repo::log(&ctx, json),
        Cmd::Clone {
            reference,
            dir,
            objects,
            canonical,
        } => cmd_transfer::clone(&ctx, &reference, dir, objects, canonical),
        Cmd::Get { reference } => cmd_transfer::get(&ctx, reference, false),
        Cmd::Merge { reference } => cmd_transfer::get(&ctx, reference, true),
        Cmd::Inspect {
            reference,
            canonical,
        } => cmd_transfer::inspect(&ctx, reference, canonical),
        Cmd::Export { parts, file } => cmd_transfer::export(&ctx, parts, &file),
        Cmd::Import { file } => cmd_transfer::import(&ctx, &file),
        Cmd::Sig(a) => crate::cmd_sig::run(&ctx, a),
        Cmd::App(a) => crate::cmd_app::run(&ctx, a, cli.quiet),
        Cmd::Deploy {
            dir,
            references,
            nomerge,
        } => cmd_transfer::deploy(&ctx, &dir, &references, nomerge),
    }
}

/// What every command needs.
pub struct Ctx {
    pub config_dir: PathBuf,
    pub progress: pvr_core::progress::Progress,
    pub cwd: PathBuf,
}

impl Ctx {
    pub fn repo(&self) -> Result<pvr_core::Repo, pvr_core::Error> {
        pvr_core::Repo::open(&self.cwd, &self.config_dir)
    }
}
