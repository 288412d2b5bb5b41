//! Commands that speak to a hub's fleet API: login, whoami, claim, device
//! listing and metadata, revisions in progress, logs.

use std::io::IsTerminal;

use clap::{Args, Subcommand};
use pv_json::pretty;
use pvr_core::hub::{self, LogFilter};
use pvr_core::remote::auth::{Credentials, FixedCredentials, NoCredentials};
use serde_json::Value;

use crate::cli::Ctx;
use crate::exit::Exit;

/// `pvr device …`
#[derive(Debug, Args)]
pub struct DeviceArgs {
    #[command(subcommand)]
    cmd: DeviceCmd,
}

#[derive(Debug, Subcommand)]
enum DeviceCmd {
    /// List your devices.
    #[command(alias = "list")]
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// Print a device (by id or nick).
    Get { device: String },
    /// Set user-meta (as a user) or device-meta (as a device) keys.
    #[command(alias = "set-meta")]
    Set {
        device: String,
        /// KEY=VALUE pairs.
        #[arg(required = true)]
        pairs: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Each device with its latest revision and that revision's progress.
    Ps {
        #[arg(long)]
        json: bool,
    },
    /// Device logs: [dev1,dev2][/source1,…][@LEVEL1,…][#platform1,…]
    Logs(LogsArgs),
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// [devices][/sources][@levels][#platforms]
    spec: Option<String>,
    /// Only these revisions (comma-separated).
    #[arg(long)]
    rev: Option<String>,
    #[arg(long)]
    source: Option<String>,
    #[arg(long)]
    level: Option<String>,
    #[arg(long)]
    platform: Option<String>,
    /// Entries received from this time on (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    from: Option<String>,
    /// Entries received before this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    to: Option<String>,
    /// The newest N entries.
    #[arg(long, default_value_t = 1000)]
    limit: usize,
    /// `short` (default) or `json` (one object per line).
    #[arg(long, default_value = "short")]
    template: String,
}

/// Credentials for logins the hub asks for: `--user`/`--password` (or
/// `PVR_USER`/`PVR_PASSWORD`), else a prompt on a terminal, else none.
pub fn credentials(user: Option<String>, password: Option<String>) -> Box<dyn Credentials> {
    match (user, password) {
        (Some(user), Some(password)) => Box::new(FixedCredentials { user, password }),
        (user, _) if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() => {
            Box::new(Prompt { user })
        }
        _ => Box::new(NoCredentials),
    }
}

/// Asks on the terminal (the password without echo).
struct Prompt {
    user: Option<String>,
}

impl Credentials for Prompt {
    fn ask(&self, auth_ep: &str, realm: &str, attempt: u32) -> Option<(String, String)> {
        let term = console::Term::stderr();
        if attempt > 1 {
            let _ = term.write_line("Login failed, try again.");
        }
        let _ = term.write_line(&format!("*** Login @ {auth_ep} (realm={realm}) ***"));
        let user = match &self.user {
            Some(u) => u.clone(),
            None => {
                let _ = term.write_str("Username: ");
                term.read_line().ok()?.trim().to_string()
            }
        };
        let _ = term.write_str("Password: ");
        let password = term.read_secure_line().ok()?;
        (!user.is_empty()).then_some((user, password))
    }
    fn attempts(&self) -> u32 {
        3
    }
}

fn print_json(v: &Value) {
    outln!("{}", pretty::to_string(v, pretty::PVR_JSON));
}

fn hub_base(ctx: &Ctx) -> Result<String, Exit> {
    let cache = ctx.token_cache();
    Ok(hub::hub_base(ctx.baseurl.as_deref(), &cache)?)
}

/// `pvr login [<hub-url>]`: log in (always asking the hub anew) and show
/// the token's claims.
pub fn login(ctx: &Ctx, url: Option<String>, json: bool) -> Result<(), Exit> {
    let url = match url {
        Some(u) => u,
        None => hub_base(ctx)?,
    };
    let status = hub::auth_status_url(&url)?;
    let claims = ctx.client.get_json(&status)?;
    if json {
        print_json(&claims);
        return Ok(());
    }
    outln!("Response of GET {status}");
    print_json(&claims);
    outln!("LoggedIn Successfully!");
    Ok(())
}

/// `pvr whoami`: `<nick>(<prn>) at <auth endpoint>` per cached login.
pub fn whoami(ctx: &Ctx, json: bool) -> Result<(), Exit> {
    let logins = hub::logins(&ctx.token_cache())?;
    if json {
        let v: Vec<Value> = logins
            .iter()
            .map(|l| {
                serde_json::json!({"auth-endpoint": l.auth_ep, "realm": l.realm,
                    "nick": l.nick, "prn": l.prn, "exp": l.exp})
            })
            .collect();
        print_json(&Value::Array(v));
        return Ok(());
    }
    if logins.is_empty() {
        return Err(Exit::code(1, "not logged in: see 'pvr login <hub-url>'"));
    }
    for l in logins {
        outln!("{}({}) at {}", l.nick, l.prn, l.auth_ep);
    }
    Ok(())
}

/// `pvr claim -c <challenge> <hub>/devices/<id>`.
pub fn claim(ctx: &Ctx, challenge: &str, url: &str, json: bool) -> Result<(), Exit> {
    let d = hub::claim(&ctx.client, url, challenge)?;
    if json {
        print_json(&d);
    } else {
        let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        outln!("Device {} ({}) claimed", s("id"), s("nick"));
    }
    Ok(())
}

pub fn device(ctx: &Ctx, a: DeviceArgs) -> Result<(), Exit> {
    let base = hub_base(ctx)?;
    let c = &ctx.client;
    match a.cmd {
        DeviceCmd::Ls { json } => {
            let head = ["ID", "NICK", "PUBLIC", "CREATED"];
            json_or_table(hub::devices(c, &base)?, json, &head, |d| {
                let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                let public = d.get("public").and_then(Value::as_bool).unwrap_or(false);
                vec![
                    s("id"),
                    s("nick"),
                    if public { "yes" } else { "no" }.to_string(),
                    s("time-created"),
                ]
            });
        }
        DeviceCmd::Get { device } => print_json(&hub::device(c, &base, &device)?),
        DeviceCmd::Set {
            device,
            pairs,
            json,
        } => {
            let pairs = hub::meta_pairs(&pairs)?;
            let kind = hub::meta_kind(c);
            hub::patch_meta(c, &base, &device, kind, &pairs)?;
            print_json(&Value::Object(pairs));
            if !json {
                outln!("{kind} field Updated Successfully");
            }
        }
        DeviceCmd::Ps { json } => ps(ctx, &base, json)?,
        DeviceCmd::Logs(l) => logs(ctx, &base, l)?,
    }
    Ok(())
}

/// `pvr ps` (and `pvr device ps`).
pub fn ps_cmd(ctx: &Ctx, json: bool) -> Result<(), Exit> {
    ps(ctx, &hub_base(ctx)?, json)
}

fn ps(ctx: &Ctx, base: &str, json: bool) -> Result<(), Exit> {
    let head = [
        "ID", "NICK", "REV", "STATUS", "PROGRESS", "STATE", "SEEN", "MESSAGE",
    ];
    json_or_table(hub::summaries(&ctx.client, base)?, json, &head, |d| {
        let s = |k: &str| match d.get(k) {
            Some(Value::String(t)) => t.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let id: String = s("deviceid").chars().take(8).collect();
        let sha: String = s("state-sha").chars().take(8).collect();
        vec![
            id,
            s("device-nick"),
            s("revision"),
            s("status"),
            format!("{}%", s("progress")),
            sha,
            seen(&s("progress-time")),
            s("status-msg"),
        ]
    });
    Ok(())
}

/// `2h ago` for an RFC 3339 time (empty for the epoch / unreadable).
fn seen(t: &str) -> String {
    let Ok(when) = chrono::DateTime::parse_from_rfc3339(t) else {
        return String::new();
    };
    if when.timestamp() <= 0 {
        return "never".into();
    }
    let secs = (chrono::Utc::now().timestamp() - when.timestamp()).max(0);
    match secs {
        0..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86400),
    }
}

/// The hub's list as pvr's JSON, or as a table of a row per item.
fn json_or_table(list: Vec<Value>, json: bool, head: &[&str], row: impl Fn(&Value) -> Vec<String>) {
    if json {
        print_json(&Value::Array(list));
    } else {
        table(head, list.iter().map(row).collect());
    }
}

fn table(head: &[&str], rows: Vec<Vec<String>>) {
    let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let last = cells.len() - 1;
        let mut out = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            if i == last {
                out.push_str(&c);
            } else {
                out.push_str(&format!("{c:<width$}  ", width = w[i]));
            }
        }
        outln!("{}", out.trim_end());
    };
    line(head.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(r);
    }
}

fn time_bound(t: &str) -> Result<String, Exit> {
    if chrono::DateTime::parse_from_rfc3339(t).is_ok() {
        return Ok(t.to_string());
    }
    if chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").is_ok() {
        return Ok(format!("{t}T00:00:00Z"));
    }
    Err(Exit::code(
        2,
        format!("not a time: {t:?} (RFC 3339 or YYYY-MM-DD)"),
    ))
}

fn logs(ctx: &Ctx, base: &str, a: LogsArgs) -> Result<(), Exit> {
    let mut f = LogFilter::default();
    if let Some(s) = &a.spec {
        f.parse_spec(s);
    }
    let list = |o: &Option<String>| -> Vec<String> {
        o.as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect()
    };
    f.sources.extend(list(&a.source));
    f.levels.extend(list(&a.level));
    f.platforms.extend(list(&a.platform));
    f.revs.extend(list(&a.rev));
    f.after = a.from.as_deref().map(time_bound).transpose()?;
    f.before = a.to.as_deref().map(time_bound).transpose()?;
    let entries = hub::logs(&ctx.client, base, &f, a.limit)?;
    match a.template.as_str() {
        "json" => {
            for e in entries {
                outln!("{}", pv_json::to_canonical_string(&e));
            }
        }
        "short" => {
            for e in entries {
                outln!("{}", hub::log_line(&e));
            }
        }
        other => {
            return Err(Exit::code(
                2,
                format!("unknown --template {other:?}: short or json"),
            ))
        }
    }
    Ok(())
}
