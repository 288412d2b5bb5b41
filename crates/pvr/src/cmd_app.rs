//! `pvr app add|update|install|ls|info|rm`: containers from images or
//! rootfs trees, in the working tree.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use pv_app::{
    AppAddOptions, AppEnv, AppInstallOptions, AppReport, AppUpdateOptions, ProgressEvent,
    RegistryOptions,
};

use crate::cli::Ctx;
use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct AppArgs {
    #[command(subcommand)]
    cmd: AppCmd,
}

/// Where the image comes from and how to reach it.
#[derive(Debug, Args, Clone)]
struct SourceArgs {
    /// Source type: docker (images, default), rootfs, pvr.
    #[arg(long = "type", short = 't', env = "PVR_SOURCE_TYPE")]
    source_type: Option<String>,
    /// Source priority list (remote,local).
    #[arg(long, env = "PVR_SOURCE")]
    source: Option<String>,
    #[arg(long, short = 'u', env = "PVR_REGISTRY_USERNAME")]
    username: Option<String>,
    #[arg(long, short = 'p', env = "PVR_REGISTRY_PASSWORD")]
    password: Option<String>,
    /// Plain http / no TLS verification for registries.
    #[arg(long, env = "PVR_INSECURE")]
    insecure: bool,
}

impl SourceArgs {
    fn registry(&self) -> RegistryOptions {
        RegistryOptions {
            username: self.username.clone(),
            password: self.password.clone(),
            insecure: self.insecure,
        }
    }
    fn source_type(&self) -> Result<Option<pv_app::SourceType>, Exit> {
        self.source_type
            .as_deref()
            .map(|t| t.parse().map_err(|e| Exit::code(3, e)))
            .transpose()
    }
}

#[derive(Debug, Subcommand)]
enum AppCmd {
    /// Add a container from an image, an OCI layout, a docker-archive or a rootfs.
    #[command(alias = "a")]
    Add {
        #[arg(value_name = "NAME")]
        name: Option<String>,
        /// Image reference (registry or local path), rootfs directory or tarball.
        #[arg(long, env = "PVR_FROM")]
        from: Option<String>,
        #[command(flatten)]
        src: SourceArgs,
        #[arg(long, env = "PVR_PLATFORM")]
        platform: Option<String>,
        #[arg(long, env = "PVR_GROUP")]
        group: Option<String>,
        #[arg(long, env = "PVR_RUNLEVEL")]
        runlevel: Option<String>,
        #[arg(long, env = "PVR_RESTART_POLICY")]
        restart_policy: Option<String>,
        #[arg(long, env = "PVR_STATUS_GOAL")]
        status_goal: Option<String>,
        #[arg(long, env = "PVR_APP_ADD_BASE")]
        base: Option<String>,
        #[arg(long, env = "PVR_CONFIG_JSON")]
        config_json: Option<PathBuf>,
        /// Template argument K=V (repeatable).
        #[arg(long = "arg")]
        args: Vec<String>,
        /// PATH:PERSISTENCE[@DISK] (repeatable).
        #[arg(long = "volume")]
        volumes: Vec<String>,
        /// mksquashfs options (default "-comp xz").
        #[arg(long, short = 'o', env = "PVR_FORMAT_OPTIONS")]
        format_options: Option<String>,
    },
    /// Update a container from its source (or a new --from).
    #[command(alias = "up")]
    Update {
        #[arg(value_name = "NAME")]
        name: Option<String>,
        #[arg(long, env = "PVR_FROM")]
        from: Option<String>,
        #[command(flatten)]
        src: SourceArgs,
        #[arg(long, env = "PVR_PLATFORM")]
        platform: Option<String>,
        #[arg(long)]
        patch: bool,
        #[arg(long)]
        base: Option<String>,
        #[arg(long)]
        newbase: bool,
    },
    /// Re-render a container's files and rebuild stale squashfs images.
    Install {
        #[arg(value_name = "NAME")]
        name: Option<String>,
        #[command(flatten)]
        src: SourceArgs,
        #[arg(long)]
        base: Option<String>,
        #[arg(long)]
        runlevel: Option<String>,
    },
    /// List the containers of the working tree.
    Ls,
    /// Print a container's src.json.
    Info {
        #[arg(value_name = "NAME")]
        name: Option<String>,
    },
    /// Remove a container's directory from the working tree.
    Rm {
        #[arg(value_name = "NAME")]
        name: Option<String>,
    },
}

fn progress_fn(enabled: bool) -> impl Fn(ProgressEvent<'_>) {
    let bar = if enabled && std::io::stderr().is_terminal() {
        let pb = ProgressBar::new(0);
        pb.set_style(
            ProgressStyle::with_template(
                "{msg:>20} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        Some(pb)
    } else {
        None
    };
    move |ev| {
        let Some(pb) = &bar else { return };
        match ev {
            ProgressEvent::Step(s) => {
                pb.set_message(s.to_string());
            }
            ProgressEvent::Bytes { label, done, total } => {
                pb.set_message(label.to_string());
                pb.set_length(total.unwrap_or(done));
                pb.set_position(done);
            }
        }
    }
}

fn app_err(e: pv_app::AppError) -> Exit {
    Exit::code(e.exit_code(), format!("ERROR: {e}"))
}

fn print_report(r: &AppReport) {
    for m in &r.messages {
        eprintln!("{m}");
    }
    for w in &r.warnings {
        eprintln!("WARN: {w}");
    }
}

/// The application name, or the original's message (exit 2) without it.
fn app_name(name: Option<String>, missing: &str) -> Result<String, Exit> {
    name.ok_or_else(|| Exit::code(2, missing))
}

pub fn run(ctx: &Ctx, a: AppArgs, quiet: bool) -> Result<(), Exit> {
    let root = match ctx.repo() {
        Ok(r) => r.root,
        Err(_) => ctx.cwd.clone(),
    };
    let pristine = ctx
        .repo()
        .ok()
        .and_then(|r| r.pristine().ok())
        .unwrap_or_default();
    let cache = ctx.config_dir.join("cache");
    let progress = progress_fn(!quiet);
    let env = AppEnv {
        checkout: &root,
        pristine: &pristine,
        cache_dir: &cache,
        progress: &progress,
    };
    match a.cmd {
        AppCmd::Add {
            name,
            from,
            src,
            platform,
            group,
            runlevel,
            restart_policy,
            status_goal,
            base,
            config_json,
            args,
            volumes,
            format_options,
        } => {
            let name = app_name(name, "app-add needs application name argument. See --help")?;
            let opts = AppAddOptions {
                from,
                source_type: src.source_type()?,
                source: src.source.clone(),
                platform,
                registry: src.registry(),
                group,
                runlevel,
                restart_policy,
                status_goal,
                base,
                config_json,
                args,
                volumes,
                format_options,
            };
            let r = pv_app::app_add(&env, &name, &opts).map_err(app_err)?;
            print_report(&r);
            eprintln!("Application added");
        }
        AppCmd::Update {
            name,
            from,
            src,
            platform,
            patch,
            base,
            newbase,
        } => {
            let opts = AppUpdateOptions {
                from,
                source_type: src.source_type()?,
                source: src.source.clone(),
                platform,
                registry: src.registry(),
                patch,
                base,
                newbase,
            };
            let name = app_name(name, "app-update needs application argument. See --help")?;
            let r = pv_app::app_update(&env, &name, &opts).map_err(app_err)?;
            print_report(&r);
            eprintln!("Application updated");
        }
        AppCmd::Install {
            name,
            src,
            base,
            runlevel,
        } => {
            let opts = AppInstallOptions {
                source_type: src.source_type()?,
                source: src.source.clone(),
                registry: src.registry(),
                base,
                runlevel,
            };
            let name = app_name(name, "app-install needs application argument. See --help")?;
            let r = pv_app::app_install(&env, &name, &opts).map_err(app_err)?;
            print_report(&r);
        }
        AppCmd::Ls => {
            for n in pv_app::app_ls(&root).map_err(|e| Exit::code(1, format!("ERROR: {e}")))? {
                outln!("{n}");
            }
        }
        AppCmd::Info { name } => {
            let name = app_name(
                name,
                "'pvr app info' needs appname argument(eg:app info <appname>). See --help",
            )?;
            outln!(
                "{}",
                pv_app::app_info(&root, &name).map_err(|e| Exit::code(1, format!("ERROR: {e}")))?
            );
        }
        AppCmd::Rm { name } => {
            let name = app_name(
                name,
                "'pvr app rm' needs appname argument(eg:app rm <appname> ). See --help",
            )?;
            pv_app::app_rm(&root, &name).map_err(|e| Exit::code(1, format!("ERROR: {e}")))?;
        }
    }
    Ok(())
}
