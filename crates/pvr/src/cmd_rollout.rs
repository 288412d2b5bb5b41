//! `pvr rollout …`: the committed state to many devices in waves, through
//! the hub's `/rollouts`.

use clap::{Args, Subcommand};
use pv_json::pretty;
use pvr_core::hub::{self, NewRollout};
use serde_json::Value;

use crate::cli::Ctx;
use crate::exit::{Exit, WithCode};

#[derive(Debug, Args)]
pub struct RolloutArgs {
    #[command(subcommand)]
    cmd: RolloutCmd,
}

#[derive(Debug, Subcommand)]
enum RolloutCmd {
    /// Roll the committed state out to devices in waves.
    Create {
        #[arg(short = 'm', long = "commit-msg", default_value = "")]
        message: String,
        /// Device ids, comma-separated (else --selector).
        #[arg(long, value_delimiter = ',')]
        devices: Vec<String>,
        /// user-meta KEY=VALUE pairs every selected device has.
        #[arg(long, value_delimiter = ',')]
        selector: Vec<String>,
        /// Devices per wave, comma-separated (e.g. 1,1,1).
        #[arg(long, value_delimiter = ',')]
        waves: Vec<u64>,
        /// Percent of the devices per wave (e.g. 10,40,50).
        #[arg(long, value_delimiter = ',', conflicts_with = "waves")]
        wave_percent: Vec<f64>,
        /// Share (0..1) of failed devices in a wave that pauses the rollout.
        #[arg(long, default_value_t = 0.0)]
        failure_threshold: f64,
        #[arg(long)]
        json: bool,
    },
    /// List your rollouts.
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// Show a rollout and its waves.
    Get {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Stop starting new waves.
    Pause {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Continue a paused rollout.
    Resume {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// End a rollout; revisions not yet picked up are cancelled.
    Abort {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(ctx: &Ctx, a: RolloutArgs) -> Result<(), Exit> {
    let base = hub::hub_base(ctx.baseurl.as_deref(), &ctx.token_cache())?;
    let c = &ctx.client;
    let (v, json) = match a.cmd {
        RolloutCmd::Create {
            message,
            devices,
            selector,
            waves,
            wave_percent,
            failure_threshold,
            json,
        } => {
            if devices.is_empty() == selector.is_empty() {
                return Err(Exit::code(2, "give either --devices or --selector"));
            }
            let repo = ctx.repo().code(3)?;
            let r = NewRollout {
                commit_msg: message,
                devices,
                selector: hub::meta_pairs(&selector)?,
                waves,
                wave_percent,
                failure_threshold,
            };
            let log = |l: &str| eprintln!("{l}");
            let (up, v) = hub::create_rollout(c, &base, &repo, &r, &log, &ctx.progress)?;
            eprintln!(
                "Uploaded {} objects ({} bytes); {} already on the hub",
                up.uploaded.len(),
                up.bytes,
                up.present
            );
            (v, json)
        }
        RolloutCmd::Ls { json } => {
            let list = hub::rollouts(c, &base)?;
            if json {
                outln!(
                    "{}",
                    pretty::to_string(&Value::Array(list), pretty::PVR_JSON)
                );
                return Ok(());
            }
            outln!("ID                        STATUS    WAVES  DONE  FAILED  REASON");
            for r in &list {
                let (waves, done, failed) = totals(r);
                outln!(
                    "{:<24}  {:<8}  {:<5}  {:<4}  {:<6}  {}",
                    s(r, "id"),
                    s(r, "status"),
                    waves,
                    done,
                    failed,
                    s(r, "reason")
                );
            }
            return Ok(());
        }
        RolloutCmd::Get { id, json } => (hub::rollout(c, &base, &id)?, json),
        RolloutCmd::Pause { id, json } => (hub::rollout_action(c, &base, &id, "pause")?, json),
        RolloutCmd::Resume { id, json } => (hub::rollout_action(c, &base, &id, "resume")?, json),
        RolloutCmd::Abort { id, json } => (hub::rollout_action(c, &base, &id, "abort")?, json),
    };
    if json {
        outln!("{}", pretty::to_string(&v, pretty::PVR_JSON));
    } else {
        show(&v);
    }
    Ok(())
}

fn s(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn totals(r: &Value) -> (usize, u64, u64) {
    let waves = r.get("waves").and_then(Value::as_array);
    let sum = |k: &str| {
        waves
            .map(|w| w.iter().filter_map(|x| x.get(k)?.as_u64()).sum())
            .unwrap_or(0)
    };
    (waves.map_or(0, Vec::len), sum("done"), sum("failed"))
}

/// `Rollout <id>: <status> (<reason>)` and one line per wave.
fn show(r: &Value) {
    let reason = s(r, "reason");
    if reason.is_empty() {
        outln!("Rollout {}: {}", s(r, "id"), s(r, "status"));
    } else {
        outln!("Rollout {}: {} ({reason})", s(r, "id"), s(r, "status"));
    }
    let waves = r.get("waves").and_then(Value::as_array).cloned();
    for (i, w) in waves.unwrap_or_default().iter().enumerate() {
        let devices: Vec<String> = w
            .get("devices")
            .and_then(Value::as_array)
            .map(|d| {
                d.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        outln!(
            "  wave {}: {:<8} done {} failed {} pending {}  {}",
            i + 1,
            s(w, "status"),
            s(w, "done"),
            s(w, "failed"),
            s(w, "pending"),
            devices.join(",")
        );
    }
}
