//! Transactions: `begin`, `add`, `remove`, `abort`, `commit`, `show`,
//! `deploy`. Each call locks the transaction directory, reads the record,
//! does its work (objects first, durably) and replaces the record once at
//! the end; a failure anywhere leaves the record as it was.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use pv_objects::ObjectStore;
use pv_types::State;

use crate::ctrl::{find_socket, Device};

use crate::package::{self, ObjectSink, Package};
use crate::sink::{DeviceSink, DirSink};
use crate::store::{Record, Status, TxDir};
use crate::{merge, Result, TxError};

/// The transaction directory when `PVTXDIR` is not set: the documented one
/// for root, else under the user's home (as the original's code does).
pub const DEFAULT_DIR_ROOT: &str = "/var/pvr-sdk/pvtx";

/// Buffer sizes: `PVTX_OBJECT_BUF_SIZE` (objects read and written) and
/// `PVTX_CTRL_BUF_SIZE` (uploads to the control socket), clamped to the
/// documented ranges.
pub const OBJECT_BUF: (usize, usize, usize) = (512, 10 << 20, 64 << 10);
pub const CTRL_BUF: (usize, usize, usize) = (16 << 10, 10 << 20, 64 << 10);

/// Where transactions live and how to reach the device.
#[derive(Debug, Clone)]
pub struct Options {
    pub dir: PathBuf,
    /// The control socket; found by [`crate::ctrl::SOCKET_SEARCH`] if none.
    pub socket: Option<PathBuf>,
    pub object_buf: usize,
    pub ctrl_buf: usize,
    /// Wait for another operation on the transaction to end (the CLI), or
    /// fail at once with [`TxError::Busy`] (a server's workers).
    pub wait: bool,
}

fn clamp_env(value: Option<String>, (min, max, default): (usize, usize, usize)) -> usize {
    value
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map(|n| n.clamp(min, max))
        .unwrap_or(default)
}

impl Options {
    /// Options in `dir` with the default buffers.
    pub fn new(dir: impl Into<PathBuf>) -> Options {
        Options {
            dir: dir.into(),
            socket: None,
            object_buf: OBJECT_BUF.2,
            ctrl_buf: CTRL_BUF.2,
            wait: true,
        }
    }

    /// `PVTXDIR`, `PVTX_OBJECT_BUF_SIZE`, `PVTX_CTRL_BUF_SIZE` and
    /// `PVTX_SOCKET` from the environment.
    pub fn from_env() -> Options {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let dir = var("PVTXDIR").map(PathBuf::from).unwrap_or_else(|| {
            let root = rustix::process::getuid().is_root();
            match var("HOME") {
                Some(home) if !root => Path::new(&home).join(".local/share/pvtx"),
                _ => PathBuf::from(DEFAULT_DIR_ROOT),
            }
        });
        Options {
            dir,
            socket: var("PVTX_SOCKET").map(PathBuf::from),
            object_buf: clamp_env(var("PVTX_OBJECT_BUF_SIZE"), OBJECT_BUF),
            ctrl_buf: clamp_env(var("PVTX_CTRL_BUF_SIZE"), CTRL_BUF),
            wait: true,
        }
    }
}

/// What a transaction starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// The running revision, read through the control socket.
    Current,
    /// `{"#spec":"pantavisor-service-system@1"}`.
    Empty,
    /// Another revision of the device (`3`, `locals/x`).
    Revision(String),
    /// A state JSON file, or a directory holding `json` or `.pvr/json`.
    Path(PathBuf),
}

impl Base {
    /// `current` (also when absent), `empty`, an existing path, or a
    /// revision name.
    pub fn parse(s: Option<&str>) -> Base {
        match s {
            None | Some("current") => Base::Current,
            Some("empty") => Base::Empty,
            Some(s) if !Path::new(s).exists() && pv_types::is_revision(s) => {
                Base::Revision(s.to_string())
            }
            Some(s) => Base::Path(PathBuf::from(s)),
        }
    }
}

/// The transaction API (the `pvtx` commands, the LAN endpoint's
/// `/cgi-bin/pvtx/…`).
#[derive(Debug, Clone)]
pub struct Pvtx {
    opts: Options,
}

impl Pvtx {
    pub fn new(opts: Options) -> Pvtx {
        Pvtx { opts }
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    pub(crate) fn lock(&self) -> Result<TxDir> {
        TxDir::lock(&self.opts.dir, self.opts.wait)
    }

    /// The device behind the control socket.
    pub fn device(&self) -> Result<Device> {
        let socket = find_socket(self.opts.socket.as_deref())?;
        Ok(Device::new(&socket, self.opts.ctrl_buf))
    }

    /// Start a transaction from `base`; with `objects` it is local (objects
    /// saved there, finished by `deploy`), else remote (objects uploaded to
    /// the device, finished by `commit`). Returns the state.
    pub fn begin(&self, base: &Base, objects: Option<&Path>) -> Result<State> {
        let dir = self.lock()?;
        self.begin_in(&dir, base, objects)
    }

    pub(crate) fn begin_in(
        &self,
        dir: &TxDir,
        base: &Base,
        objects: Option<&Path>,
    ) -> Result<State> {
        let old = dir.load()?;
        if old.as_ref().is_some_and(Record::is_active) {
            return Err(TxError::InProgress);
        }
        // a queue set up before keeps its object directory
        let queue = old
            .filter(|r| r.status == Status::Queued)
            .and_then(|r| r.queue.map(|q| (q, r.objects)));
        let objects = objects
            .map(absolute)
            .or_else(|| queue.as_ref().and_then(|(_, o)| o.clone()));
        let state = self.base_state(base)?;
        if let Some(o) = &objects {
            ObjectStore::open(o)?;
        }
        let mut rec = Record::new(Status::Active, objects, state.clone());
        rec.queue = queue.map(|(q, _)| q);
        if let Base::Path(p) = base {
            rec.sources = object_sources(&absolute(p));
        }
        dir.save(&rec)?;
        Ok(state)
    }

    fn base_state(&self, base: &Base) -> Result<State> {
        let from_device = |rev: &str| -> Result<State> {
            let dev = self.device().map_err(|e| {
                TxError::Ctrl(format!(
                    "failed to connect to pv-ctrl to read the {rev} revision state;\nmake sure Pantavisor is running and the pv-ctrl socket is available\nor check the 'help' command if you are looking other ways to start a transaction;\n{e}"
                ))
            })?;
            let json = dev.state(rev)?;
            package::parse_state(&json, &format!("the state of revision {rev}"))
        };
        match base {
            Base::Current => from_device("current"),
            Base::Revision(r) => from_device(r),
            Base::Empty => Ok(State::new(pv_types::SPEC_SERVICE_SYSTEM)),
            Base::Path(p) => {
                let file = if p.is_dir() {
                    ["json", ".pvr/json"]
                        .iter()
                        .map(|n| p.join(n))
                        .find(|f| f.is_file())
                        .ok_or_else(|| TxError::NoBase(p.clone()))?
                } else if p.is_file() {
                    p.clone()
                } else {
                    return Err(TxError::NoBase(p.clone()));
                };
                let bytes =
                    std::fs::read(&file).map_err(|e| pv_fs::FsError::new("read", &file, e))?;
                package::parse_state(&bytes, &file.display().to_string())
            }
        }
    }

    /// Merge a package file (state JSON or tarball) into the transaction.
    pub fn add_file(&self, path: &Path) -> Result<State> {
        self.add_with(&path.display().to_string(), || {
            std::fs::File::open(path).map_err(|e| pv_fs::FsError::new("open", path, e).into())
        })
    }

    /// Merge a package read from `r` (`what` names it in messages).
    pub fn add_reader(&self, r: impl Read, what: &str) -> Result<State> {
        self.add_with(what, || Ok(r))
    }

    fn add_with<R: Read>(&self, what: &str, open: impl FnOnce() -> Result<R>) -> Result<State> {
        let dir = self.lock()?;
        let mut rec = dir.active()?;
        let pkg = self.read_package(&rec, open()?, what)?;
        let state = merge::add(&rec.state(), &pkg.state);
        rec.set_state(state.clone());
        dir.save(&rec)?;
        Ok(state)
    }

    /// Read a package, its objects going where the transaction keeps them.
    fn read_package(&self, rec: &Record, r: impl Read, what: &str) -> Result<Package> {
        let buf = self.opts.object_buf;
        match &rec.objects {
            Some(o) => {
                let store = ObjectStore::open(o)?;
                package::read(r, what, buf, &mut DirSink::new(&store, buf))
            }
            None => {
                // the device is only needed if the package carries objects
                let mut sink = LazyDevice {
                    pvtx: self,
                    sink: None,
                };
                package::read(r, what, buf, &mut sink)
            }
        }
    }

    /// Remove a part (`name`, `_sigs/<name>.json`, `_config/<name>`).
    pub fn remove(&self, part: &str) -> Result<State> {
        let dir = self.lock()?;
        let mut rec = dir.active()?;
        let state = merge::remove(&rec.state(), part)
            .ok_or_else(|| TxError::NoSuchPart(part.to_string()))?;
        rec.set_state(state.clone());
        dir.save(&rec)?;
        Ok(state)
    }

    /// Discard the transaction (even an unreadable record); false if there
    /// was none active.
    pub fn abort(&self) -> Result<bool> {
        let dir = self.lock()?;
        let active = !matches!(
            dir.load(),
            Ok(None)
                | Ok(Some(Record {
                    status: Status::Committed | Status::Deployed | Status::Queued,
                    ..
                }))
        );
        dir.clear()?;
        Ok(active)
    }

    /// The transaction record (status, kind, queue, last committed
    /// revision), if any.
    pub fn record(&self) -> Result<Option<Record>> {
        let dir = self.lock()?;
        dir.load()
    }

    /// The state of the active transaction.
    pub fn show(&self) -> Result<State> {
        let dir = self.lock()?;
        Ok(dir.active()?.state())
    }

    /// True if a transaction is active.
    pub fn is_active(&self) -> Result<bool> {
        let dir = self.lock()?;
        Ok(dir.load()?.is_some_and(|r| r.is_active()))
    }

    /// Send the state of a remote transaction to the device as a new
    /// local revision (`locals/pvtx-<time>-<sha8>-<n>`): objects the device
    /// lacks are uploaded from the object directories of the base (a
    /// checkout's pool, an unpacked export's `objects/`), and the commit
    /// fails, storing nothing, if one is nowhere. Returns the revision.
    pub fn commit(&self) -> Result<String> {
        let dir = self.lock()?;
        let mut rec = dir.active()?;
        if rec.objects.is_some() {
            return Err(TxError::IsLocal);
        }
        let dev = self.device().map_err(|e| {
            TxError::Ctrl(format!(
                "failed to connect to pv-ctrl to submit the revision; make sure Pantavisor is running;\n{e}"
            ))
        })?;
        let state = rec.state();
        // every missing object must be found before any is uploaded
        let present = dev.objects()?;
        let mut uploads = std::collections::BTreeMap::new();
        for (key, id) in state.objects() {
            if present.contains(&id) || uploads.contains_key(&id) {
                continue;
            }
            let file = rec
                .sources
                .iter()
                .map(|d| d.join(id.to_hex()))
                .find(|f| f.is_file())
                .ok_or_else(|| {
                    TxError::bad(format!(
                        "object {id} of {key} is not on the device; add a package that carries it"
                    ))
                })?;
            uploads.insert(id, file);
        }
        for (id, file) in uploads {
            // the device checks the hash as it stores the object
            let mut f =
                std::fs::File::open(&file).map_err(|e| pv_fs::FsError::new("open", &file, e))?;
            let len = f
                .metadata()
                .map_err(|e| pv_fs::FsError::new("stat", &file, e))?
                .len();
            dev.put_object(&id, len, &mut f)?;
        }
        let json = state.to_canonical();
        let rev = revision_name(&json);
        dev.put_state(&rev, &json).map_err(|e| match e {
            TxError::Refused { status, msg, .. } => TxError::Refused {
                what: format!("upload of revision '{rev}'"),
                status,
                msg,
            },
            e => TxError::Ctrl(format!(
                "failed to upload revision '{rev}' to Pantavisor via pv-ctrl: {e}"
            )),
        })?;
        rec.status = Status::Committed;
        rec.revision = Some(rev.clone());
        dir.save(&rec)?;
        Ok(rev)
    }

    /// Lay a local transaction out in `target` (see [`crate::deploy`]).
    pub fn deploy(&self, target: &Path) -> Result<()> {
        let dir = self.lock()?;
        let mut rec = dir.active()?;
        let Some(objects) = rec.objects.clone() else {
            return Err(TxError::IsRemote);
        };
        crate::deploy::deploy(&rec.state(), &ObjectStore::open(&objects)?, target)?;
        rec.status = Status::Deployed;
        dir.save(&rec)?;
        Ok(())
    }
}

/// Uploads to the device, connecting at the first object.
struct LazyDevice<'a> {
    pvtx: &'a Pvtx,
    sink: Option<DeviceSink>,
}

impl ObjectSink for LazyDevice<'_> {
    fn put(&mut self, id: &pv_types::ObjectId, size: u64, r: &mut dyn Read) -> Result<()> {
        if self.sink.is_none() {
            self.sink = Some(DeviceSink::new(self.pvtx.device()?));
        }
        self.sink.as_mut().expect("just set").put(id, size, r)
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// `locals/pvtx-<unix seconds>-<first 8 hex of the state's sha256>-<0..999>`.
pub fn revision_name(json: &[u8]) -> String {
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(json));
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut r = [0u8; 4];
    let _ = rustix::rand::getrandom(&mut r, rustix::rand::GetRandomFlags::empty());
    let n = u32::from_le_bytes(r) % 1000;
    format!("locals/pvtx-{secs}-{}-{n}", &sha[..8])
}

/// Where the objects of a state on disk are: the pool named by a
/// checkout's `.pvr/config` (or `.pvr/objects`), or the `objects/` beside
/// an unpacked export's `json`.
fn object_sources(base: &Path) -> Vec<PathBuf> {
    let dir = if base.is_dir() {
        base.to_path_buf()
    } else {
        match base.parent() {
            Some(p) => p.to_path_buf(),
            None => return vec![],
        }
    };
    let root = if dir.file_name().is_some_and(|n| n == ".pvr") {
        dir.parent().map(Path::to_path_buf).unwrap_or(dir)
    } else {
        dir
    };
    let mut out = vec![];
    let config = root.join(".pvr/config");
    if let Ok(bytes) = std::fs::read(&config) {
        if let Ok(c) = pv_export::RepoConfig::parse(&config, &bytes) {
            out.push(c.objects_path(&root));
        }
    } else if root.join(".pvr/objects").is_dir() {
        out.push(root.join(".pvr/objects"));
    }
    if root.join("objects").is_dir() {
        out.push(root.join("objects"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_sizes_are_clamped_to_the_documented_ranges() {
        assert_eq!(clamp_env(Some("100".into()), OBJECT_BUF), 512);
        assert_eq!(clamp_env(Some("4096".into()), OBJECT_BUF), 4096);
        assert_eq!(clamp_env(Some("999999999".into()), OBJECT_BUF), 10 << 20);
        assert_eq!(clamp_env(Some("x".into()), CTRL_BUF), CTRL_BUF.2);
        assert_eq!(clamp_env(None, CTRL_BUF), 64 << 10);
        assert_eq!(clamp_env(Some("1".into()), CTRL_BUF), 16 << 10);
    }

    #[test]
    fn bases() {
        assert_eq!(Base::parse(None), Base::Current);
        assert_eq!(Base::parse(Some("current")), Base::Current);
        assert_eq!(Base::parse(Some("empty")), Base::Empty);
        assert_eq!(Base::parse(Some("3")), Base::Revision("3".into()));
        assert_eq!(
            Base::parse(Some("locals/pvtx-1-ab-2")),
            Base::Revision("locals/pvtx-1-ab-2".into())
        );
        assert_eq!(Base::parse(Some("/")), Base::Path("/".into()));
        assert_eq!(
            Base::parse(Some("./no/such.json")),
            Base::Path("./no/such.json".into())
        );
    }

    #[test]
    fn revision_names() {
        let r = revision_name(b"{}");
        let rest = r.strip_prefix("locals/pvtx-").unwrap();
        let parts: Vec<&str> = rest.split('-').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[1], "44136fa3"); // sha256("{}")
        assert!(pv_types::check_revision(&r).is_ok());
    }

    #[test]
    fn object_sources_of_a_checkout_and_an_export() {
        let d = tempfile::tempdir().unwrap();
        let co = d.path().join("co");
        std::fs::create_dir_all(co.join(".pvr")).unwrap();
        std::fs::write(co.join(".pvr/config"), br#"{"ObjectsDir":"/pool"}"#).unwrap();
        assert_eq!(object_sources(&co), [PathBuf::from("/pool")]);
        assert_eq!(
            object_sources(&co.join(".pvr/json")),
            [PathBuf::from("/pool")]
        );
        let ex = d.path().join("export");
        std::fs::create_dir_all(ex.join("objects")).unwrap();
        assert_eq!(object_sources(&ex.join("json")), [ex.join("objects")]);
        assert!(object_sources(d.path()).is_empty());
    }
}
