//! Read access to the files of an image on disk: a directory (OCI layout)
//! or a tarball (`docker save`, OCI archive) indexed once so members are
//! read in place without unpacking.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use pv_fs::IoResultExt;

use crate::error::{AppError, Result};

/// Where an image's files live.
#[derive(Debug)]
pub enum BlobStore {
    Dir(PathBuf),
    Tar {
        path: PathBuf,
        /// member name → (data offset, size)
        index: HashMap<String, (u64, u64)>,
    },
}

impl BlobStore {
    /// Index an uncompressed tarball. Member names are normalised (no `./`).
    pub fn open_tar(path: &Path) -> Result<Self> {
        let f = File::open(path).at("open", path)?;
        let mut ar = tar::Archive::new(f);
        let mut index = HashMap::new();
        let entries = ar
            .entries_with_seek()
            .map_err(|e| AppError::image(path.display().to_string(), e))?;
        for e in entries {
            let e = e.map_err(|e| AppError::image(path.display().to_string(), e))?;
            if !matches!(
                e.header().entry_type(),
                tar::EntryType::Regular | tar::EntryType::Continuous
            ) {
                continue;
            }
            let name = e.path_bytes();
            let name = String::from_utf8_lossy(&name);
            let name = name.trim_start_matches("./").to_string();
            index.insert(name, (e.raw_file_position(), e.size()));
        }
        Ok(BlobStore::Tar {
            path: path.to_path_buf(),
            index,
        })
    }

    /// A short name for messages.
    pub fn describe(&self) -> String {
        match self {
            BlobStore::Dir(p) | BlobStore::Tar { path: p, .. } => p.display().to_string(),
        }
    }

    pub fn exists(&self, rel: &str) -> bool {
        match self {
            BlobStore::Dir(d) => pv_fs::validate_rel_path(rel).is_ok() && d.join(rel).is_file(),
            BlobStore::Tar { index, .. } => index.contains_key(rel),
        }
    }

    /// Open a member for reading, with its size.
    pub fn open(&self, rel: &str) -> Result<(Box<dyn Read + Send>, u64)> {
        let missing = || AppError::image(self.describe(), format!("missing {rel}"));
        match self {
            BlobStore::Dir(d) => {
                pv_fs::validate_rel_path(rel).map_err(|e| AppError::image(self.describe(), e))?;
                let p = d.join(rel);
                let f = File::open(&p).map_err(|_| missing())?;
                let size = f.metadata().at("stat", &p)?.len();
                Ok((Box::new(f), size))
            }
            BlobStore::Tar { path, index } => {
                let &(off, size) = index.get(rel).ok_or_else(missing)?;
                let mut f = File::open(path).at("open", path)?;
                f.seek(SeekFrom::Start(off)).at("seek", path)?;
                Ok((Box::new(f.take(size)), size))
            }
        }
    }

    /// Read a small member (manifests, configs) whole.
    pub fn read(&self, rel: &str) -> Result<Vec<u8>> {
        let (mut r, size) = self.open(rel)?;
        if size > 64 << 20 {
            return Err(AppError::image(
                self.describe(),
                format!("{rel} is too large"),
            ));
        }
        let mut buf = Vec::with_capacity(size as usize);
        r.read_to_end(&mut buf)
            .map_err(|e| AppError::image(self.describe(), format!("read {rel}: {e}")))?;
        Ok(buf)
    }

    /// The member holding blob `sha256:<hex>` in an OCI layout.
    pub fn blob_path(digest: &str) -> Result<String> {
        let (alg, hex) = digest
            .split_once(':')
            .ok_or_else(|| AppError::image(digest, "malformed digest"))?;
        if alg != "sha256" || hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AppError::image(digest, "unsupported digest"));
        }
        Ok(format!("blobs/sha256/{hex}"))
    }
}

/// True if the tarball at `path` looks like an image (`docker save` or OCI
/// archive): it has `manifest.json` or `oci-layout` among its top members.
pub fn tar_is_image(store: &BlobStore) -> bool {
    store.exists("manifest.json") || store.exists("oci-layout")
}
