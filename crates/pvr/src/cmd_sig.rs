//! `pvr sig add|update|ls`: pvs@2 signatures over the committed state,
//! written into the working tree.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use pv_sign::{LsOptions, SigAddRequest, SignError, Signer, TrustSource};

use crate::cli::Ctx;
use crate::exit::Exit;

/// Flags of the `sig` command group.
#[derive(Debug, Args)]
pub struct SigArgs {
    /// Private key (PEM) to sign with.
    #[arg(long, short = 'k', env = "PVR_SIG_KEY")]
    key: Option<PathBuf>,
    /// Certificate chain (PEM, leaf first) for the x5c header; 'no' to omit.
    #[arg(long, short = 'x', env = "PVR_X5C_PATH")]
    x5c: Option<String>,
    /// Trust these public keys (PEM) instead of a CA pool.
    #[arg(long, short = 'p', env = "PVR_SIG_PUBKEY")]
    pubkey: Option<PathBuf>,
    /// CA certificates (PEM) that x5c chains must lead to.
    #[arg(long, short = 'c', env = "PVR_SIG_CACERTS")]
    cacerts: Option<String>,
    /// Keep the payload inside the signature file.
    #[arg(long, env = "PVS_SIG_WITH_PAYLOAD")]
    with_payload: bool,
    /// Also write the signature to FILE ('-' = stdout).
    #[arg(long, env = "PVS_SIG_OUTPUT")]
    output: Option<String>,
    #[command(subcommand)]
    cmd: SigCmd,
}

#[derive(Debug, Subcommand)]
enum SigCmd {
    /// Sign a part (a container or bsp) or a raw set of keys.
    #[command(alias = "a")]
    Add {
        #[arg(long)]
        part: Option<String>,
        #[arg(long)]
        raw: Option<String>,
        #[arg(long, short = 'i')]
        include: Vec<String>,
        #[arg(long, short = 'e')]
        exclude: Vec<String>,
        /// Do not cover _config/<part>.
        #[arg(long, short = 'n')]
        noconfig: bool,
    },
    /// Re-sign existing signatures with their own include/exclude rules.
    #[command(alias = "up")]
    Update { names: Vec<String> },
    /// Verify signatures of the committed state and list what they cover.
    Ls {
        names: Vec<String>,
        #[arg(long)]
        with_sigs: bool,
    },
}

fn sign_exit(e: SignError) -> Exit {
    Exit::code(e.exit_code(), e)
}

fn read_file(p: &Path, code: i32) -> Result<Vec<u8>, Exit> {
    std::fs::read(p)
        .map_err(|e| Exit::code(code, format!("ERROR: cannot read {}: {e}", p.display())))
}

fn signer(ctx: &Ctx, a: &SigArgs) -> Result<Signer, Exit> {
    let pvs = ctx.config_dir.join("pvs");
    let key = a.key.clone().unwrap_or_else(|| pvs.join("key.default.pem"));
    let key_pem = read_file(&key, 127)?;
    let x5c = match a.x5c.as_deref() {
        Some("no") => None,
        Some(p) => Some(read_file(Path::new(p), 127)?),
        None => std::fs::read(pvs.join("x5c.default.pem")).ok(),
    };
    Signer::from_pem(&key_pem, &key.to_string_lossy(), x5c.as_deref()).map_err(sign_exit)
}

fn write_sig(ctx: &Ctx, rel: &str, bytes: &[u8], output: Option<&str>) -> Result<(), Exit> {
    let repo = ctx.repo()?;
    let dest = pv_fs::safe_join(&repo.root, rel).map_err(|e| Exit::code(127, e))?;
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Exit::code(127, format!("{}: {e}", dir.display())))?;
    }
    pv_fs::write_atomic(&dest, bytes).map_err(|e| Exit::code(127, e))?;
    match output {
        Some("-") => {
            std::io::stdout().write_all(bytes)?;
        }
        Some(f) => pv_fs::write_atomic(ctx.cwd.join(f), bytes).map_err(|e| Exit::code(127, e))?,
        None => {}
    }
    Ok(())
}

pub fn run(ctx: &Ctx, a: SigArgs) -> Result<(), Exit> {
    let repo = ctx.repo()?;
    let state = repo.pristine()?;
    match &a.cmd {
        SigCmd::Add {
            part,
            raw,
            include,
            exclude,
            noconfig,
        } => {
            let req = SigAddRequest::from_flags(
                part.as_deref(),
                raw.as_deref(),
                include.clone(),
                exclude.clone(),
                *noconfig,
                a.with_payload,
            )
            .map_err(sign_exit)?;
            let signer = signer(ctx, &a)?;
            let signed = pv_sign::sig_add(&state, &req, &signer).map_err(sign_exit)?;
            write_sig(ctx, &signed.path, &signed.bytes, a.output.as_deref())
        }
        SigCmd::Update { names } => {
            let targets = pv_sign::update_targets(&state, names).map_err(sign_exit)?;
            let signer = signer(ctx, &a)?;
            for k in targets {
                eprint!("Updating pvs signature @ {k}");
                let path = pv_fs::safe_join(&repo.root, &k).map_err(|e| Exit::code(126, e))?;
                let existing = read_file(&path, 126)?;
                match pv_sign::sig_update(&state, &k, &existing, &signer, a.with_payload) {
                    Ok(signed) => {
                        eprintln!(" [DONE]");
                        write_sig(ctx, &signed.path, &signed.bytes, a.output.as_deref())?;
                    }
                    Err(e) => {
                        eprintln!(" [ERROR]");
                        return Err(Exit::code(126, e));
                    }
                }
            }
            Ok(())
        }
        SigCmd::Ls { names, with_sigs } => {
            let trust = match (&a.pubkey, a.cacerts.as_deref()) {
                (Some(p), _) => TrustSource::PublicKeysPem {
                    pem: read_file(p, 11)?,
                    source: p.to_string_lossy().into_owned(),
                },
                (None, Some("_system_")) => TrustSource::SystemPool,
                (None, Some(c)) => TrustSource::CaCertsPem {
                    pem: read_file(&ctx.cwd.join(c), 12)?,
                },
                (None, None) => {
                    let p = ctx.config_dir.join("pvs").join("cacerts.default.pem");
                    TrustSource::CaCertsPem {
                        pem: read_file(&p, 12)?,
                    }
                }
            };
            let opts = LsOptions {
                with_sigs: *with_sigs,
                with_payload: a.with_payload,
            };
            let root = repo.root.clone();
            let out = pv_sign::sig_ls(
                &state,
                names,
                &trust,
                opts,
                std::time::SystemTime::now(),
                |rel| {
                    let p = pv_fs::safe_join(&root, rel)
                        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                    std::fs::read(p)
                },
            )
            .map_err(sign_exit)?;
            for w in &out.warnings {
                eprintln!("{w}");
            }
            out!("{}", out.stdout);
            Ok(())
        }
    }
}
