//! Opening, creating and reading a checkout's `.pvr/` folder.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use pv_fs::IoResultExt;
use pv_objects::ObjectStore;
use pv_types::{State, SPEC_SERVICE_SYSTEM};
use serde_json::{Map, Value};

use crate::config::{absolute, RepoConfig};
use crate::{Error, Result};

/// One path staged by `pvr add`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    /// Added with `--raw`: store as an object even if it is a `.json` file.
    pub force_object: bool,
    /// sha256 of the file when it was added (informational).
    pub sha: String,
}

/// A checkout: a directory with a `.pvr/` folder.
#[derive(Debug, Clone)]
pub struct Repo {
    /// The checkout root.
    pub root: PathBuf,
    /// The global pvr config directory (`$PVR_CONFIG_DIR`).
    pub config_dir: PathBuf,
    /// `.pvr/config`.
    pub config: RepoConfig,
    /// The object pool.
    pub objects: ObjectStore,
}

impl Repo {
    /// `pvr init`: create `.pvr/` in `root` with an empty state of `spec`.
    /// The pool is `objects` if given, else `<config_dir>/objects`.
    pub fn init(
        root: &Path,
        config_dir: &Path,
        objects: Option<&Path>,
        spec: Option<&str>,
    ) -> Result<Repo> {
        let root = absolute(root);
        let pvr = root.join(".pvr");
        if pvr.exists() {
            return Err(Error::AlreadyInitialized(root));
        }
        let objects_dir = match objects {
            Some(o) => absolute(o),
            None => absolute(&config_dir.join("objects")),
        };
        let store = ObjectStore::open(&objects_dir)?;
        fs::create_dir_all(&pvr).at("create directory", &pvr)?;
        let config = RepoConfig {
            objects_dir: objects_dir.to_string_lossy().into_owned(),
            ..Default::default()
        };
        pv_fs::write_atomic(pvr.join("config"), &config.to_bytes())?;
        // pvr writes this exact literal text (it is not canonical)
        let spec = spec.unwrap_or(SPEC_SERVICE_SYSTEM);
        let json = format!(
            "{{ \"#spec\": {} }}",
            pv_json::to_canonical_string(&Value::String(spec.into()))
        );
        pv_fs::write_atomic(pvr.join("json"), json.as_bytes())?;
        Ok(Repo {
            root,
            config_dir: config_dir.to_path_buf(),
            config,
            objects: store,
        })
    }

    /// Open the checkout at `root`.
    pub fn open(root: &Path, config_dir: &Path) -> Result<Repo> {
        let root = absolute(root);
        let pvr = root.join(".pvr");
        if !pvr.is_dir() {
            return Err(Error::NotARepo(root));
        }
        let cfg_path = pvr.join("config");
        let config = match fs::read(&cfg_path) {
            Ok(b) => RepoConfig::parse(&cfg_path, &b)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => RepoConfig::default(),
            Err(e) => return Err(pv_fs::FsError::new("read", cfg_path, e).into()),
        };
        let objects = ObjectStore::open(config.objects_path(&root))?;
        Ok(Repo {
            root,
            config_dir: config_dir.to_path_buf(),
            config,
            objects,
        })
    }

    /// The `.pvr` directory.
    pub fn pvr_dir(&self) -> PathBuf {
        self.root.join(".pvr")
    }

    /// The committed state; `{}` when `.pvr/json` does not exist.
    pub fn pristine(&self) -> Result<State> {
        let p = self.pvr_dir().join("json");
        if p.is_dir() {
            return Err(Error::BadState(p));
        }
        match fs::read(&p) {
            Ok(b) => State::from_slice(&b).map_err(|e| Error::BadRepoFile {
                path: p,
                msg: e.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(State::from_map(Map::new())),
            Err(e) => Err(pv_fs::FsError::new("read", p, e).into()),
        }
    }

    /// Durably replace the committed state (canonical bytes).
    pub fn write_pristine(&self, state: &State) -> Result<()> {
        Ok(pv_fs::write_atomic(
            self.pvr_dir().join("json"),
            &state.to_canonical(),
        )?)
    }

    /// Paths staged by `add`.
    pub fn staged(&self) -> Result<BTreeMap<String, Staged>> {
        let p = self.pvr_dir().join("new");
        let bytes = match fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(pv_fs::FsError::new("read", p, e).into()),
        };
        let bad = |msg: String| Error::BadRepoFile {
            path: p.clone(),
            msg,
        };
        let v = pv_json::parse(&bytes).map_err(|e| bad(e.to_string()))?;
        let m = v
            .as_object()
            .ok_or_else(|| bad("must be a JSON object".into()))?;
        let mut out = BTreeMap::new();
        for (k, e) in m {
            out.insert(
                k.clone(),
                Staged {
                    force_object: e
                        .get("ForceObject")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    sha: e
                        .get("Sha")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                },
            );
        }
        Ok(out)
    }

    /// Durably write the staged paths (canonical JSON, as pvr does).
    pub fn write_staged(&self, staged: &BTreeMap<String, Staged>) -> Result<()> {
        let mut m = Map::new();
        for (k, s) in staged {
            let mut e = Map::new();
            e.insert("ForceObject".into(), Value::Bool(s.force_object));
            e.insert("Sha".into(), Value::String(s.sha.clone()));
            m.insert(k.clone(), Value::Object(e));
        }
        Ok(pv_fs::write_atomic(
            self.pvr_dir().join("new"),
            &pv_json::to_canonical(&Value::Object(m)),
        )?)
    }

    /// Forget staged paths.
    pub fn clear_staged(&self) -> Result<()> {
        Ok(pv_fs::remove_durable(&self.pvr_dir().join("new"))?)
    }

    /// Durably write `.pvr/config`.
    pub fn save_config(&self) -> Result<()> {
        Ok(pv_fs::write_atomic(
            self.pvr_dir().join("config"),
            &self.config.to_bytes(),
        )?)
    }

    /// The last commit message.
    pub fn commit_message(&self) -> Option<String> {
        fs::read_to_string(self.pvr_dir().join("commitmsg")).ok()
    }
}
