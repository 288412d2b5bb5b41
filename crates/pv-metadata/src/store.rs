//! A metadata store: one file per key in storage, mirrored into the run
//! directory for containers.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use pv_fs::{FsError, IoResultExt};

use crate::key::{container_split, validate_key};
use crate::{render, MetaError, MAX_VALUE_SIZE};

/// Which of the two stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetaKind {
    /// User metadata (`PV_CACHE_USRMETADIR`, `<rundir>/user-meta/`).
    User,
    /// Device metadata (`PV_CACHE_DEVMETADIR`, `<rundir>/device-meta/`).
    Device,
}

impl MetaKind {
    /// Name of the run-dir view: `user-meta` or `device-meta`.
    pub fn view_name(self) -> &'static str {
        match self {
            MetaKind::User => "user-meta",
            MetaKind::Device => "device-meta",
        }
    }

    /// The storage directory below `<storage>` when no config overrides it:
    /// `cache/devmeta`; `cache/meta` for user meta (`cache/usrmeta` in
    /// appengine builds).
    pub fn default_storage_dir(self, storage_root: &Path, appengine: bool) -> PathBuf {
        storage_root.join("cache").join(match (self, appengine) {
            (MetaKind::Device, _) => "devmeta",
            (MetaKind::User, false) => "meta",
            (MetaKind::User, true) => "usrmeta",
        })
    }

    /// Text of the "not found" error of the control API.
    pub fn not_found_message(self) -> &'static str {
        match self {
            MetaKind::User => "User meta does not exist",
            MetaKind::Device => "Device meta does not exist",
        }
    }
}

/// A file in the storage directory that was not loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// Why it was left out.
    pub reason: String,
}

/// One metadata store. Keys are kept in the order the original renders
/// them: a new key goes first, an updated key keeps its place; keys loaded
/// at start come in reverse byte order of their names.
#[derive(Debug)]
pub struct MetaStore {
    kind: MetaKind,
    storage_dir: PathBuf,
    run_dir: PathBuf,
    entries: Vec<(String, String)>,
    volatile: HashSet<String>,
    flat_is_storage: bool,
    skipped: Vec<Skipped>,
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

fn remove_if_present(path: &Path) -> Result<(), FsError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FsError::new("remove", path, e)),
    }
}

fn check_value(key: &str, value: &str) -> Result<(), MetaError> {
    if value.len() > MAX_VALUE_SIZE {
        return Err(MetaError::ValueTooLarge {
            key: key.to_string(),
            size: value.len(),
            max: MAX_VALUE_SIZE,
        });
    }
    Ok(())
}

impl MetaStore {
    /// Open the store kept in `storage_dir` (created if missing), load every
    /// key, and lay out the views under `run_dir`: `<rundir>/<view>/<key>`
    /// and `<rundir>/<view>.<a>/<b>` for keys `<a>.<b>`. Files in the views
    /// that no longer match a key are removed. If `<rundir>/<view>` is the
    /// storage directory itself (bind mount), it is not written twice.
    pub fn open(
        kind: MetaKind,
        storage_dir: impl Into<PathBuf>,
        run_dir: impl Into<PathBuf>,
    ) -> Result<MetaStore, MetaError> {
        let storage_dir = storage_dir.into();
        let run_dir = run_dir.into();
        fs::create_dir_all(&storage_dir).at("create directory", &storage_dir)?;
        let flat = run_dir.join(kind.view_name());
        fs::create_dir_all(&flat).at("create directory", &flat)?;
        let mut store = MetaStore {
            kind,
            flat_is_storage: same_dir(&flat, &storage_dir),
            storage_dir,
            run_dir,
            entries: Vec::new(),
            volatile: HashSet::new(),
            skipped: Vec::new(),
        };
        store.load()?;
        store.clean_views()?;
        for i in 0..store.entries.len() {
            let (k, v) = store.entries[i].clone();
            store.write_views(&k, &v)?;
        }
        Ok(store)
    }

    fn load(&mut self) -> Result<(), MetaError> {
        let mut names: Vec<(String, PathBuf)> = fs::read_dir(&self.storage_dir)
            .at("read directory", &self.storage_dir)?
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .filter(|(n, _)| !n.starts_with('.'))
            .collect();
        names.sort();
        for (name, path) in names {
            if let Err(e) = validate_key(&name) {
                self.skip(path, e.to_string());
                continue;
            }
            let data = fs::read(&path).at("read", &path)?;
            if data.len() > MAX_VALUE_SIZE {
                self.skip(path, format!("value of {} bytes is too large", data.len()));
                continue;
            }
            let value = String::from_utf8_lossy(&data).into_owned();
            self.entries.insert(0, (name, value));
        }
        Ok(())
    }

    fn skip(&mut self, path: PathBuf, reason: String) {
        self.skipped.push(Skipped { path, reason });
    }

    /// Remove view files that do not belong to a current key.
    fn clean_views(&self) -> Result<(), MetaError> {
        let keys: HashSet<&str> = self.entries.iter().map(|(k, _)| k.as_str()).collect();
        if !self.flat_is_storage {
            let flat = self.flat_view_dir();
            for e in fs::read_dir(&flat).at("read directory", &flat)?.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if e.file_type().is_ok_and(|t| t.is_file()) && !keys.contains(name.as_str()) {
                    remove_if_present(&e.path())?;
                }
            }
        }
        let prefix = format!("{}.", self.kind.view_name());
        for e in fs::read_dir(&self.run_dir)
            .at("read directory", &self.run_dir)?
            .flatten()
        {
            let dir_name = e.file_name().to_string_lossy().into_owned();
            let Some(container) = dir_name.strip_prefix(&prefix) else {
                continue;
            };
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            for f in fs::read_dir(e.path())
                .at("read directory", &e.path())?
                .flatten()
            {
                let name = f.file_name().to_string_lossy().into_owned();
                let key = format!("{container}.{name}");
                if f.file_type().is_ok_and(|t| t.is_file()) && !keys.contains(key.as_str()) {
                    remove_if_present(&f.path())?;
                }
            }
        }
        Ok(())
    }

    /// Views live in the run dir (volatile, rebuilt at boot): replaced
    /// atomically, without fsync.
    fn write_views(&self, key: &str, value: &str) -> Result<(), MetaError> {
        if !self.flat_is_storage {
            pv_fs::write_replace(self.flat_view_dir().join(key), value.as_bytes())?;
        }
        if let Some((container, name)) = container_split(key) {
            let dir = self.ensure_container_view(container)?;
            pv_fs::write_replace(dir.join(name), value.as_bytes())?;
        }
        Ok(())
    }

    /// Which store this is.
    pub fn kind(&self) -> MetaKind {
        self.kind
    }

    /// `<rundir>/<view>/`: every key (what mgmt containers see).
    pub fn flat_view_dir(&self) -> PathBuf {
        self.run_dir.join(self.kind.view_name())
    }

    /// `<rundir>/<view>.<container>/`: what a non-mgmt container sees.
    pub fn container_view_dir(&self, container: &str) -> PathBuf {
        self.run_dir
            .join(format!("{}.{container}", self.kind.view_name()))
    }

    /// Create (if needed) and return the private view of `container`, so
    /// it can be bind-mounted even before any key exists for it.
    pub fn ensure_container_view(&self, container: &str) -> Result<PathBuf, MetaError> {
        validate_key(container)?;
        let dir = self.container_view_dir(container);
        fs::create_dir_all(&dir).at("create directory", &dir)?;
        Ok(dir)
    }

    /// Files of the storage directory left out at load.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there is no key.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keys and values in rendering order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Add or update `key`. Returns false (and writes nothing) if the value
    /// is unchanged. The storage file is written durably first, then the
    /// views.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, MetaError> {
        validate_key(key)?;
        check_value(key, value)?;
        if self.get(key) == Some(value) && !self.volatile.contains(key) {
            return Ok(false);
        }
        pv_fs::write_atomic(self.storage_dir.join(key), value.as_bytes())?;
        self.volatile.remove(key);
        self.upsert(key, value);
        self.write_views(key, value)?;
        Ok(true)
    }

    /// Like [`MetaStore::set`], but the value lives only in memory and in
    /// the run-dir views, never in storage (for values refreshed every tick
    /// such as `time`, `sysinfo`, `storage`, `interfaces`, to spare the
    /// flash). A stored copy from an earlier [`MetaStore::set`] is removed.
    /// When the flat view is the storage directory itself (bind mount), the
    /// value has to be stored to be visible, so this is [`MetaStore::set`].
    pub fn set_volatile(&mut self, key: &str, value: &str) -> Result<bool, MetaError> {
        if self.flat_is_storage {
            return self.set(key, value);
        }
        validate_key(key)?;
        check_value(key, value)?;
        if self.get(key) == Some(value) && self.volatile.contains(key) {
            return Ok(false);
        }
        if !self.volatile.contains(key) {
            pv_fs::remove_durable(&self.storage_dir.join(key))?;
            self.volatile.insert(key.to_string());
        }
        self.upsert(key, value);
        self.write_views(key, value)?;
        Ok(true)
    }

    fn upsert(&mut self, key: &str, value: &str) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = value.to_string(),
            None => self.entries.insert(0, (key.to_string(), value.to_string())),
        }
    }

    /// Delete `key` from storage and every view. Returns false if it did
    /// not exist.
    pub fn remove(&mut self, key: &str) -> Result<bool, MetaError> {
        validate_key(key)?;
        let Some(pos) = self.entries.iter().position(|(k, _)| k == key) else {
            return Ok(false);
        };
        pv_fs::remove_durable(&self.storage_dir.join(key))?;
        self.entries.remove(pos);
        self.volatile.remove(key);
        if !self.flat_is_storage {
            remove_if_present(&self.flat_view_dir().join(key))?;
        }
        if let Some((container, name)) = container_split(key) {
            remove_if_present(&self.container_view_dir(container).join(name))?;
        }
        Ok(true)
    }

    /// Make the store hold exactly `pairs` (the Hub's user meta document):
    /// each pair is set, keys absent from it are deleted. Every pair is
    /// checked first, so an invalid key or oversized value changes nothing.
    /// Returns the keys deleted.
    pub fn replace_all<'a>(
        &mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Vec<String>, MetaError> {
        let pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
        for (k, v) in &pairs {
            validate_key(k)?;
            check_value(k, v)?;
        }
        let keep: HashSet<&str> = pairs.iter().map(|(k, _)| *k).collect();
        for (k, v) in &pairs {
            self.set(k, v)?;
        }
        let gone: Vec<String> = self
            .entries
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !keep.contains(k.as_str()))
            .collect();
        for k in &gone {
            self.remove(k)?;
        }
        Ok(gone)
    }

    /// The JSON object for `GET /user-meta` / `GET /device-meta`.
    pub fn render(&self) -> String {
        render::render(self.iter())
    }
}
