//! The hub client's thread: the state machine of seed 6.7.1 (init,
//! register, claim, sync, login, idle, prep download, download), metadata
//! exchange and the download half of remote updates. It never touches the
//! running revision: what the device must do goes to the main loop as an
//! [`Event`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pv_config::{Config, Key, Level};
use pv_hub_proto::{Announce, Error as HubError, HubAgent, Step};
use pv_objects::ObjectStore;
use pv_types::State;
use serde_json::{json, Map, Value};
use tracing::{error, info, warn};

use super::download::{self, Counters};
use super::reporter::Reporter;
use super::{Event, Shared};
use crate::layout::Layout;
use crate::progress::{self, Progress};

/// Where the client is (reported as `pantahub.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Init,
    Register,
    Claim,
    Sync,
    Login,
    Idle,
    PrepDownload,
    Download,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Init => "init",
            Phase::Register => "register",
            Phase::Claim => "claim",
            Phase::Sync => "sync",
            Phase::Login => "login",
            Phase::Idle => "idle",
            Phase::PrepDownload => "prep download",
            Phase::Download => "download",
        }
    }
}

/// A remote revision whose local progress is mirrored to the hub.
struct Tracked {
    rev: String,
    retries: u32,
    last: Option<Value>,
}

pub(super) struct Worker {
    pub hub: HubAgent,
    pub cfg: Config,
    pub layout: Layout,
    pub tx: Sender<Event>,
    pub shared: Arc<Mutex<Shared>>,
    pub stop: Arc<AtomicBool>,
    pub reporter: Reporter,
    phase: Phase,
    reported: Option<Phase>,
    tracked: Option<Tracked>,
    next_poll: Instant,
    next_devmeta: Instant,
    next_usrmeta: Instant,
    sent_devmeta: Option<Map<String, Value>>,
    got_usrmeta: Option<BTreeMap<String, String>>,
}

type Res<T> = std::result::Result<T, HubError>;

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The body of a progress PUT (spec hub.md §4.7).
pub fn progress_body(p: &Progress, retries: u32, total: u64, done: u64, start: u64) -> Value {
    let mut v = json!({
        "status": p.status,
        "status-msg": p.msg,
        "progress": p.progress,
        "retries": retries,
        "downloads": {"total": {
            "object_name": "total", "object_id": "none",
            "total_size": total, "total_downloaded": done,
            "start_time": start, "current_time": now_secs(),
        }},
    });
    if let Some(l) = &p.logs {
        v["logs"] = Value::String(l.clone());
    }
    v
}

impl Worker {
    pub(super) fn new(
        hub: HubAgent,
        cfg: Config,
        layout: Layout,
        tx: Sender<Event>,
        shared: Arc<Mutex<Shared>>,
        stop: Arc<AtomicBool>,
    ) -> Worker {
        let now = Instant::now();
        Worker {
            reporter: Reporter::start(hub.clone()),
            hub,
            cfg,
            layout,
            tx,
            shared,
            stop,
            phase: Phase::Init,
            reported: None,
            tracked: None,
            next_poll: now,
            next_devmeta: now,
            next_usrmeta: now,
            sent_devmeta: None,
            got_usrmeta: None,
        }
    }

    fn id(&self) -> String {
        self.cfg.get_str(Key::PhCredsId).to_string()
    }

    fn interval(&self) -> Duration {
        self.cfg
            .get_duration(Key::PhUpdaterInterval)
            .max(Duration::from_millis(200))
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn sleep(&self, d: Duration) {
        let end = Instant::now() + d;
        while !self.stopped() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(50).min(end - Instant::now()));
        }
    }

    fn contact(&self) {
        self.shared.lock().expect("shared").last_contact = Instant::now();
    }

    fn set_phase(&mut self, p: Phase) {
        self.phase = p;
        self.shared.lock().expect("shared").ready =
            matches!(p, Phase::Idle | Phase::PrepDownload | Phase::Download);
        if self.reported != Some(p) {
            self.reported = Some(p);
            let _ = self.tx.send(Event::State(p.name()));
        }
    }

    pub(super) fn run(mut self) {
        self.set_phase(Phase::Init);
        while !self.stopped() {
            if !self.shared.lock().expect("shared").remote {
                self.sleep(Duration::from_millis(300));
                continue;
            }
            let wait = match self.turn() {
                Ok(w) => {
                    self.contact();
                    let _ = self.tx.send(Event::Online(true));
                    w
                }
                Err(HubError::Unauthorized(what)) => {
                    warn!("hub: {what}: token refused, logging in again");
                    self.hub.drop_token();
                    self.set_phase(Phase::Login);
                    Duration::ZERO
                }
                Err(e) => {
                    warn!("hub: {e}");
                    let _ = self.tx.send(Event::Online(false));
                    self.interval()
                }
            };
            self.mirror_progress();
            let wait = if self.tracked.is_some() {
                wait.min(Duration::from_millis(250))
            } else {
                wait
            };
            self.sleep(wait);
        }
        self.reporter.flush();
    }

    /// One step of the state machine; the time to wait before the next.
    fn turn(&mut self) -> Res<Duration> {
        match self.phase {
            Phase::Init => {
                let has = |k| self.cfg.get_opt_str(k).is_some_and(|s| !s.is_empty());
                let next = if has(Key::PhCredsId) && has(Key::PhCredsPrn) && has(Key::PhCredsSecret)
                {
                    Phase::Login
                } else {
                    Phase::Register
                };
                self.set_phase(next);
                Ok(Duration::ZERO)
            }
            Phase::Register => {
                let reg = self
                    .hub
                    .register(self.cfg.get_opt_str(Key::PhFactoryAutotok))?;
                info!("hub: registered as {}", reg.prn);
                self.save_creds(&reg.id, &reg.prn, &reg.secret);
                self.write_view("device-id", &format!("{}\n", reg.id));
                self.write_view("challenge", &reg.challenge);
                self.set_phase(Phase::Login);
                Ok(Duration::ZERO)
            }
            Phase::Login => {
                let prn = self.cfg.get_str(Key::PhCredsPrn).to_string();
                let secret = self.cfg.get_str(Key::PhCredsSecret).to_string();
                self.hub.login(&prn, &secret)?;
                let d = self.hub.device(&self.id())?;
                if d.owner.is_empty() {
                    self.write_view("challenge", &d.challenge);
                    self.set_phase(Phase::Claim);
                } else {
                    // claimed (maybe while it registered): nothing to show
                    self.write_view("challenge", "");
                    let _ = self.tx.send(Event::Claimed);
                    self.set_phase(Phase::Sync);
                }
                Ok(Duration::ZERO)
            }
            Phase::Claim => {
                let d = self.hub.device(&self.id())?;
                if d.owner.is_empty() {
                    self.write_view("challenge", &d.challenge);
                    return Ok(self.interval());
                }
                info!("hub: claimed by {}", d.owner);
                self.write_view("challenge", "");
                let _ = self.tx.send(Event::Claimed);
                // the token must carry the owner
                self.hub.drop_token();
                self.set_phase(Phase::Login);
                Ok(Duration::ZERO)
            }
            Phase::Sync => {
                if !self.hub.has_trail()? {
                    let (updating, rev) = {
                        let s = self.shared.lock().expect("shared");
                        (s.updating.is_some(), s.rev.clone())
                    };
                    if updating {
                        return Ok(self.interval());
                    }
                    self.sync(&rev)?;
                }
                self.set_phase(Phase::Idle);
                Ok(Duration::ZERO)
            }
            Phase::Idle | Phase::PrepDownload | Phase::Download => self.idle(),
        }
    }

    fn write_view(&self, name: &str, text: &str) {
        let p = self.layout.rundir.join(name);
        if let Err(e) = pv_fs::write_replace(&p, text.as_bytes()) {
            warn!("{e}");
        }
    }

    /// Keep the credentials in pantahub.config, durably.
    fn save_creds(&mut self, id: &str, prn: &str, secret: &str) {
        for (k, v) in [
            (Key::PhCredsId, id),
            (Key::PhCredsPrn, prn),
            (Key::PhCredsSecret, secret),
        ] {
            self.cfg.set_key(k, v, Level::PhConf);
        }
        let path = crate::hubfiles::ph_config_path(&self.layout);
        if let Err(e) = self.cfg.save_ph_config(&path) {
            error!("hub credentials not saved: {e}");
        }
        let _ = self.cfg.take_warnings();
    }

    /// Upload the running revision: objects the hub lacks, then the trail.
    fn sync(&mut self, rev: &str) -> Res<()> {
        let (raw, state) = crate::trail::read_state(&self.layout, rev)
            .map_err(|e| HubError::Answer("sync".into(), e.to_string()))?;
        let pool = ObjectStore::open(self.layout.objects())
            .map_err(|e| HubError::Answer("sync".into(), e.to_string()))?;
        info!("hub: syncing revision {rev}");
        for (name, id) in state.objects() {
            let path = pool.path(&id);
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if let Announce::Upload(put) = self.hub.announce(name, &id.to_hex(), size)? {
                self.hub.upload(&put, &path)?;
            }
        }
        self.hub.create_trail(&raw)
    }

    /// Idle: metadata on their intervals, and the update poll.
    fn idle(&mut self) -> Res<Duration> {
        let now = Instant::now();
        let id = self.id();
        if now >= self.next_devmeta {
            self.next_devmeta = now + self.cfg.get_duration(Key::PhMetadataDevmetaInterval);
            let meta = self.shared.lock().expect("shared").devmeta.clone();
            if self.sent_devmeta.as_ref() != Some(&meta) {
                self.hub.put_device_meta(&id, &meta)?;
                self.sent_devmeta = Some(meta);
            }
        }
        if now >= self.next_usrmeta {
            self.next_usrmeta = now + self.cfg.get_duration(Key::PhMetadataUsrmetaInterval);
            let m: BTreeMap<String, String> = self
                .hub
                .user_meta(&id)?
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => (k, s),
                    other => (k, other.to_string()),
                })
                .collect();
            if self.got_usrmeta.as_ref() != Some(&m) {
                let _ = self.tx.send(Event::UserMeta(m.clone()));
                self.got_usrmeta = Some(m);
            }
        }
        if now >= self.next_poll {
            self.next_poll = now + self.interval();
            if let Some(step) = self.hub.poll(&id)? {
                self.take_step(&id, step)?;
            }
        }
        let next = self.next_poll.min(self.next_devmeta).min(self.next_usrmeta);
        Ok(next.saturating_duration_since(Instant::now()))
    }

    fn send_progress(&self, id: &str, rev: &str, body: Value) {
        self.reporter.send(id, rev, body);
    }

    fn retries_path(&self, rev: &str) -> PathBuf {
        download::dir(&self.layout).join(format!("rev-{rev}.retries"))
    }

    /// A polled step: stale, already ours (mirror its progress), or new
    /// (download it, then hand it to the main loop).
    fn take_step(&mut self, id: &str, step: Step) -> Res<()> {
        let rev = step.rev.to_string();
        if self.tracked.as_ref().is_some_and(|t| t.rev == rev) {
            return Ok(());
        }
        let running: i64 = {
            let s = self.shared.lock().expect("shared");
            if s.updating.is_some() {
                // the device ignores new steps while an update is not final
                return Ok(());
            }
            s.rev.parse().unwrap_or(-1)
        };
        if step.rev < running {
            warn!("hub: revision {rev} is older than the running {running}");
            let p = Progress::new("ERROR", "Stale revision");
            self.send_progress(id, &rev, progress_body(&p, 0, 0, 0, 0));
            return Ok(());
        }
        if progress::read(&self.layout, &rev).is_some() && self.layout.trail(&rev).is_dir() {
            // installed before (this run or a previous one): report what it became
            self.tracked = Some(Tracked {
                rev,
                retries: 1,
                last: None,
            });
            return Ok(());
        }
        let max = self.cfg.get_int(Key::PvRevisionRetries).max(1) as u32;
        let rp = self.retries_path(&rev);
        let retries = std::fs::read_to_string(&rp)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(0)
            + 1;
        let _ = std::fs::create_dir_all(download::dir(&self.layout));
        if let Err(e) = pv_fs::write_atomic(&rp, retries.to_string().as_bytes()) {
            warn!("{e}");
        }
        if retries >= max && retries > 1 {
            let p = Progress::new("WONTGO", "Max update processing retries reached");
            self.send_progress(id, &rev, progress_body(&p, retries, 0, 0, 0));
            return Ok(());
        }
        let start = now_secs();
        let body = |status: &str, msg: String, c: &Counters| {
            let p = Progress::new(status, &msg);
            progress_body(
                &p,
                retries,
                c.total.load(Ordering::Relaxed),
                c.downloaded.load(Ordering::Relaxed),
                start,
            )
        };
        let counters = Counters::default();
        self.set_phase(Phase::PrepDownload);
        self.send_progress(
            id,
            &rev,
            body("QUEUED", format!("Retried {retries} of {max}"), &counters),
        );
        let raw = serde_json::to_vec(&step.state).expect("json");
        let state = match State::from_slice(&raw) {
            Ok(s) if s.validate().is_ok() => s,
            _ => {
                let p = Progress::new("WONTGO", crate::update::msg::BAD_FORMAT);
                self.send_progress(id, &rev, progress_body(&p, retries, 0, 0, start));
                self.set_phase(Phase::Idle);
                return Ok(());
            }
        };
        self.send_progress(
            id,
            &rev,
            body(
                "QUEUED",
                format!("Downloading update metadata, retry {retries} of {max}"),
                &counters,
            ),
        );
        let pool = ObjectStore::open(self.layout.objects())
            .map_err(|e| HubError::Answer("pool".into(), e.to_string()))?;
        self.set_phase(Phase::Download);
        let parallel = self
            .cfg
            .get_int(Key::PhUpdaterTransferMaxCount)
            .clamp(1, 16) as usize;
        let dl_msg = format!("Downloading update artifacts, retry {retries} of {max}");
        let mut failures = 0;
        loop {
            if self.stopped() {
                return Ok(());
            }
            let counters = Counters::default();
            let last = Mutex::new(Instant::now() - Duration::from_secs(1));
            let tick = || {
                let mut l = last.lock().expect("tick");
                if l.elapsed() >= Duration::from_millis(500) {
                    *l = Instant::now();
                    self.send_progress(id, &rev, body("DOWNLOADING", dl_msg.clone(), &counters));
                }
            };
            let r = download::fetch(
                &self.hub,
                &self.layout,
                &pool,
                &state.object_ids(),
                parallel,
                &counters,
                &tick,
            );
            match r {
                Ok(()) => {
                    self.send_progress(id, &rev, body("DOWNLOADING", dl_msg.clone(), &counters));
                    // on the hub before the main loop's INPROGRESS
                    self.reporter.flush();
                    break;
                }
                Err(e) => {
                    warn!("hub: revision {rev}: {e}");
                    self.contact_lost_or_counted(&mut failures);
                    if failures >= 3 {
                        let p = Progress::new("WONTGO", "Max download update retries reached");
                        self.send_progress(id, &rev, progress_body(&p, retries, 0, 0, start));
                        self.set_phase(Phase::Idle);
                        return Ok(());
                    }
                    self.sleep(self.interval());
                }
            }
        }
        let _ = std::fs::remove_file(&rp);
        info!("hub: revision {rev} downloaded");
        let _ = self.tx.send(Event::Install {
            rev: rev.clone(),
            json: raw,
        });
        self.tracked = Some(Tracked {
            rev,
            retries,
            last: None,
        });
        self.set_phase(Phase::Idle);
        Ok(())
    }

    /// After a failed download: a hub that answers counts the failure, one
    /// that does not is waited for.
    fn contact_lost_or_counted(&mut self, failures: &mut u32) {
        match self.hub.poll(&self.id()) {
            Ok(_) => {
                self.contact();
                *failures += 1;
            }
            Err(HubError::Unauthorized(_)) => {
                self.hub.drop_token();
                let prn = self.cfg.get_str(Key::PhCredsPrn).to_string();
                let secret = self.cfg.get_str(Key::PhCredsSecret).to_string();
                let _ = self.hub.login(&prn, &secret);
            }
            Err(_) => {}
        }
    }

    /// Send the tracked revision's local progress when it changed; stop
    /// tracking once it is final and sent.
    fn mirror_progress(&mut self) {
        let events = std::mem::take(&mut self.shared.lock().expect("shared").progress);
        let Some(t) = &mut self.tracked else { return };
        let id = self.cfg.get_str(Key::PhCredsId).to_string();
        // statuses only move on (QUEUED … TESTING, then final): the rank
        // of the last one sent, so that nothing older follows it
        let rank = |last: &Option<Value>| {
            last.as_ref()
                .and_then(|l| l["status"].as_str())
                .map(progress::progress_of)
        };
        // every status the main loop went through, in order, each sent
        // before the next (a newer report would replace a queued one)
        for (_, p) in events
            .iter()
            .filter(|(rev, p)| *rev == t.rev && p.status != "NEW")
        {
            if rank(&t.last).is_none_or(|r| progress::progress_of(&p.status) > r) {
                let body = progress_body(p, t.retries, 0, 0, 0);
                self.reporter.send(&id, &t.rev, body.clone());
                self.reporter.flush();
                t.last = Some(body);
            }
        }
        // NEW is the stored step waiting for its run: the hub already saw
        // QUEUED and DOWNLOADING
        let Some(p) = progress::read(&self.layout, &t.rev).filter(|p| p.status != "NEW") else {
            return;
        };
        let body = progress_body(&p, t.retries, 0, 0, 0);
        let strip = |v: &Value| {
            let mut v = v.clone();
            v.as_object_mut().map(|m| m.remove("downloads"));
            v
        };
        let newer = rank(&t.last).is_none_or(|r| progress::progress_of(&p.status) >= r);
        if newer && t.last.as_ref().map(strip) != Some(strip(&body)) {
            self.reporter.send(&id, &t.rev, body.clone());
            t.last = Some(body);
        }
        if p.is_final() {
            self.reporter.flush();
            self.tracked = None;
        }
    }
}
