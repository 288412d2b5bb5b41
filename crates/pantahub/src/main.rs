//! `pantahub`: the fleet hub server.
//!
//! ```text
//! pantahub serve --data DIR [--listen 127.0.0.1:12365] [--public-url URL] [--tls-cert F --tls-key F]
//!                [--database postgres://…] [--objects s3://bucket/prefix]
//!                (env PANTAHUB_JWT_TIMEOUT_SECS: token lifetime, default 3600)
//! pantahub user add --data DIR [--database URL] --nick N --email E --password P
//! pantahub user list --data DIR [--database URL]
//! pantahub token --data DIR [--database URL] --user NICK [--default-user-meta JSON]
//! pantahub cert --out DIR --host NAME…
//! ```
//!
//! `serve` answers the API and, at `/`, the web console (`ph-console`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use ph_server::{Hub, HubConfig};

#[derive(Parser)]
#[command(name = "pantahub", version, about = "The Pantahub fleet hub server")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the API.
    Serve {
        /// Where the database, objects and signing keys live.
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "127.0.0.1:12365")]
        listen: SocketAddr,
        /// Base of the absolute URLs handed out (default: from --listen and TLS).
        #[arg(long)]
        public_url: Option<String>,
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Object bytes an account may hold (default 2 GiB).
        #[arg(long)]
        objects_quota: Option<i64>,
        /// The database (`postgres://user@host/db`, `sqlite://file`) instead of DIR/pantahub.db.
        #[arg(long)]
        database: Option<String>,
        /// Where object bytes live instead of DIR/objects: `s3://bucket/prefix`,
        /// configured by the AWS_* environment (AWS_ENDPOINT_URL for a store other than AWS).
        #[arg(long)]
        objects: Option<String>,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// Create a device join token (Pantahub-Devices-Auto-Token-V1) for a user.
    Token {
        #[arg(long)]
        data: PathBuf,
        /// The database (`postgres://user@host/db`, `sqlite://file`) instead of DIR/pantahub.db.
        #[arg(long)]
        database: Option<String>,
        /// The user's nick.
        #[arg(long)]
        user: String,
        /// user-meta given to devices that join with the token (JSON object).
        #[arg(long)]
        default_user_meta: Option<String>,
    },
    /// Write a self-signed development certificate (cert.pem, key.pem).
    Cert {
        #[arg(long)]
        out: PathBuf,
        #[arg(long = "host", required = true, num_args = 1..)]
        hosts: Vec<String>,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create a verified account.
    Add {
        #[arg(long)]
        data: PathBuf,
        /// The database (`postgres://user@host/db`, `sqlite://file`) instead of DIR/pantahub.db.
        #[arg(long)]
        database: Option<String>,
        #[arg(long)]
        nick: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
    },
    /// List accounts.
    List {
        #[arg(long)]
        data: PathBuf,
        /// The database (`postgres://user@host/db`, `sqlite://file`) instead of DIR/pantahub.db.
        #[arg(long)]
        database: Option<String>,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().cmd {
        Cmd::Serve {
            data,
            listen,
            public_url,
            tls_cert,
            tls_key,
            objects_quota,
            database,
            objects,
        } => {
            let stores = Stores {
                data,
                database,
                objects,
            };
            serve(
                &stores,
                listen,
                public_url,
                tls_cert.zip(tls_key),
                objects_quota,
            )
            .await
        }
        Cmd::User {
            cmd:
                UserCmd::Add {
                    data,
                    database,
                    nick,
                    email,
                    password,
                },
        } => {
            let store = open_store(&data, database.as_deref()).await?;
            let a = ph_server::users::add_user(&store, &nick, &email, &password, true).await?;
            println!("{} {}", a.nick, a.prn);
            Ok(())
        }
        Cmd::User {
            cmd: UserCmd::List { data, database },
        } => {
            let store = open_store(&data, database.as_deref()).await?;
            for a in store.db.accounts().await? {
                let state = if a.challenge.is_empty() {
                    "verified"
                } else {
                    "unverified"
                };
                println!("{}\t{}\t{}\t{}", a.nick, a.email, a.prn, state);
            }
            Ok(())
        }
        Cmd::Token {
            data,
            database,
            user,
            default_user_meta,
        } => {
            let store = open_store(&data, database.as_deref()).await?;
            let a = store
                .db
                .account_by_nick(&user)
                .await?
                .with_context(|| format!("no user {user:?}"))?;
            let meta = match default_user_meta {
                Some(s) => match serde_json::from_str(&s).context("--default-user-meta")? {
                    serde_json::Value::Object(m) => m,
                    _ => bail!("--default-user-meta must be a JSON object"),
                },
                None => Default::default(),
            };
            let (_, token) = ph_server::users::add_join_token(&store, &a.prn, "", meta).await?;
            println!("{token}");
            Ok(())
        }
        Cmd::Cert { out, hosts } => cert(&out, hosts),
    }
}

/// Where a hub keeps its data.
struct Stores {
    data: PathBuf,
    database: Option<String>,
    objects: Option<String>,
}

async fn open_store(data: &Path, database: Option<&str>) -> Result<ph_store::Store> {
    ph_store::Store::open(data, database, None)
        .await
        .with_context(|| match database {
            Some(url) => format!("opening the database {}", redact(url)),
            None => format!("opening the hub in {}", data.display()),
        })
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

async fn serve(
    stores: &Stores,
    listen: SocketAddr,
    public_url: Option<String>,
    tls: Option<(PathBuf, PathBuf)>,
    quota: Option<i64>,
) -> Result<()> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = public_url.unwrap_or_else(|| format!("{scheme}://{listen}"));
    let mut cfg = HubConfig::new(&url);
    if let Some(q) = quota {
        cfg.objects_quota = q;
    }
    // token lifetime, as the original's PANTAHUB_JWT_TIMEOUT_MINUTES (in
    // seconds, so that tests can watch pvr refresh and renew tokens)
    if let Ok(v) = std::env::var("PANTAHUB_JWT_TIMEOUT_SECS") {
        cfg.token_secs =
            v.parse().ok().filter(|s: &i64| *s > 0).with_context(|| {
                format!("PANTAHUB_JWT_TIMEOUT_SECS={v:?}: not a number of seconds")
            })?;
    }
    let hub = Hub::open(
        &stores.data,
        stores.database.as_deref(),
        stores.objects.as_deref(),
        cfg,
    )
    .await
    .with_context(|| {
        format!(
            "opening the hub in {} (database {}, objects {})",
            stores.data.display(),
            stores
                .database
                .as_deref()
                .map(redact)
                .unwrap_or_else(|| "pantahub.db".into()),
            stores.objects.as_deref().unwrap_or("objects/")
        )
    })?;
    let tls = match tls {
        Some((c, k)) => Some(ph_server::tls_config(&c, &k)?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    tracing::info!("pantahub serving on {listen} ({scheme}), public URL {url}");
    // rollouts left half-advanced by a process that died (this one before
    // a restart, or another on the same database) are finished here
    let sweep_secs = match std::env::var("PH_ROLLOUT_SWEEP_SECS") {
        Ok(v) => v
            .parse()
            .ok()
            .filter(|s: &u64| *s > 0)
            .with_context(|| format!("PH_ROLLOUT_SWEEP_SECS={v:?}: not a number of seconds"))?,
        Err(_) => 30,
    };
    let sweeper = tokio::spawn(ph_server::rollouts::sweep(
        hub.clone(),
        std::time::Duration::from_secs(sweep_secs),
    ));
    let app = ph_server::app_with(hub.clone(), ph_console::router(hub));
    ph_server::serve(listener, app, tls, shutdown_signal()).await;
    sweeper.abort();
    tracing::info!("pantahub stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
}

fn cert(out: &Path, hosts: Vec<String>) -> Result<()> {
    let ck = rcgen::generate_simple_self_signed(hosts).context("generating the certificate")?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let cert = out.join("cert.pem");
    let key = out.join("key.pem");
    pv_fs::write_atomic(&cert, ck.cert.pem().as_bytes())
        .with_context(|| format!("writing {}", cert.display()))?;
    pv_fs::write_atomic(&key, ck.key_pair.serialize_pem().as_bytes())
        .with_context(|| format!("writing {}", key.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("chmod {}", key.display()))?;
    }
    println!("{}\n{}", cert.display(), key.display());
    Ok(())
}
