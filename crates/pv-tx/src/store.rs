//! The transaction directory (`$PVTXDIR`): one record file holding the
//! transaction's status, kind and state, replaced atomically
//! (`pv_fs::write_atomic`) by every operation, so that a killed pvtx
//! leaves either the previous transaction or the new one; and a lock file
//! that serializes operations (several shells, the LAN endpoint's
//! workers).

use std::fs::File;
use std::path::{Path, PathBuf};

use pv_types::State;
use serde::{Deserialize, Serialize};

use crate::{Result, TxError};

/// The record's file name.
pub const RECORD: &str = "transaction.json";
const LOCK: &str = ".lock";

/// Where a transaction is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being edited.
    Active,
    /// A queue is set up; `begin` or `queue process` starts its transaction.
    Queued,
    /// Sent to the device as a revision.
    Committed,
    /// Written to a directory.
    Deployed,
}

/// A queue of steps (`pvtx queue …`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueInfo {
    pub dir: PathBuf,
    /// Steps recorded so far (numbers the next one).
    pub count: u32,
}

/// The transaction record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub status: Status,
    /// The object directory of a local transaction; none for a remote one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueInfo>,
    /// Object directories a remote transaction's commit may upload from
    /// (the pool of a checkout or the `objects/` of an unpacked export it
    /// began from).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<PathBuf>,
    /// The revision a commit created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    pub state: serde_json::Map<String, serde_json::Value>,
}

impl Record {
    pub fn new(status: Status, objects: Option<PathBuf>, state: State) -> Record {
        Record {
            status,
            objects,
            queue: None,
            sources: vec![],
            revision: None,
            state: state.into_map(),
        }
    }

    pub fn state(&self) -> State {
        State::from_map(self.state.clone())
    }

    pub fn set_state(&mut self, s: State) {
        self.state = s.into_map();
    }

    pub fn is_active(&self) -> bool {
        self.status == Status::Active
    }
}

/// The transaction directory, locked for the life of this value.
pub struct TxDir {
    dir: PathBuf,
    _lock: File,
}

impl TxDir {
    /// Open (creating) `dir` and take its lock; with `wait`, waiting for
    /// another operation to end, else failing with [`TxError::Busy`].
    pub fn lock(dir: &Path, wait: bool) -> Result<TxDir> {
        std::fs::create_dir_all(dir)
            .map_err(|e| pv_fs::FsError::new("create directory", dir, e))?;
        let path = dir.join(LOCK);
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| pv_fs::FsError::new("open", &path, e))?;
        let op = if wait {
            rustix::fs::FlockOperation::LockExclusive
        } else {
            rustix::fs::FlockOperation::NonBlockingLockExclusive
        };
        match rustix::fs::flock(&f, op) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => return Err(TxError::Busy),
            Err(e) => return Err(pv_fs::FsError::new("lock", &path, e.into()).into()),
        }
        Ok(TxDir {
            dir: dir.to_path_buf(),
            _lock: f,
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn record_path(&self) -> PathBuf {
        self.dir.join(RECORD)
    }

    /// The record, if there is one.
    pub fn load(&self) -> Result<Option<Record>> {
        let p = self.record_path();
        let bytes = match std::fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(pv_fs::FsError::new("read", &p, e).into()),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| TxError::Record {
                path: p,
                msg: e.to_string(),
            })
    }

    /// The record of the active transaction.
    pub fn active(&self) -> Result<Record> {
        match self.load()? {
            Some(r) if r.is_active() => Ok(r),
            _ => Err(TxError::NoTransaction),
        }
    }

    /// Replace the record, durably and atomically.
    pub fn save(&self, r: &Record) -> Result<()> {
        let bytes = serde_json::to_vec(r).expect("a record serializes");
        pv_fs::write_atomic(self.record_path(), &bytes)?;
        Ok(())
    }

    /// Remove the record (no transaction, no queue).
    pub fn clear(&self) -> Result<()> {
        Ok(pv_fs::remove_durable(&self.record_path())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_operation_at_a_time() {
        let d = tempfile::tempdir().unwrap();
        let held = TxDir::lock(d.path(), true).unwrap();
        assert!(matches!(TxDir::lock(d.path(), false), Err(TxError::Busy)));
        drop(held);
        let again = TxDir::lock(d.path(), false).unwrap();
        let rec = Record::new(
            Status::Active,
            None,
            State::new(pv_types::SPEC_SERVICE_SYSTEM),
        );
        again.save(&rec).unwrap();
        assert_eq!(again.active().unwrap(), rec);
        again.clear().unwrap();
        assert!(matches!(again.active(), Err(TxError::NoTransaction)));
    }
}
