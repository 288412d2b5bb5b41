//! Paths inside a container, reached from the host through
//! `/proc/<pid>/root` and resolved as the container would resolve them:
//! every lookup is `openat2(RESOLVE_IN_ROOT)` from the container's root,
//! so that a symlink the container planted cannot send the mesh (root on
//! the host) to a host path. Sockets are bound and connected through
//! `/proc/self/fd/<dir>/<name>` of a directory opened that way.
//!
//! No descriptor of a container's filesystem is kept: each operation opens
//! what it needs and closes it (a kept one would pin the container's mounts
//! after it stops).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use rustix::fs::{openat2, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::Error;

/// A path inside container `pid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InContainer {
    pub pid: i32,
    /// Absolute inside the container (checked by the graph).
    pub path: String,
}

fn io(op: &'static str, at: &InContainer, e: impl Into<std::io::Error>) -> Error {
    let path = if at.pid == 0 {
        at.path.clone()
    } else {
        format!("/proc/{}/root{}", at.pid, at.path)
    };
    Error::io(op, path, e.into())
}

impl InContainer {
    pub fn new(pid: i32, path: &str) -> InContainer {
        InContainer {
            pid,
            path: path.to_string(),
        }
    }

    /// A path on the host (pid 0: the mesh's own root), for what the
    /// runtime itself serves (the hosted bus's socket).
    pub fn host(path: &str) -> InContainer {
        InContainer::new(0, path)
    }

    fn root(&self) -> Result<OwnedFd, Error> {
        let p = if self.pid == 0 {
            "/".to_string()
        } else {
            format!("/proc/{}/root", self.pid)
        };
        rustix::fs::open(
            p.as_str(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io("open the root of", self, e))
    }

    /// The parent directory's components and the last name.
    fn split(&self) -> Result<(Vec<&str>, &str), Error> {
        let parts: Vec<&str> = self.path.split('/').filter(|c| !c.is_empty()).collect();
        match parts.split_last() {
            Some((name, dirs)) if !parts.contains(&"..") => Ok((dirs.to_vec(), name)),
            _ => Err(io("resolve", self, Errno::INVAL)),
        }
    }

    /// Open the parent directory (confined), creating missing directories
    /// (0755) when `create`.
    fn parent(&self, create: bool) -> Result<(OwnedFd, String), Error> {
        let root = self.root()?;
        let (dirs, name) = self.split()?;
        let how = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let mut dir = root
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| io("dup", self, e))?;
        for (i, _) in dirs.iter().enumerate() {
            let prefix = dirs[..=i].join("/");
            let r = openat2(
                &root,
                prefix.as_str(),
                how,
                Mode::empty(),
                ResolveFlags::IN_ROOT,
            );
            dir = match r {
                Ok(fd) => fd,
                Err(Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(&dir, dirs[i], Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(io("create a directory for", self, e)),
                    }
                    openat2(
                        &root,
                        prefix.as_str(),
                        how,
                        Mode::empty(),
                        ResolveFlags::IN_ROOT,
                    )
                    .map_err(|e| io("open the directory of", self, e))?
                }
                Err(e) => return Err(io("open the directory of", self, e)),
            };
        }
        Ok((dir, name.to_string()))
    }

    /// What is at the path (not following a last symlink), if anything.
    pub fn file_type(&self) -> Result<Option<(FileType, u64)>, Error> {
        let (dir, name) = match self.parent(false) {
            Ok(x) => x,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        match rustix::fs::statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some((FileType::from_raw_mode(st.st_mode), st.st_rdev))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(io("stat", self, e)),
        }
    }

    /// Bind a listening socket at the path (a socket left there by an
    /// earlier link is replaced; anything else is refused), mode 0666.
    pub fn bind(&self) -> Result<UnixListener, Error> {
        let (dir, name) = self.parent(true)?;
        match rustix::fs::statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Socket => {
                rustix::fs::unlinkat(&dir, name.as_str(), AtFlags::empty())
                    .map_err(|e| io("replace", self, e))?;
            }
            Ok(_) => return Err(io("bind (something else is there)", self, Errno::EXIST)),
            Err(Errno::NOENT) => {}
            Err(e) => return Err(io("stat", self, e)),
        }
        let l = UnixListener::bind(via(&dir, &name)).map_err(|e| io("bind", self, e))?;
        rustix::fs::chmodat(
            &dir,
            name.as_str(),
            Mode::from_raw_mode(0o666),
            AtFlags::empty(),
        )
        .map_err(|e| io("chmod", self, e))?;
        Ok(l)
    }

    /// Connect to the socket at the path.
    pub fn connect(&self) -> Result<UnixStream, Error> {
        self.connect_as(None)
    }

    /// Connect as `(uid, gid)` when given: the path is resolved as root,
    /// then this thread alone takes the ids for the `connect` (the peer
    /// sees them in `SO_PEERCRED`) and gives them back.
    pub fn connect_as(&self, ids: Option<(u32, u32)>) -> Result<UnixStream, Error> {
        use rustix::process::{Gid, Uid};
        let (dir, name) = self.parent(false)?;
        let at = via(&dir, &name);
        let Some((uid, gid)) = ids else {
            return UnixStream::connect(at).map_err(|e| io("connect to", self, e));
        };
        let r = rustix::thread::set_thread_res_gid(None, Gid::from_raw(gid), None)
            .and_then(|_| rustix::thread::set_thread_res_uid(None, Uid::from_raw(uid), None))
            .map_err(|e| io("take the role's ids for", self, e))
            .and_then(|_| UnixStream::connect(&at).map_err(|e| io("connect to", self, e)));
        let back = rustix::thread::set_thread_res_uid(None, Uid::ROOT, None)
            .and_then(|_| rustix::thread::set_thread_res_gid(None, Gid::ROOT, None));
        if let Err(e) = back {
            // a thread that cannot be root again must not serve anything
            panic!("cannot restore root ids: {e}");
        }
        r
    }

    /// Remove the path if it is of type `kind` (what a link created).
    pub fn remove(&self, kind: FileType) -> Result<(), Error> {
        let (dir, name) = self.parent(false)?;
        match rustix::fs::statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == kind => {
                rustix::fs::unlinkat(&dir, name.as_str(), AtFlags::empty())
                    .map_err(|e| io("remove", self, e))
            }
            _ => Ok(()),
        }
    }

    /// Create a character device node (`rdev`) at the path, mode 0660;
    /// one already there with the same number is kept.
    pub fn mknod_char(&self, rdev: u64) -> Result<(), Error> {
        let (dir, name) = self.parent(true)?;
        match rustix::fs::statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st)
                if FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice
                    && st.st_rdev == rdev =>
            {
                return Ok(())
            }
            Ok(_) => {
                return Err(io(
                    "create a node (something else is there)",
                    self,
                    Errno::EXIST,
                ))
            }
            Err(Errno::NOENT) => {}
            Err(e) => return Err(io("stat", self, e)),
        }
        rustix::fs::mknodat(
            &dir,
            name.as_str(),
            FileType::CharacterDevice,
            Mode::from_raw_mode(0o660),
            rdev,
        )
        .map_err(|e| io("create a device node at", self, e))
    }

    /// Read a (small) file.
    pub fn read(&self) -> Result<Vec<u8>, Error> {
        let root = self.root()?;
        let rel = self.path.trim_start_matches('/');
        let fd = openat2(
            &root,
            rel,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT,
        )
        .map_err(|e| io("open", self, e))?;
        let mut f = std::fs::File::from(fd);
        let mut out = vec![];
        std::io::Read::read_to_end(&mut std::io::Read::take(&mut f, 1 << 20), &mut out)
            .map_err(|e| io("read", self, e))?;
        Ok(out)
    }
}

/// Whether process `pid` has its own root yet. A container's init is
/// cloned in the runtime's mount namespace and pivots into its root
/// filesystem only after it mounted everything: until then its
/// `/proc/<pid>/root` is the host's root, and a link made through it would
/// bind sockets, make nodes and read `/etc/passwd` on the host.
pub fn has_own_root(pid: i32) -> bool {
    let theirs = rustix::fs::stat(format!("/proc/{pid}/root").as_str());
    let ours = rustix::fs::stat("/proc/self/root");
    match (theirs, ours) {
        (Ok(t), Ok(o)) => (t.st_dev, t.st_ino) != (o.st_dev, o.st_ino),
        _ => false,
    }
}

/// `/proc/self/fd/<dir>/<name>`: a path the kernel resolves through the
/// open directory (inside the container) without another lookup.
fn via(dir: &OwnedFd, name: &str) -> PathBuf {
    Path::new("/proc/self/fd")
        .join(dir.as_raw_fd().to_string())
        .join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our own root stands in for a container's: the confinement makes
    /// `/proc/<pid>/root` a root even for symlinks that point outside.
    #[test]
    fn symlinks_stay_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        // a "container" whose /run is a symlink to an absolute path
        let me = std::process::id() as i32;
        let base = d.path().strip_prefix("/").unwrap().to_str().unwrap();
        std::os::unix::fs::symlink("/nonexistent-xc", d.path().join("run")).unwrap();
        let at = InContainer::new(me, &format!("/{base}/run/x.sock"));
        // the absolute symlink resolves from the root, where nothing is
        assert!(at.connect().is_err());
        let real = InContainer::new(me, &format!("/{base}/sub/dir/x.sock"));
        let l = real.bind().unwrap();
        let c = real.connect().unwrap();
        drop((l, c));
        assert_eq!(
            real.file_type().unwrap().map(|t| t.0),
            Some(FileType::Socket)
        );
        real.remove(FileType::Socket).unwrap();
        assert!(real.file_type().unwrap().is_none());
        let bad = InContainer::new(me, &format!("/{base}/../x"));
        assert!(bad.bind().is_err());
    }

    /// A process sharing our root (a container's init before its pivot)
    /// has none of its own (the other case: the containers of the e2e
    /// suite, linked only once it holds).
    #[test]
    fn a_shared_root_is_not_ones_own() {
        assert!(!has_own_root(std::process::id() as i32));
        assert!(!has_own_root(i32::MAX), "no such process");
    }
}
