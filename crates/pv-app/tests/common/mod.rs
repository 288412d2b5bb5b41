//! Test images made here: a busybox rootfs (Debian `busybox-static`), layer
//! tarballs, `docker save` archives and OCI layouts written by hand.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use pv_app::{AppEnv, NoProgress};
use pv_types::State;
use sha2::{Digest, Sha256};

pub const BUSYBOX: &str = "/bin/busybox";

/// A checkout with a device.json whose last group is `app`.
pub struct Checkout {
    pub tmp: tempfile::TempDir,
    pub state: State,
}

impl Checkout {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("repo")).unwrap();
        let state = State::from_slice(
            br##"{"#spec":"pantavisor-service-system@1","device.json":{"groups":[{"name":"data"},{"name":"root"},{"name":"platform"},{"name":"app"}]}}"##,
        )
        .unwrap();
        Checkout { tmp, state }
    }
    pub fn dir(&self) -> PathBuf {
        self.tmp.path().join("repo")
    }
    pub fn cache(&self) -> PathBuf {
        self.tmp.path().join("cache")
    }
    pub fn env<'a>(&'a self, dir: &'a Path, cache: &'a Path) -> AppEnv<'a> {
        AppEnv {
            checkout: dir,
            pristine: &self.state,
            cache_dir: cache,
            progress: &NoProgress,
        }
    }
    /// Every path under the checkout (to show nothing changed).
    pub fn listing(&self) -> Vec<String> {
        let mut v: Vec<String> = walk(&self.dir());
        v.sort();
        v
    }
}

fn walk(d: &Path) -> Vec<String> {
    let mut out = vec![];
    for e in std::fs::read_dir(d).unwrap().flatten() {
        out.push(e.path().display().to_string());
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        }
    }
    out
}

/// A small rootfs: busybox with a few applet links, /etc files, a hard link.
pub fn busybox_rootfs(dir: &Path) {
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::create_dir_all(dir.join("usr/bin")).unwrap();
    std::fs::copy(BUSYBOX, dir.join("bin/busybox")).unwrap();
    for applet in ["sh", "ls", "echo", "cat"] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).unwrap();
    }
    std::fs::write(dir.join("etc/hostname"), "pv\n").unwrap();
    std::fs::write(dir.join("etc/removed"), "lower\n").unwrap();
    std::fs::write(dir.join("usr/bin/qemu-arm-static"), "qemu\n").unwrap();
    std::fs::create_dir_all(dir.join("opq")).unwrap();
    std::fs::write(dir.join("opq/old"), "old\n").unwrap();
    std::fs::hard_link(dir.join("etc/hostname"), dir.join("etc/hostname.link")).unwrap();
}

/// A tar entry for hand-made layers.
pub enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
}

/// A layer tarball from entries (fixed mtime 1000, root owned).
pub fn layer(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1000);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            E::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            E::File(p, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                append_raw_name(&mut b, &mut h, p, data);
            }
            E::Symlink(p, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, t).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// Append with the name written as is (the tar crate refuses `..`).
fn append_raw_name(b: &mut tar::Builder<Vec<u8>>, h: &mut tar::Header, name: &str, data: &[u8]) {
    let bytes = name.as_bytes();
    let gnu = h.as_gnu_mut().unwrap();
    gnu.name[..bytes.len()].copy_from_slice(bytes);
    h.set_cksum();
    b.append(h, data).unwrap();
}

/// A layer tarball of a directory tree (symlinks kept).
pub fn layer_of_dir(dir: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Deterministic);
    b.append_dir_all(".", dir).unwrap();
    b.into_inner().unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn config_json(arch: &str, layers_uncompressed: &[&[u8]]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers_uncompressed
        .iter()
        .map(|l| format!("\"sha256:{}\"", sha(l)))
        .collect();
    format!(
        r#"{{"architecture":"{arch}","os":"linux","config":{{"Cmd":["/bin/sh","-c","echo hi"],"Env":["PATH=/bin"],"WorkingDir":"/","Volumes":{{"/data":{{}}}}}},"rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
        diff_ids.join(",")
    )
    .into_bytes()
}

fn put_blob(dir: &Path, data: &[u8]) -> String {
    let h = sha(data);
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("blobs/sha256").join(&h), data).unwrap();
    h
}

/// One image manifest in an OCI layout; returns (manifest sha, size).
pub fn oci_image(dir: &Path, arch: &str, layers: &[Vec<u8>]) -> (String, usize) {
    let raw: Vec<&[u8]> = layers.iter().map(|l| l.as_slice()).collect();
    let cfg = config_json(arch, &raw);
    let cfg_sha = put_blob(dir, &cfg);
    let mut descs = vec![];
    for l in layers {
        let gz = gzip(l);
        let h = put_blob(dir, &gz);
        descs.push(format!(
            r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:{h}","size":{}}}"#,
            gz.len()
        ));
    }
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{cfg_sha}","size":{}}},"layers":[{}]}}"#,
        cfg.len(),
        descs.join(",")
    );
    (put_blob(dir, manifest.as_bytes()), manifest.len())
}

/// An OCI layout with one image tagged `tag`. Returns the manifest digest.
pub fn oci_layout(dir: &Path, tag: &str, layers: &[Vec<u8>]) -> String {
    let (m, size) = oci_image(dir, "amd64", layers);
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{m}","size":{size},"annotations":{{"org.opencontainers.image.ref.name":"{tag}"}}}}]}}"#
        ),
    )
    .unwrap();
    format!("sha256:{m}")
}

/// An OCI layout whose `tag` is a multi-arch index (amd64, arm64 in that
/// order). Returns the arm64 manifest digest.
pub fn oci_layout_multiarch(dir: &Path, tag: &str, amd64: &[Vec<u8>], arm64: &[Vec<u8>]) -> String {
    let (a, asz) = oci_image(dir, "amd64", amd64);
    let (b, bsz) = oci_image(dir, "arm64", arm64);
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{a}","size":{asz},"platform":{{"architecture":"amd64","os":"linux"}}}},{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{b}","size":{bsz},"platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}}]}}"#
    );
    let i = put_blob(dir, index.as_bytes());
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:{i}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"{tag}"}}}}]}}"#,
            index.len()
        ),
    )
    .unwrap();
    format!("sha256:{b}")
}

/// A legacy `docker save` tarball (manifest.json + <id>/layer.tar).
/// Returns the image id (config digest).
pub fn docker_archive(path: &Path, repo_tag: &str, layers: &[Vec<u8>]) -> String {
    let raw: Vec<&[u8]> = layers.iter().map(|l| l.as_slice()).collect();
    let cfg = config_json("amd64", &raw);
    let cfg_sha = sha(&cfg);
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        b.append_data(&mut h, name, data).unwrap();
    };
    let mut names = vec![];
    for l in layers {
        let id = sha(l);
        add(&format!("{id}/layer.tar"), l);
        names.push(format!("\"{id}/layer.tar\""));
    }
    add(&format!("{cfg_sha}.json"), &cfg);
    let manifest = format!(
        r#"[{{"Config":"{cfg_sha}.json","RepoTags":["{repo_tag}"],"Layers":[{}]}}]"#,
        names.join(",")
    );
    add("manifest.json", manifest.as_bytes());
    b.finish().unwrap();
    format!("sha256:{cfg_sha}")
}

/// `unsquashfs -lln` lines as "<perms> <uid>/<gid> <path>".
pub fn squash_listing(image: &Path) -> Vec<String> {
    pv_app::squashfs::list(image)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let path_at = l.find("squashfs-root")?;
            Some(format!(
                "{} {} {}",
                f[0],
                f[1],
                &l[path_at + "squashfs-root".len()..]
            ))
        })
        .collect()
}

pub fn has_path(listing: &[String], path: &str) -> bool {
    listing.iter().any(|l| {
        l.split(' ')
            .nth(2)
            .is_some_and(|p| p == path || p.starts_with(&format!("{path} -> ")))
    })
}
