//! `dm-crypt-versatile`: a LUKS2 image file opened with cryptsetup and
//! mounted as ext4.

use std::io::Read;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::{run, DiskEnv, Error, Result};

/// An opened crypt disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCrypt {
    pub mapper: String,
    pub mountpoint: PathBuf,
}

/// The device-mapper name of a disk.
pub fn mapper_name(disk: &str) -> String {
    format!("pv-crypt-{disk}")
}

/// The key file of a disk: the first of `env.key_dirs` that has it, else
/// a new random key kept in `env.key_store` (only when the image does not
/// exist yet: an existing image with a lost key is an error, not a reset).
pub fn key_file(env: &DiskEnv, disk: &str, key: &str, image_exists: bool) -> Result<PathBuf> {
    for d in &env.key_dirs {
        let p = d.join(key);
        if p.is_file() {
            return Ok(p);
        }
    }
    let p = env.key_store.join(key);
    if p.is_file() {
        return Ok(p);
    }
    if image_exists {
        return Err(Error::Definition {
            disk: disk.into(),
            detail: format!(
                "key {key} not found (looked in {} and {})",
                env.key_dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                env.key_store.display()
            ),
        });
    }
    let mut k = [0u8; 64];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut k))
        .map_err(|e| Error::Io {
            op: "read",
            path: "/dev/urandom".into(),
            source: e,
        })?;
    std::fs::create_dir_all(&env.key_store).map_err(|e| Error::Io {
        op: "create directory",
        path: env.key_store.clone(),
        source: e,
    })?;
    // created 0600: the key is never readable by others, not even briefly
    let mut f =
        pv_fs::AtomicFile::create_with_mode(&p, 0o600).map_err(|e| Error::Fs(e.to_string()))?;
    std::io::Write::write_all(&mut f, &k[..]).map_err(Error::io("write", &p))?;
    f.commit().map_err(|e| Error::Fs(e.to_string()))?;
    info!("disk {disk}: generated key {}", p.display());
    Ok(p)
}

fn marker(image: &Path) -> PathBuf {
    let mut s = image.as_os_str().to_owned();
    s.push(".init_done");
    PathBuf::from(s)
}

/// Create (first use), open and mount the disk at `mountpoint`.
pub fn open(
    env: &DiskEnv,
    disk: &str,
    image: &Path,
    size_mib: u64,
    key: &str,
    mount_options: Option<&str>,
    mountpoint: &Path,
) -> Result<OpenCrypt> {
    let io = Error::io;
    let exists = image.exists();
    let keyf = key_file(env, disk, key, exists)?;
    if !exists {
        let dir = image.parent().unwrap_or(Path::new("/"));
        std::fs::create_dir_all(dir).map_err(io("create directory", dir))?;
        let f = std::fs::File::create(image).map_err(io("create", image))?;
        f.set_len(size_mib << 20).map_err(io("size", image))?;
        f.sync_all().map_err(io("sync", image))?;
        let _ = std::fs::remove_file(marker(image));
        info!("disk {disk}: created {} ({size_mib} MiB)", image.display());
    }
    let mapper = mapper_name(disk);
    let mapped = Path::new("/dev/mapper").join(&mapper);
    if mapped.exists() {
        warn!("disk {disk}: {mapper} left open by a previous run: closing it");
        let _ = nix::mount::umount2(mountpoint, nix::mount::MntFlags::MNT_DETACH);
        let _ = run(disk, "cryptsetup", &["close", &mapper]);
    }
    let img = image.to_string_lossy();
    let kf = keyf.to_string_lossy();
    if run(disk, "cryptsetup", &["isLuks", &img]).is_err() {
        // no LUKS header: nothing is lost by formatting (a new image, or one
        // whose first format was interrupted)
        info!("disk {disk}: formatting {} as LUKS2", image.display());
        run(
            disk,
            "cryptsetup",
            &[
                "luksFormat",
                "--batch-mode",
                "--type",
                "luks2",
                "--pbkdf",
                "pbkdf2",
                "--pbkdf-force-iterations",
                "1000",
                // a small header (the default is 16 MiB): the original's
                // disks are a few MiB
                "--luks2-metadata-size",
                "16k",
                "--luks2-keyslots-size",
                "512k",
                "--key-file",
                &kf,
                &img,
            ],
        )?;
        let _ = std::fs::remove_file(marker(image));
    }
    run(
        disk,
        "cryptsetup",
        &["open", "--type", "luks2", "--key-file", &kf, &img, &mapper],
    )?;
    let dev = mapped.to_string_lossy().into_owned();
    let done = marker(image);
    let r = (|| {
        if !done.exists() {
            run(disk, "mkfs.ext4", &["-q", "-F", "-O", "^has_journal", &dev])?;
            pv_fs::write_atomic(&done, b"").map_err(|e| Error::Fs(e.to_string()))?;
        }
        std::fs::create_dir_all(mountpoint).map_err(io("create directory", mountpoint))?;
        crate::mount_dev(&dev, mountpoint, "ext4", mount_options)
    })();
    if let Err(e) = r {
        let _ = run(disk, "cryptsetup", &["close", &mapper]);
        return Err(e);
    }
    Ok(OpenCrypt {
        mapper,
        mountpoint: mountpoint.to_path_buf(),
    })
}

/// Unmount and close.
pub fn close(disk: &str, c: &OpenCrypt) -> Result<()> {
    crate::unmount(&c.mountpoint)?;
    run(disk, "cryptsetup", &["close", &c.mapper]).map(|_| ())
}
