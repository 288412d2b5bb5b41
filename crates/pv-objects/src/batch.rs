//! Objects written by several producers (e.g. parallel downloads) and made
//! durable together by one [`pv_fs::publish`].

use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

use pv_fs::PendingRename;
use pv_types::ObjectId;

use crate::{ObjectError, ObjectStore};

/// Objects written to temp files, named only by [`Batch::publish`].
/// Dropping an unpublished batch removes its temp files.
#[derive(Debug)]
pub struct Batch<'a> {
    store: &'a ObjectStore,
    pending: Mutex<Vec<PendingRename>>,
}

impl ObjectStore {
    /// Start a batch of writes into this store.
    pub fn batch(&self) -> Batch<'_> {
        Batch {
            store: self,
            pending: Mutex::new(vec![]),
        }
    }
}

impl Batch<'_> {
    /// Stream `r` into a temp file of the store, hashing it; with
    /// `expected` the content must hash to it. `what` names the source in
    /// errors. The object exists only once the batch is published.
    pub fn put_reader(
        &self,
        r: impl Read,
        expected: Option<&ObjectId>,
        what: &Path,
    ) -> Result<ObjectId, ObjectError> {
        let (id, pending) = self.store.write_temp(r, expected, what)?;
        if let Some(p) = pending {
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(p);
        }
        Ok(id)
    }

    /// Make every object of the batch durable with one flush, then give
    /// each its name. Returns how many objects were written.
    pub fn publish(self) -> Result<usize, ObjectError> {
        let pending = self.pending.into_inner().unwrap_or_else(|e| e.into_inner());
        let n = pending.len();
        pv_fs::publish(self.store.dir(), pending)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_appear_only_when_published() {
        let d = tempfile::tempdir().unwrap();
        let s = ObjectStore::open(d.path().join("objects")).unwrap();
        let b = s.batch();
        let a = b.put_reader(&b"one"[..], None, Path::new("a")).unwrap();
        let id = ObjectId::of(b"two");
        b.put_reader(&b"two"[..], Some(&id), Path::new("b"))
            .unwrap();
        let wrong = b.put_reader(&b"three"[..], Some(&id), Path::new("c"));
        assert!(matches!(wrong, Err(ObjectError::Mismatch { .. })));
        assert!(!s.contains(&a) && !s.contains(&id));
        assert_eq!(b.publish().unwrap(), 2);
        assert_eq!(s.list().unwrap().len(), 2);
        s.verify(&a).unwrap();
        s.verify(&id).unwrap();
        assert_eq!(s.clean_temp().unwrap(), 0);
    }

    #[test]
    fn a_dropped_batch_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let s = ObjectStore::open(d.path().join("objects")).unwrap();
        let b = s.batch();
        b.put_reader(&b"one"[..], None, Path::new("a")).unwrap();
        drop(b);
        assert_eq!(std::fs::read_dir(s.dir()).unwrap().count(), 0);
    }
}
