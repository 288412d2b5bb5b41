//! The two places objects of a package go: an object directory (local
//! transactions) or the device's pool through its control socket
//! (remote ones). Both check every object against its name.

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::path::Path;

use pv_objects::{Batch, ObjectStore};
use pv_types::ObjectId;
use sha2::{Digest, Sha256};

use crate::ctrl::Device;
use crate::package::ObjectSink;
use crate::{Result, TxError};

/// Objects into a directory: hashed while written to temp files, named
/// only once all are durable (one flush for the package).
pub struct DirSink<'a> {
    store: &'a ObjectStore,
    batch: Option<Batch<'a>>,
    buf: usize,
}

impl<'a> DirSink<'a> {
    pub fn new(store: &'a ObjectStore, buf: usize) -> Self {
        DirSink {
            store,
            batch: Some(store.batch()),
            buf,
        }
    }
}

impl ObjectSink for DirSink<'_> {
    fn put(&mut self, id: &ObjectId, _size: u64, r: &mut dyn Read) -> Result<()> {
        if self.store.contains(id) && self.store.verify(id).is_ok() {
            return Ok(());
        }
        let batch = self.batch.as_ref().expect("sink used after finish");
        let r = io::BufReader::with_capacity(self.buf, r);
        batch.put_reader(r, Some(id), Path::new(&format!("objects/{id}")))?;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        if let Some(b) = self.batch.take() {
            b.publish()?;
        }
        Ok(())
    }
}

/// A reader that hashes what goes through it.
struct Hashing<'r> {
    inner: &'r mut dyn Read,
    hash: Sha256,
}

impl Read for Hashing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Objects uploaded to the device (`PUT /objects/<sha>`, which checks the
/// hash too); those it already has are skipped.
pub struct DeviceSink {
    device: Device,
    /// What the device has, asked once, at the first object.
    present: Option<BTreeSet<ObjectId>>,
}

impl DeviceSink {
    pub fn new(device: Device) -> Self {
        DeviceSink {
            device,
            present: None,
        }
    }
}

impl ObjectSink for DeviceSink {
    fn put(&mut self, id: &ObjectId, size: u64, r: &mut dyn Read) -> Result<()> {
        if self.present.is_none() {
            self.present = Some(self.device.objects()?);
        }
        let present = self.present.as_mut().expect("just set");
        if present.contains(id) {
            return Ok(());
        }
        let mut h = Hashing {
            inner: r,
            hash: Sha256::new(),
        };
        self.device.put_object(id, size, &mut h)?;
        let actual = hex::encode(h.hash.finalize());
        if actual != id.to_hex() {
            return Err(TxError::bad(format!(
                "content hashes to {actual}, not to its name"
            )));
        }
        present.insert(*id);
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
