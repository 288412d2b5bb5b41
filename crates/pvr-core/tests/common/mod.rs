#![allow(dead_code)]
use std::fs;
use std::path::{Path, PathBuf};

use pvr_core::progress::Progress;
use pvr_core::Repo;

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub repo: Repo,
}

impl Fixture {
    /// A committed repo with a bsp object, a container and inline JSON.
    pub fn committed() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        fs::create_dir_all(root.join("bsp")).unwrap();
        fs::create_dir_all(root.join("app")).unwrap();
        fs::write(root.join("bsp/kernel.img"), vec![7u8; 5000]).unwrap();
        fs::write(root.join("bsp/pantavisor"), b"initrd").unwrap();
        fs::write(
            root.join("bsp/run.json"),
            br#"{"linux":"kernel.img","initrd":"pantavisor"}"#,
        )
        .unwrap();
        fs::write(root.join("app/root.squashfs"), b"squash").unwrap();
        fs::write(
            root.join("app/run.json"),
            br##"{"#spec":"service-manifest-run@1","root-volume":"root.squashfs"}"##,
        )
        .unwrap();
        let repo = Repo::init(&root, &dir.path().join("cfg"), None, None).unwrap();
        pvr_core::working::add(&repo, &[], false, &Progress::quiet()).unwrap();
        pvr_core::commit::commit(
            &repo,
            Some("first"),
            &mut std::io::sink(),
            &Progress::quiet(),
        )
        .unwrap();
        Fixture { dir, repo }
    }

    pub fn root(&self) -> &Path {
        &self.repo.root
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn pristine_bytes(&self) -> Vec<u8> {
        fs::read(self.root().join(".pvr/json")).unwrap()
    }
}

/// A tar archive with the given (name, data) regular members.
pub fn tar_with(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // write the name bytes directly so that hostile names survive
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}
