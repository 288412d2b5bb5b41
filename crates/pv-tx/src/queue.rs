//! Queue mode: steps recorded in a directory, in order, then replayed into
//! one local transaction by `queue process`.
//!
//! A step is `<NNN>__<part>.remove` (an empty file; `/` in the part
//! written `%2F`) or `<NNN>__<name>/json` (a package's state; its objects
//! went to the queue's object directory when it was unpacked).

use std::io::Read;
use std::path::{Path, PathBuf};

use pv_objects::ObjectStore;
use pv_types::State;

use crate::package::{self, parse_state};
use crate::sink::DirSink;
use crate::store::{QueueInfo, Record, Status, TxDir};
use crate::txn::{Base, Pvtx};
use crate::{merge, Result, TxError};

fn encode(part: &str) -> String {
    part.replace('%', "%25").replace('/', "%2F")
}

fn decode(name: &str) -> String {
    name.replace("%2F", "/")
        .replace("%2f", "/")
        .replace("%25", "%")
}

fn absolute(p: &Path) -> PathBuf {
    std::env::current_dir()
        .map(|d| d.join(p))
        .unwrap_or_else(|_| p.to_path_buf())
}

impl Pvtx {
    /// `queue new <queue> <object>`: set up an empty queue.
    pub fn queue_new(&self, queue: &Path, objects: &Path) -> Result<()> {
        let dir = self.lock()?;
        queue_new_in(&dir, queue, objects)
    }

    fn queue_of(dir: &TxDir) -> Result<(Record, QueueInfo)> {
        let rec = dir.load()?;
        match rec {
            Some(r) => match r.queue.clone() {
                Some(q) if q.dir.is_dir() => Ok((r, q)),
                Some(q) => Err(TxError::NoQueue(q.dir.display().to_string())),
                None => Err(TxError::NoQueue(String::new())),
            },
            None => Err(TxError::NoQueue(String::new())),
        }
    }

    /// `queue remove <part>`: record a removal.
    pub fn queue_remove(&self, part: &str) -> Result<PathBuf> {
        let dir = self.lock()?;
        let (mut rec, mut q) = Self::queue_of(&dir)?;
        if part.is_empty() {
            return Err(TxError::bad("missing argument 'part'"));
        }
        let file = q
            .dir
            .join(format!("{:03}__{}.remove", q.count, encode(part)));
        pv_fs::write_atomic(&file, b"")?;
        q.count += 1;
        rec.queue = Some(q);
        dir.save(&rec)?;
        Ok(file)
    }

    /// `queue unpack <file>`: record a package (a tarball or a state JSON).
    pub fn queue_unpack_file(&self, path: &Path) -> Result<PathBuf> {
        let f = std::fs::File::open(path).map_err(|e| pv_fs::FsError::new("open", path, e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "package".into());
        self.queue_unpack_reader(f, &path.display().to_string(), &name)
    }

    /// `queue unpack -`: record a package read from `r`, as step `name`.
    pub fn queue_unpack_reader(&self, r: impl Read, what: &str, name: &str) -> Result<PathBuf> {
        let dir = self.lock()?;
        let (mut rec, mut q) = Self::queue_of(&dir)?;
        let objects = rec
            .objects
            .clone()
            .ok_or_else(|| TxError::NoQueue(q.dir.display().to_string()))?;
        let store = ObjectStore::open(&objects)?;
        let buf = self.options().object_buf;
        let pkg = package::read(r, what, buf, &mut DirSink::new(&store, buf))?;
        let name = if name.is_empty() || name.starts_with('.') || name.contains('/') {
            "package"
        } else {
            name
        };
        let step = q.dir.join(format!("{:03}__{name}", q.count));
        std::fs::create_dir_all(&step)
            .map_err(|e| pv_fs::FsError::new("create directory", &step, e))?;
        pv_fs::write_atomic(step.join("json"), &pkg.state.to_canonical())?;
        q.count += 1;
        rec.queue = Some(q);
        dir.save(&rec)?;
        Ok(step)
    }

    /// `queue process [base] [queue object]`: with a queue and object
    /// directory, set that queue up first; with a base, begin a (local)
    /// transaction from it; then replay every step, in name order, into
    /// the active transaction. A failing step changes nothing.
    pub fn queue_process(
        &self,
        base: Option<&Base>,
        queue: Option<(&Path, &Path)>,
    ) -> Result<State> {
        let dir = self.lock()?;
        if let Some((q, o)) = queue {
            queue_new_in(&dir, q, o)?;
        }
        let (_, q) = Self::queue_of(&dir)?;
        if let Some(b) = base {
            self.begin_in(&dir, b, None)?;
        }
        let mut rec = dir.active()?;
        let mut names: Vec<(String, bool)> = std::fs::read_dir(&q.dir)
            .map_err(|e| pv_fs::FsError::new("read directory", &q.dir, e))?
            .flatten()
            .filter_map(|e| {
                let is_dir = e.file_type().ok()?.is_dir();
                Some((e.file_name().to_string_lossy().into_owned(), is_dir))
            })
            .filter(|(n, _)| !pv_fs::is_temp_name(n))
            .collect();
        names.sort();
        let mut state = rec.state();
        for (name, is_dir) in names {
            if let Some(stem) = name.strip_suffix(".remove").filter(|_| !is_dir) {
                let part = decode(stem.get(5..).unwrap_or(""));
                state = merge::remove(&state, &part)
                    .ok_or_else(|| TxError::NoSuchPart(part.clone()))?;
            } else if is_dir {
                let json = q.dir.join(&name).join("json");
                let bytes =
                    std::fs::read(&json).map_err(|e| pv_fs::FsError::new("read", &json, e))?;
                let pkg = parse_state(&bytes, &json.display().to_string())?;
                state = merge::add(&state, &pkg);
            }
        }
        rec.set_state(state.clone());
        dir.save(&rec)?;
        Ok(state)
    }
}

fn queue_new_in(dir: &TxDir, queue: &Path, objects: &Path) -> Result<()> {
    if dir.load()?.is_some_and(|r| r.is_active()) {
        return Err(TxError::ActiveForQueue);
    }
    let queue = absolute(queue);
    std::fs::create_dir_all(&queue)
        .map_err(|e| pv_fs::FsError::new("create directory", &queue, e))?;
    let mut rec = Record::new(
        Status::Queued,
        Some(absolute(objects)),
        State::new(pv_types::SPEC_SERVICE_SYSTEM),
    );
    rec.queue = Some(QueueInfo {
        dir: queue,
        count: 0,
    });
    dir.save(&rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_round_trip() {
        for p in ["nginx", "_config/nginx", "_sigs/a%2F.json"] {
            assert_eq!(decode(&encode(p)), p);
        }
        assert_eq!(encode("_config/nginx"), "_config%2Fnginx");
    }
}
