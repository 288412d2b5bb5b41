//! Staged rollouts: how devices are split into waves, how a wave's
//! progress is read from the steps posted to its devices, and how a
//! rollout moves on.
//!
//! ```text
//!  POST /rollouts ──▶ plan() ──▶ store ──▶ advance() ─┐
//!  final progress PUT (DONE/UPDATED/ERROR/WONTGO) ────┤  read record + step statuses
//!  resume, GET /rollouts/<id> ─────────────────────────┤  decide() (pure)
//!                                                      └▶ compare-and-swap write
//!                                                         (then post the wave's steps)
//! ```
//!
//! Several hub processes may share one database: whichever sees the event
//! advances the rollout, and the version-checked update
//! ([`ph_store::Db::update_rollout`]) lets exactly one of them claim a
//! wave before its steps are posted.

use std::collections::HashMap;

use ph_store::{NewStep, Rollout, RolloutStep};
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::routes::trails::{progress_of, state_sha};
use crate::util::rfc3339;
use crate::AppState;

/// Step statuses that complete a device's part.
pub const DONE: &[&str] = &["DONE", "UPDATED"];
/// Step statuses that count as a failed device (a cancelled step never runs).
pub const FAILED: &[&str] = &["ERROR", "WONTGO", "CANCEL"];

/// One wave as stored in the rollout's `waves` column.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Wave {
    pub devices: Vec<String>,
    #[serde(default)]
    pub started: bool,
    /// Failures the owner accepted by resuming after a pause.
    #[serde(default)]
    pub tolerated: usize,
}

/// How many devices of a wave are where.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub done: usize,
    pub failed: usize,
    pub pending: usize,
}

/// Split `n` devices into wave sizes: explicit counts (they must add up
/// to `n`), percents (cumulative, rounded up, so a small first wave still
/// gets a device; empty waves are dropped), or one wave.
pub fn plan(
    n: usize,
    counts: Option<&[u64]>,
    percents: Option<&[f64]>,
) -> Result<Vec<usize>, String> {
    match (counts, percents) {
        (Some(_), Some(_)) => Err("give either waves or wave-percent, not both".into()),
        (Some(c), None) => {
            if c.is_empty() || c.contains(&0) {
                return Err("waves are counts of at least one device".into());
            }
            let sum: u64 = c.iter().sum();
            if sum != n as u64 {
                return Err(format!("waves cover {sum} devices but {n} were selected"));
            }
            Ok(c.iter().map(|&x| x as usize).collect())
        }
        (None, Some(p)) => {
            if p.is_empty() || p.iter().any(|x| !x.is_finite() || *x <= 0.0) {
                return Err("wave-percent values are positive numbers".into());
            }
            let sum: f64 = p.iter().sum();
            if (sum - 100.0).abs() > 1e-6 {
                return Err(format!("wave-percent adds up to {sum}, not 100"));
            }
            let mut out = vec![];
            let (mut cum, mut prev) = (0.0, 0usize);
            for (i, x) in p.iter().enumerate() {
                cum += x;
                let end = if i + 1 == p.len() {
                    n
                } else {
                    ((n as f64 * cum / 100.0 - 1e-9).ceil() as usize).min(n)
                };
                if end > prev {
                    out.push(end - prev);
                    prev = end;
                }
            }
            Ok(out)
        }
        (None, None) => Ok(vec![n]),
    }
}

/// Where the devices of a wave are, from the steps posted to them.
pub fn counts(w: &Wave, steps: &HashMap<String, RolloutStep>) -> Counts {
    let mut c = Counts::default();
    for d in &w.devices {
        let st = steps.get(d);
        let status = st.and_then(|s| s.status.as_deref());
        let gone = st.and_then(|s| s.rev) == Some(-1);
        if !w.started {
            c.pending += 1;
        } else if status.is_some_and(|s| DONE.contains(&s)) {
            c.done += 1;
        } else if gone || status.is_some_and(|s| FAILED.contains(&s)) {
            c.failed += 1;
        } else {
            c.pending += 1;
        }
    }
    c
}

/// What a running rollout should do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Wait,
    Start(usize),
    Pause(String),
    Done,
}

/// The next move of a running rollout (pure: the caller writes it).
pub fn decide(threshold: f64, waves: &[Wave], steps: &HashMap<String, RolloutStep>) -> Decision {
    let Some(cur) = waves.iter().rposition(|w| w.started) else {
        return if waves.is_empty() {
            Decision::Done
        } else {
            Decision::Start(0)
        };
    };
    let w = &waves[cur];
    let c = counts(w, steps);
    let share = c.failed as f64 / w.devices.len().max(1) as f64;
    if c.failed > w.tolerated && share > threshold {
        return Decision::Pause(format!(
            "wave {}: {} of {} devices failed ({:.0}% > failure-threshold {:.0}%)",
            cur + 1,
            c.failed,
            w.devices.len(),
            share * 100.0,
            threshold * 100.0
        ));
    }
    if c.pending > 0 {
        return Decision::Wait;
    }
    if cur + 1 == waves.len() {
        Decision::Done
    } else {
        Decision::Start(cur + 1)
    }
}

pub fn waves_of(r: &Rollout) -> ApiResult<Vec<Wave>> {
    serde_json::from_value(r.waves.clone())
        .map_err(|e| ApiError::internal(format!("rollout {}: waves: {e}", r.id)))
}

fn set_waves(r: &mut Rollout, waves: &[Wave]) {
    r.waves = serde_json::to_value(waves).unwrap_or_else(|_| json!([]));
}

/// Bring a running rollout up to date with its devices: post the steps
/// of started waves that some process claimed but did not post (it died
/// in between), pause it on failures, start the next wave, or finish it.
/// Safe to call from any hub process at any time; a lost compare-and-swap
/// reads again.
pub async fn advance(hub: &AppState, id: &str) -> ApiResult<()> {
    let db = &hub.store.db;
    for _ in 0..16 {
        let Some(mut r) = db.rollout(id).await? else {
            return Ok(());
        };
        if r.status != "running" {
            return Ok(());
        }
        let mut waves = waves_of(&r)?;
        let steps = db.rollout_steps(id).await?;
        let unposted: Vec<&Wave> = waves
            .iter()
            .filter(|w| {
                w.started
                    && w.devices
                        .iter()
                        .any(|d| steps.get(d).is_some_and(|s| s.rev.is_none()))
            })
            .collect();
        if !unposted.is_empty() {
            if posting_now(id) {
                return Ok(()); // a task of this process is at it
            }
            for w in unposted {
                tracing::info!("rollout {id}: posting the unposted devices of a started wave");
                post_wave_now(hub, &r, w).await?;
            }
            continue; // read again with the steps posted
        }
        match decide(r.threshold, &waves, &steps) {
            Decision::Wait => return Ok(()),
            Decision::Pause(reason) => {
                r.status = "paused".into();
                r.reason = reason;
                if db.update_rollout(&mut r).await? {
                    tracing::info!("rollout {id} paused: {}", r.reason);
                    return Ok(());
                }
            }
            Decision::Done => {
                r.status = "done".into();
                if db.update_rollout(&mut r).await? {
                    tracing::info!("rollout {id} done");
                    return Ok(());
                }
            }
            Decision::Start(i) => {
                waves[i].started = true;
                set_waves(&mut r, &waves);
                if db.update_rollout(&mut r).await? {
                    crate::fault::point("rollout-wave-claimed");
                    post_wave(hub, &r, &waves[i]).await?;
                    tracing::info!("rollout {id}: wave {} started", i + 1);
                }
                // read again: the wave's devices may already be done
            }
        }
    }
    Ok(())
}

/// Devices whose steps are posted in one transaction (a short hold of
/// the database's write lock between other writers).
const POST_BATCH: usize = 16;

/// Waves up to this size are posted before the request that started them
/// is answered; larger ones by a task of their own (the wave's devices
/// poll for it anyway), so that one progress report does not wait for
/// thousands of steps.
const POST_INLINE: usize = 64;

/// Post the rollout's state as a new step to every device of a started
/// wave that has none yet ([`ph_store::Db::post_rollout_steps`]: each
/// device once, whichever process gets there); a device that cannot take
/// it (deleted meanwhile) is recorded with rev -1 and counts as failed.
async fn post_wave(hub: &AppState, r: &Rollout, w: &Wave) -> ApiResult<()> {
    if w.devices.len() <= POST_INLINE {
        return post_wave_now(hub, r, w).await;
    }
    let (hub, r, w) = (hub.clone(), r.clone(), w.clone());
    posting().insert(r.id.clone());
    tokio::spawn(async move {
        if let Err(e) = post_wave_now(&hub, &r, &w).await {
            tracing::warn!("rollout {}: posting a wave: {}", r.id, e.msg);
        }
        posting().remove(&r.id);
    });
    Ok(())
}

/// Rollouts whose wave a task of this process is posting.
fn posting() -> std::sync::MutexGuard<'static, std::collections::HashSet<String>> {
    static POSTING: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<String>>> =
        std::sync::OnceLock::new();
    POSTING
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

fn posting_now(id: &str) -> bool {
    posting().contains(id)
}

async fn post_wave_now(hub: &AppState, r: &Rollout, w: &Wave) -> ApiResult<()> {
    let db = &hub.store.db;
    let shas = crate::routes::objects::resolve_state_objects(hub, &r.owner, &r.state, true)
        .await
        .unwrap_or_default();
    let sha = state_sha(&r.state);
    let steps = db.rollout_steps(&r.id).await?;
    let todo: Vec<&String> = w
        .devices
        .iter()
        .filter(|d| steps.get(*d).is_some_and(|s| s.rev.is_none()))
        .collect();
    for batch in todo.chunks(POST_BATCH) {
        let mut posts = Vec::with_capacity(batch.len());
        for d in batch {
            let step = match db.trail_by_id(d).await? {
                Some(t) if t.owner == r.owner => Some(NewStep {
                    trail_id: (*d).clone(),
                    rev: None,
                    owner: r.owner.clone(),
                    device: t.device.clone(),
                    committer: r.owner.clone(),
                    commit_msg: r.commit_msg.clone(),
                    state_sha: sha.clone(),
                    state: r.state.clone(),
                    progress: progress_of("NEW", 0, ""),
                    status: "NEW".into(),
                    meta: json!({"rollout": r.id}),
                    objects: shas.clone(),
                    progress_time: 0,
                }),
                _ => None,
            };
            posts.push(((*d).clone(), step));
        }
        db.post_rollout_steps(&r.id, &posts).await?;
    }
    Ok(())
}

/// Advance every running rollout that includes a device after one of its
/// steps reached the end status `status`. A device done while others of
/// its rollout still run changes nothing, and that is found by reading
/// the first unsettled device; the whole rollout is read only after a
/// failure or when none is left. Failures are logged: the report that
/// triggered this was stored and is answered normally.
pub async fn device_settled(hub: &AppState, device: &str, status: &str) {
    let ids = match hub.store.db.running_rollouts_of_device(device).await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!("rollouts of {device}: {e}");
            return;
        }
    };
    let settled: Vec<&str> = DONE.iter().chain(FAILED).copied().collect();
    for id in ids {
        if DONE.contains(&status) {
            match hub.store.db.rollout_has_unsettled(&id, &settled).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::warn!("rollout {id}: {e}"),
            }
        }
        if let Err(e) = advance(hub, &id).await {
            tracing::warn!("rollout {id}: {}", e.msg);
        }
    }
}

/// Advance every running rollout now and then every `every`: waves that
/// a process claimed and could not post (it died) are posted by the
/// processes still running, and by a restarted one at once.
pub async fn sweep(hub: AppState, every: std::time::Duration) {
    loop {
        match hub.store.db.running_rollouts().await {
            Ok(ids) => {
                for id in ids {
                    if let Err(e) = advance(&hub, &id).await {
                        tracing::warn!("rollout {id}: {}", e.msg);
                    }
                }
            }
            Err(e) => tracing::warn!("running rollouts: {e}"),
        }
        tokio::time::sleep(every).await;
    }
}

/// Is this a status after which a device's part of a rollout is settled?
pub fn is_end_status(s: &str) -> bool {
    DONE.contains(&s) || FAILED.contains(&s)
}

/// The rollout as the API shows it.
pub async fn render(hub: &AppState, r: &Rollout) -> ApiResult<Value> {
    let waves = waves_of(r)?;
    let steps = hub.store.db.rollout_steps(&r.id).await?;
    let cur = waves.iter().rposition(|w| w.started);
    let out: Vec<Value> = waves
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let c = counts(w, &steps);
            let status = if !w.started {
                if r.status == "aborted" {
                    "aborted"
                } else {
                    "pending"
                }
            } else if c.pending == 0 {
                "done"
            } else if Some(i) == cur && r.status != "running" {
                r.status.as_str()
            } else {
                "running"
            };
            let revs: serde_json::Map<String, Value> = w
                .devices
                .iter()
                .filter_map(|d| {
                    let rev = steps.get(d)?.rev?;
                    Some((d.clone(), json!(rev)))
                })
                .collect();
            json!({
                "devices": w.devices,
                "status": status,
                "done": c.done,
                "failed": c.failed,
                "pending": c.pending,
                "revs": revs,
            })
        })
        .collect();
    Ok(json!({
        "id": r.id,
        "owner": r.owner,
        "status": r.status,
        "reason": r.reason,
        "commit-msg": r.commit_msg,
        "state-sha": r.state_sha,
        "failure-threshold": r.threshold,
        "created": rfc3339(r.created),
        "modified": rfc3339(r.modified),
        "waves": out,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wave(devs: &[&str], started: bool) -> Wave {
        Wave {
            devices: devs.iter().map(|d| d.to_string()).collect(),
            started,
            tolerated: 0,
        }
    }

    fn st(pairs: &[(&str, &str)]) -> HashMap<String, RolloutStep> {
        pairs
            .iter()
            .map(|(d, s)| {
                (
                    d.to_string(),
                    RolloutStep {
                        rev: Some(1),
                        status: Some(s.to_string()),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn plans_counts_and_percents() {
        assert_eq!(plan(3, Some(&[1, 2]), None).unwrap(), [1, 2]);
        assert!(plan(3, Some(&[1, 1]), None)
            .unwrap_err()
            .contains("cover 2"));
        assert!(plan(3, Some(&[1, 0, 2]), None).is_err());
        assert_eq!(
            plan(10, None, Some(&[10.0, 40.0, 50.0])).unwrap(),
            [1, 4, 5]
        );
        assert_eq!(plan(3, None, Some(&[50.0, 50.0])).unwrap(), [2, 1]);
        assert_eq!(plan(2, None, Some(&[10.0, 10.0, 80.0])).unwrap(), [1, 1]);
        assert!(plan(3, None, Some(&[50.0])).is_err());
        assert!(plan(3, Some(&[3]), Some(&[100.0])).is_err());
        assert_eq!(plan(4, None, None).unwrap(), [4]);
    }

    #[test]
    fn decides_start_wait_next_pause_done() {
        let mut w = vec![wave(&["a"], false), wave(&["b", "c"], false)];
        assert_eq!(decide(0.0, &w, &st(&[])), Decision::Start(0));
        w[0].started = true;
        assert_eq!(
            decide(0.0, &w, &st(&[("a", "DOWNLOADING")])),
            Decision::Wait
        );
        assert_eq!(
            decide(0.0, &w, &st(&[("a", "UPDATED")])),
            Decision::Start(1)
        );
        w[1].started = true;
        let s = st(&[("a", "DONE"), ("b", "ERROR"), ("c", "QUEUED")]);
        let Decision::Pause(why) = decide(0.0, &w, &s) else {
            panic!("a failure above 0% pauses");
        };
        assert!(why.contains("wave 2: 1 of 2"), "{why}");
        // within the threshold: wait for c, then finish
        assert_eq!(decide(0.5, &w, &s), Decision::Wait);
        let s = st(&[("a", "DONE"), ("b", "ERROR"), ("c", "DONE")]);
        assert_eq!(decide(0.5, &w, &s), Decision::Done);
        // resumed after the pause: the failure is tolerated
        w[1].tolerated = 1;
        assert_eq!(decide(0.0, &w, &s), Decision::Done);
    }

    #[test]
    fn counts_unposted_and_gone_devices() {
        let w = wave(&["a", "b", "c"], true);
        let mut s = st(&[("a", "WONTGO")]);
        s.insert(
            "b".into(),
            RolloutStep {
                rev: Some(-1),
                status: None,
            },
        );
        assert_eq!(
            counts(&w, &s),
            Counts {
                done: 0,
                failed: 2,
                pending: 1
            }
        );
        assert_eq!(counts(&wave(&["a"], false), &s).pending, 1);
    }
}
