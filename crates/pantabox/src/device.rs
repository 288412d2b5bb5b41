//! What pantabox asks of the device: reads through the control socket,
//! changes as pvtx transactions (one fresh transaction directory per
//! action, so a user's own `pvtx` transaction is never touched), and the
//! files a mgmt container sees beside the socket (Hub hints, logs).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use pv_tx::{Base, Device, Options, Pvtx};
use serde_json::Value;

/// A revision's progress as the device reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub status: String,
    pub msg: String,
    pub percent: i64,
}

impl Progress {
    fn of(v: &Value) -> Progress {
        Progress {
            status: v["status"].as_str().unwrap_or("").to_string(),
            msg: v["status-msg"].as_str().unwrap_or("").to_string(),
            percent: v["progress"].as_i64().unwrap_or(0),
        }
    }

    /// The update has ended, one way or the other.
    pub fn is_final(&self) -> bool {
        matches!(
            self.status.as_str(),
            "DONE" | "UPDATED" | "ERROR" | "WONTGO" | "INVALID"
        )
    }
}

/// A container of the running revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub name: String,
    pub group: String,
    pub status: String,
    pub roles: Vec<String>,
}

/// A revision the device has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub date: String,
    pub progress: Progress,
}

/// The device behind one control socket.
pub struct PvBox {
    pub socket: PathBuf,
    /// The logs tree (`<rev>/<container>/lxc/console.log`,
    /// `<rev>/pantavisor/pantavisor.log`).
    pub logs: PathBuf,
    dev: Device,
}

impl PvBox {
    pub fn new(socket: PathBuf, logs: PathBuf) -> PvBox {
        let dev = Device::new(&socket, pv_tx::CTRL_BUF.2);
        PvBox { socket, logs, dev }
    }

    /// A file beside the socket (`device-id`, `challenge`, `pantahub-host`).
    pub fn hint(&self, name: &str) -> Option<String> {
        let dir = self.socket.parent()?;
        let s = std::fs::read_to_string(dir.join(name)).ok()?;
        Some(s.trim().to_string())
    }

    pub fn device_meta(&self) -> Result<Vec<(String, String)>> {
        Ok(pv_tx::meta_pairs(&self.dev.get_json("/device-meta")?))
    }

    pub fn user_meta(&self) -> Result<Vec<(String, String)>> {
        Ok(pv_tx::meta_pairs(&self.dev.get_json("/user-meta")?))
    }

    /// The running revision (device metadata `pantavisor.revision`).
    pub fn revision(&self) -> Result<String> {
        self.device_meta()?
            .into_iter()
            .find(|(k, _)| k == "pantavisor.revision")
            .map(|(_, v)| v)
            .ok_or_else(|| anyhow!("the device does not publish pantavisor.revision"))
    }

    pub fn containers(&self) -> Result<Vec<Container>> {
        let v = self.dev.get_json("/containers")?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .map(|c| Container {
                name: c["name"].as_str().unwrap_or("").to_string(),
                group: c["group"].as_str().unwrap_or("").to_string(),
                status: c["status"].as_str().unwrap_or("").to_string(),
                roles: c["roles"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r.as_str().map(String::from))
                    .collect(),
            })
            .collect())
    }

    pub fn steps(&self) -> Result<Vec<Step>> {
        let v = self.dev.get_json("/steps")?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .map(|s| Step {
                name: s["name"].as_str().unwrap_or("").to_string(),
                date: s["date"].as_str().unwrap_or("").to_string(),
                progress: Progress::of(&s["progress"]),
            })
            .collect())
    }

    pub fn progress(&self, rev: &str) -> Result<Progress> {
        Ok(Progress::of(&self.dev.progress(rev)?))
    }

    /// The state of a revision, pretty-printed as pvr prints it.
    pub fn state_pretty(&self, rev: &str) -> Result<String> {
        let bytes = self.dev.state(rev)?;
        let state = pv_types::State::from_slice(&bytes)
            .with_context(|| format!("the state of revision {rev}"))?;
        let style = pv_json::pretty::Style {
            indent: "  ",
            strings: pv_json::pretty::Strings::Canonical,
            numbers: pv_json::pretty::Numbers::Canonical,
        };
        Ok(pv_json::pretty::to_string(
            &Value::Object(state.as_map().clone()),
            style,
        ))
    }

    /// Ask the device to run `rev`.
    pub fn run(&self, rev: &str) -> Result<()> {
        Ok(self.dev.run(rev)?)
    }

    /// A transaction in a fresh directory: `f` changes it, then it is
    /// committed as a new local revision, whose name is returned.
    fn transaction(
        &self,
        base: &Base,
        f: impl FnOnce(&Pvtx) -> std::result::Result<(), pv_tx::TxError>,
    ) -> Result<String> {
        let dir = tempfile::Builder::new()
            .prefix("pantabox-tx")
            .tempdir()
            .context("a transaction directory")?;
        let mut opts = Options::new(dir.path());
        opts.socket = Some(self.socket.clone());
        let tx = Pvtx::new(opts);
        tx.begin(base, None)?;
        f(&tx)?;
        Ok(tx.commit()?)
    }

    /// Remove a part from the running revision.
    pub fn remove(&self, part: &str) -> Result<String> {
        self.transaction(&Base::Current, |tx| tx.remove(part).map(drop))
    }

    /// Merge a package (`pvr export` tarball or state JSON) into the
    /// running revision.
    pub fn add_package(&self, path: &Path) -> Result<String> {
        if !path.is_file() {
            bail!("{}: no such package file", path.display());
        }
        self.transaction(&Base::Current, |tx| tx.add_file(path).map(drop))
    }

    /// A package that carries BSP parts only, merged into the running
    /// revision (the BSP is replaced as a whole, as pvtx does).
    pub fn update_bsp(&self, path: &Path) -> Result<String> {
        let keys = package_keys(path)?;
        if !keys.iter().any(|k| k.starts_with("bsp/")) {
            bail!("{}: the package carries no bsp/ part", path.display());
        }
        self.add_package(path)
    }

    /// A new revision whose state is `json` (edited by the user): every
    /// object it names must already be on the device.
    pub fn commit_state(&self, json: &[u8]) -> Result<String> {
        let state = pv_types::State::from_slice(json).context("the edited state")?;
        state
            .validate()
            .map_err(|e| anyhow!("the edited state is not valid: {e}"))?;
        let dir = tempfile::tempdir().context("a temporary directory")?;
        let file = dir.path().join("json");
        std::fs::write(&file, state.to_canonical())
            .with_context(|| format!("write {}", file.display()))?;
        self.transaction(&Base::Path(file), |_| Ok(()))
    }

    /// Make an app from a container image or a rootfs (as `pvr app add`)
    /// and install it into the running revision.
    pub fn install_app(&self, name: &str, from: &str, group: Option<&str>) -> Result<String> {
        let package = crate::package::app_package(name, from, group)?;
        self.add_package(&package.path())
    }

    /// Where a container's console log (or the runtime's log, for
    /// `pantavisor`) of revision `rev` is.
    pub fn log_path(&self, rev: &str, container: &str) -> PathBuf {
        let dir = self.logs.join(rev).join(container);
        if container == "pantavisor" {
            dir.join("pantavisor.log")
        } else {
            dir.join("lxc/console.log")
        }
    }
}

/// The keys of the state a package carries.
fn package_keys(path: &Path) -> Result<Vec<String>> {
    let mut sink = NoObjects;
    let p = pv_tx::package::read_file(path, 64 << 10, &mut sink)
        .with_context(|| format!("read package {}", path.display()))?;
    Ok(p.state.keys().map(String::from).collect())
}

/// Reading a package only for its state: objects are checked and dropped.
struct NoObjects;

impl pv_tx::package::ObjectSink for NoObjects {
    fn put(
        &mut self,
        _: &pv_types::ObjectId,
        _: u64,
        r: &mut dyn std::io::Read,
    ) -> pv_tx::Result<()> {
        std::io::copy(r, &mut std::io::sink())
            .map_err(|e| pv_tx::TxError::BadInput(format!("package object: {e}")))?;
        Ok(())
    }
    fn finish(&mut self) -> pv_tx::Result<()> {
        Ok(())
    }
}

/// The last `max` lines of a file (empty when it is not there yet).
pub fn tail(path: &Path, max: usize) -> Vec<String> {
    let Ok(bytes) = std::fs::read(path) else {
        return vec![];
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(max)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}
