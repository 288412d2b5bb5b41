//! The command tree.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::exit::Exit;
use crate::{cmd_remote, cmd_repo, cmd_transfer};

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
    /// Bearer token for http(s) remotes (also $PVR_ACCESSTOKEN).
    #[arg(
        long = "access-token",
        short = 'a',
        env = "PVR_AUTH",
        global = true,
        hide_env_values = true
    )]
    pub access_token: Option<String>,
    /// Hub API base for login and fleet commands (default: the hub you
    /// logged in to).
    #[arg(long, env = "PVR_BASEURL", global = true)]
    pub baseurl: Option<String>,
    /// Username for logins the hub asks for (scripts; else a prompt).
    #[arg(long, env = "PVR_USER", global = true)]
    pub user: Option<String>,
    /// Password for logins the hub asks for.
    #[arg(long, env = "PVR_PASSWORD", global = true, hide_env_values = true)]
    pub password: Option<String>,
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
    /// Copy a repository (directory, export, http(s) remote or device IP)
    /// into a new checkout.
    Clone {
        /// <repository> [directory]
        #[arg(value_name = "ARGS")]
        args: Vec<String>,
        #[arg(long)]
        objects: Option<PathBuf>,
        #[arg(long)]
        canonical: bool,
    },
    /// Replace the committed state (or some parts) with another repository's.
    Get {
        /// [<repository>[#<part>,…]]
        #[arg(value_name = "REPOSITORY")]
        args: Vec<String>,
    },
    /// Merge another repository's state (or some parts) into the committed state.
    Merge {
        /// [<repository>[#<part>,…]]
        #[arg(value_name = "REPOSITORY")]
        args: Vec<String>,
    },
    /// Print a state from a repository or export without changing anything.
    Inspect {
        /// [<repository>[#<part>,…]]
        #[arg(value_name = "REPOSITORY")]
        args: Vec<String>,
        #[arg(long, short = 'c')]
        canonical: bool,
    },
    /// Upload the committed state's missing objects to a remote and post
    /// the state as a new revision.
    Post {
        /// Remote URL or device IP (default: the saved post, else get, URL).
        #[arg(value_name = "URL")]
        args: Vec<String>,
        /// Commit message (default: the last commit's).
        #[arg(short = 'm', long = "commit-msg")]
        commit_msg: Option<String>,
        /// JSON object the posted body starts from.
        #[arg(long)]
        envelope: Option<String>,
        /// Revision to post (-1 = next).
        #[arg(long, allow_hyphen_values = true)]
        rev: Option<i64>,
        /// Upload objects the remote already has (except links).
        #[arg(long)]
        force: bool,
        /// Ask a device to store the revision without running it.
        #[arg(long = "no-run")]
        no_run: bool,
        /// Print the remote's answer (the new step) as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Upload every object of the committed state to an objects endpoint.
    Putobjects {
        /// <objects-endpoint>
        #[arg(value_name = "ENDPOINT")]
        args: Vec<String>,
        #[arg(long)]
        force: bool,
    },
    /// Print a remote's .pvrremote document.
    Remoteinfo {
        /// [<remote-repository-ref>]
        #[arg(value_name = "REFERENCE")]
        args: Vec<String>,
    },
    /// Write the committed state and its objects as a tarball.
    Export {
        /// Comma-separated parts to export.
        #[arg(long)]
        parts: Option<String>,
        /// Output file ('.tgz'/'.gz' = gzip), or '-' for a tar on stdout.
        #[arg(value_name = "FILE")]
        args: Vec<String>,
    },
    /// Make an export's state the committed state (objects verified).
    Import {
        /// <repo-tarball>
        #[arg(value_name = "FILE")]
        args: Vec<String>,
    },
    /// Containers from images or rootfs trees.
    #[command(alias = "ap")]
    App(crate::cmd_app::AppArgs),
    /// Sign the committed state and verify signatures (pvs@2).
    #[command(alias = "s")]
    Sig(crate::cmd_sig::SigArgs),
    /// Log in to a hub (asks for credentials) and show the token's claims.
    Login {
        /// Hub URL (`https://hub`, or its auth endpoint `https://hub/auth`).
        #[arg(value_name = "HUB-URL")]
        url: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show who you are logged in as, per hub.
    Whoami {
        #[arg(long)]
        json: bool,
    },
    /// Claim a device with the challenge it shows.
    Claim {
        #[arg(short = 'c', long = "challenge", required = true)]
        challenge: String,
        /// <hub>/devices/<device-id>
        #[arg(value_name = "DEVICE-URL")]
        url: String,
        #[arg(long)]
        json: bool,
    },
    /// Devices on the hub: ls, get, set, ps, logs.
    Device(crate::cmd_hub::DeviceArgs),
    /// Each device with its latest revision and progress (as `device ps`).
    Ps {
        #[arg(long)]
        json: bool,
    },
    /// Staged rollouts of the committed state over many devices.
    Rollout(crate::cmd_rollout::RolloutArgs),
    /// Lay out a state as a device trail with hard links.
    Deploy {
        /// <deploy-dir> [<repository>[#<part>,…] …]
        #[arg(value_name = "ARGS")]
        args: Vec<String>,
        #[arg(long)]
        nomerge: bool,
    },
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<(), Exit> {
    let config_dir = cli
        .config_dir
        .clone()
        .unwrap_or_else(pvr_core::config::default_config_dir);
    let session = pvr_core::remote::Session::new(
        pvr_core::remote::auth::TokenCache::new(&config_dir),
        crate::cmd_hub::credentials(cli.user.clone(), cli.password.clone()),
        matches!(cli.cmd, Cmd::Login { .. }),
    )
    .with_anonymous_reads(matches!(
        cli.cmd,
        Cmd::Clone { .. } | Cmd::Get { .. } | Cmd::Merge { .. } | Cmd::Inspect { .. }
    ));
    let ctx = Ctx {
        config_dir,
        progress: if cli.quiet {
            pvr_core::progress::Progress::quiet()
        } else {
            pvr_core::progress::Progress::auto()
        },
        cwd: std::env::current_dir()?,
        client: pvr_core::remote::Client::with_session(
            cli.access_token
                .clone()
                .or_else(|| std::env::var("PVR_ACCESSTOKEN").ok()),
            session,
        ),
        baseurl: cli.baseurl.clone(),
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
            args,
            objects,
            canonical,
        } => {
            let Some(reference) = args.first().cloned() else {
                return Err(Exit::code(
                    2,
                    "clone needs need repository argument. See --help",
                ));
            };
            let dir = args.get(1).map(PathBuf::from);
            if args.len() > 2 {
                return Err(Exit::code(
                    2,
                    "clone can have at most 2 arguments. See --help",
                ));
            }
            cmd_transfer::clone(&ctx, &reference, dir, objects, canonical)
        }
        Cmd::Get { args } => {
            let r = at_most_one(args, "Get can have at most 1 argument. See --help.")?;
            cmd_transfer::get(&ctx, r, false)
        }
        Cmd::Merge { args } => {
            let r = at_most_one(args, "Merge can have at most 1 argument. See --help.")?;
            cmd_transfer::get(&ctx, r, true)
        }
        Cmd::Inspect { args, canonical } => {
            // the original's inspect reuses get's message
            let r = at_most_one(args, "Get can have at most 1 argument. See --help.")?;
            cmd_transfer::inspect(&ctx, r, canonical)
        }
        Cmd::Post {
            args,
            commit_msg,
            envelope,
            rev,
            force,
            no_run,
            json,
        } => cmd_remote::post(
            &ctx,
            pvr_core::remote::post::PostOptions {
                url: at_most_one(args, "post can have at most 1 argument. See --help.")?,
                commit_msg,
                envelope,
                rev,
                force,
                run: !no_run,
                progress: ctx.progress,
            },
            json,
        ),
        Cmd::Login { url, json } => crate::cmd_hub::login(&ctx, url, json),
        Cmd::Whoami { json } => crate::cmd_hub::whoami(&ctx, json),
        Cmd::Claim {
            challenge,
            url,
            json,
        } => crate::cmd_hub::claim(&ctx, &challenge, &url, json),
        Cmd::Device(a) => crate::cmd_hub::device(&ctx, a),
        Cmd::Rollout(a) => crate::cmd_rollout::run(&ctx, a),
        Cmd::Ps { json } => crate::cmd_hub::ps_cmd(&ctx, json),
        Cmd::Putobjects { args, force } => {
            let [endpoint] = <[String; 1]>::try_from(args)
                .map_err(|_| Exit::code(2, "Push requires exactly 1 argument. See --help."))?;
            cmd_remote::putobjects(&ctx, &endpoint, force)
        }
        Cmd::Remoteinfo { args } => {
            // the original's remoteinfo reuses get's message
            let r = at_most_one(args, "Get can have at most 1 argument. See --help.")?;
            cmd_remote::remoteinfo(&ctx, r)
        }
        Cmd::Export { parts, args } => {
            let file = exactly_one(
                args,
                "export can have at most 1 argument. See --help",
                "export-file name is required. See --help",
            )?;
            cmd_transfer::export(&ctx, parts, &file)
        }
        Cmd::Import { args } => {
            let file = exactly_one(
                args,
                "import can have at most 1 argument. See --help",
                "repo-tarball name is required. See --help",
            )?;
            cmd_transfer::import(&ctx, std::path::Path::new(&file))
        }
        Cmd::Sig(a) => crate::cmd_sig::run(&ctx, a),
        Cmd::App(a) => crate::cmd_app::run(&ctx, a, cli.quiet),
        Cmd::Deploy { args, nomerge } => {
            let Some((dir, references)) = args.split_first() else {
                return Err(Exit::code(
                    101,
                    "Deploy needs at least 1 argument. See --help.",
                ));
            };
            cmd_transfer::deploy(&ctx, std::path::Path::new(dir), references, nomerge)
        }
    }
}

/// An error the original reports unwrapped: `ERROR: <msg>`, exit 1.
fn plain_error(msg: &str) -> Exit {
    Exit {
        code: 1,
        message: msg.to_string(),
        prefixed: true,
    }
}

/// An optional single argument; more is `too_many` (the original's text).
fn at_most_one(args: Vec<String>, too_many: &str) -> Result<Option<String>, Exit> {
    if args.len() > 1 {
        return Err(plain_error(too_many));
    }
    Ok(args.into_iter().next())
}

/// A required single argument, with the original's texts for each mistake.
fn exactly_one(args: Vec<String>, too_many: &str, missing: &str) -> Result<String, Exit> {
    at_most_one(args, too_many)?.ok_or_else(|| plain_error(missing))
}

/// What every command needs.
pub struct Ctx {
    pub config_dir: PathBuf,
    pub progress: pvr_core::progress::Progress,
    pub cwd: PathBuf,
    /// For http(s) remotes, with the user's token.
    pub client: pvr_core::remote::Client,
    /// `--baseurl`: the hub of fleet commands.
    pub baseurl: Option<String>,
}

impl Ctx {
    /// A reference as typed, with the shorthands expanded: a device IP,
    /// and `<user-nick>/<device-nick>` on the hub (`--baseurl`, else the
    /// one hub logged in to) when no such local path exists.
    pub fn reference(&self, r: &str) -> String {
        let e = pvr_core::remote::expand_reference(r, &self.cwd);
        if e != r {
            return e;
        }
        let (loc, frag) = r.split_once('#').map_or((r, None), |(l, f)| (l, Some(f)));
        match pvr_core::hub::nick_reference(loc, &self.cwd).and_then(|p| {
            Some((
                p,
                pvr_core::hub::hub_base(self.baseurl.as_deref(), &self.token_cache()).ok()?,
            ))
        }) {
            Some((path, hub)) => match frag {
                Some(f) => format!("{hub}/{path}#{f}"),
                None => format!("{hub}/{path}"),
            },
            None => e,
        }
    }

    /// The token cache (`auth.json`) of the config directory.
    pub fn token_cache(&self) -> pvr_core::remote::auth::TokenCache {
        pvr_core::remote::auth::TokenCache::new(&self.config_dir)
    }

    pub fn repo(&self) -> Result<pvr_core::Repo, pvr_core::Error> {
        pvr_core::Repo::open(&self.cwd, &self.config_dir)
    }
}
