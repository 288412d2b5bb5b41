//! One established link: its resource injected into the consumer at
//! `target`, and for socket types the proxy serving it.
//!
//! - `unix`, `wayland`: a listening socket at `target`; each connection is
//!   relayed to the provider's socket with descriptors kept.
//! - `rest`: the same, with the identity headers set ([`crate::rest`]).
//! - `dbus`: the same, through the D-Bus proxy ([`crate::dbus`]).
//! - `drm`: the provider's device node (`socket`, e.g. `/dev/dri/card0`)
//!   is created at `target` with the same device number.
//!
//! Dropping a link closes its listener and every connection it carries
//! and removes what it created in the consumer.

use std::collections::HashMap;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::fs::FileType;
use tracing::{debug, info, warn};

use crate::paths::InContainer;
use crate::{Error, Link};

/// The connections a proxy carries (the consumer's end, then the
/// provider's once connected), to close them with the link.
type Conns = Arc<Mutex<HashMap<u64, Vec<UnixStream>>>>;

/// A link in place.
#[derive(Debug)]
pub struct Active {
    pub link: Link,
    target: InContainer,
    made: FileType,
    proxy: Option<Proxy>,
}

#[derive(Debug)]
struct Proxy {
    listener: Arc<UnixListener>,
    stop: Arc<AtomicBool>,
    conns: Conns,
    acceptor: Option<JoinHandle<()>>,
}

/// What serves one accepted connection.
#[derive(Debug, Clone)]
enum Service {
    Relay,
    Rest(crate::rest::Identity),
    Dbus {
        uid: u32,
        gid: u32,
        policy: crate::dbus::Policy,
    },
}

impl Active {
    /// Whether what the link made is still visible at `target` (a mount
    /// the consumer made later, e.g. its /run tmpfs, can hide it).
    pub fn in_place(&self) -> bool {
        matches!(self.target.file_type(), Ok(Some((t, _))) if t == self.made)
    }

    /// Inject `link` into its consumer.
    pub fn establish(link: &Link) -> Result<Active, Error> {
        let target = InContainer::new(link.consumer_pid, &link.target);
        // the hosted bus's socket is a host path (provider `_pv_`, pid 0)
        let source = if link.is_hosted() {
            InContainer::host(&link.socket)
        } else {
            InContainer::new(link.provider_pid, &link.socket)
        };
        let service = match link.kind.as_str() {
            "drm" => {
                let (kind, rdev) = source.file_type()?.ok_or_else(|| {
                    Error::Manifest(link.provider.clone(), format!("no device {}", link.socket))
                })?;
                if kind != FileType::CharacterDevice {
                    return Err(Error::Manifest(
                        link.provider.clone(),
                        format!("{} is not a character device", link.socket),
                    ));
                }
                target.mknod_char(rdev)?;
                info!(
                    "link {} → {}: device {} at {}",
                    link.provider, link.consumer, link.socket, link.target
                );
                return Ok(Active {
                    link: link.clone(),
                    target,
                    made: FileType::CharacterDevice,
                    proxy: None,
                });
            }
            "unix" | "wayland" => Service::Relay,
            "rest" => Service::Rest(crate::rest::Identity {
                client: link.consumer.clone(),
                role: link.role.clone(),
            }),
            "dbus" => {
                let (uid, gid) = match link.uid.filter(|_| link.is_hosted()) {
                    // the runtime's role uid on its own bus
                    Some(uid) => (uid, uid),
                    None => {
                        let passwd = InContainer::new(link.provider_pid, "/etc/passwd")
                            .read()
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                            .unwrap_or_default();
                        crate::dbus::role_ids(&passwd, &link.role)
                    }
                };
                debug!(
                    "link {} → {}: role {} is uid {uid} gid {gid}",
                    link.provider, link.consumer, link.role
                );
                Service::Dbus {
                    uid,
                    gid,
                    policy: crate::dbus::Policy::new(
                        &link.interface,
                        link.owns.clone(),
                        link.allow.clone(),
                        &link.role,
                    ),
                }
            }
            other => {
                return Err(Error::Manifest(
                    link.provider.clone(),
                    format!("service type {other} cannot be injected"),
                ))
            }
        };
        let listener = Arc::new(target.bind()?);
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Conns = Arc::default();
        let acceptor = {
            let (l, stop, conns) = (listener.clone(), stop.clone(), conns.clone());
            let name = format!("{}→{}:{}", link.provider, link.consumer, link.name);
            std::thread::Builder::new()
                .name("xc-accept".into())
                .spawn(move || accept_loop(&l, &stop, &conns, &source, &service, &name))
                .map_err(|e| Error::io("start a thread for", &link.target, e))?
        };
        info!(
            "link {} → {}: {} {} at {}",
            link.provider, link.consumer, link.kind, link.name, link.target
        );
        Ok(Active {
            link: link.clone(),
            target,
            made: FileType::Socket,
            proxy: Some(Proxy {
                listener,
                stop,
                conns,
                acceptor: Some(acceptor),
            }),
        })
    }
}

/// How long a connection waits for the provider's socket to accept (a
/// provider whose daemon is still starting): a slow provider must not
/// cost the consumer its connection.
pub const CONNECT_WAIT: Duration = Duration::from_secs(10);

fn accept_loop(
    l: &UnixListener,
    stop: &Arc<AtomicBool>,
    conns: &Conns,
    source: &InContainer,
    service: &Service,
    name: &str,
) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    loop {
        let c = match l.accept() {
            Ok((c, _)) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                if !stop.load(Ordering::SeqCst) {
                    warn!("link {name}: accept: {e}");
                }
                return;
            }
        };
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        if let (Ok(c2), Ok(mut m)) = (c.try_clone(), conns.lock()) {
            m.insert(id, vec![c2]);
        }
        let (conns, service, source) = (conns.clone(), service.clone(), source.clone());
        let (stop, name2) = (stop.clone(), name.to_string());
        let spawned = std::thread::Builder::new()
            .name("xc-conn".into())
            .spawn(move || {
                match connect_waiting(&source, &service, &stop) {
                    Ok(p) => {
                        if let (Ok(p2), Ok(mut m)) = (p.try_clone(), conns.lock()) {
                            // absent: the link is being torn down
                            match m.get_mut(&id) {
                                Some(v) => v.push(p2),
                                None => return,
                            }
                        }
                        match service {
                            Service::Relay => crate::relay::both_ways(c, p),
                            Service::Rest(id) => crate::rest::serve(c, p, id),
                            Service::Dbus { uid, policy, .. } => {
                                crate::dbus::serve(c, p, uid, policy)
                            }
                        }
                    }
                    Err(e) => warn!("link {name2}: {}", crate::chain(&e)),
                }
                if let Ok(mut m) = conns.lock() {
                    m.remove(&id);
                }
            });
        if let Err(e) = spawned {
            warn!("link {name}: {e}");
        }
    }
}

/// Connect to the provider's socket, waiting up to [`CONNECT_WAIT`] while
/// it is not there or refuses (its daemon has not bound or listened yet).
fn connect_waiting(
    source: &InContainer,
    service: &Service,
    stop: &AtomicBool,
) -> Result<UnixStream, Error> {
    use std::io::ErrorKind::{ConnectionRefused, NotFound};
    let until = Instant::now() + CONNECT_WAIT;
    let mut pause = Duration::from_millis(10);
    loop {
        match connect(source, service) {
            Err(Error::Io { ref source, .. })
                if matches!(source.kind(), NotFound | ConnectionRefused)
                    && Instant::now() < until
                    && !stop.load(Ordering::SeqCst) =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(250));
            }
            r => return r,
        }
    }
}

/// Connect to the provider's socket; D-Bus links connect as the role's
/// uid and gid.
fn connect(source: &InContainer, service: &Service) -> Result<UnixStream, Error> {
    match service {
        Service::Dbus { uid, gid, .. } => source.connect_as(Some((*uid, *gid))),
        _ => source.connect(),
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        if let Some(p) = &mut self.proxy {
            p.stop.store(true, Ordering::SeqCst);
            // wakes the acceptor: accept() fails on a shut-down listener
            let _ = rustix::net::shutdown(&*p.listener, rustix::net::Shutdown::Both);
            if let Some(t) = p.acceptor.take() {
                let _ = t.join();
            }
            if let Ok(mut m) = p.conns.lock() {
                for s in m.drain().flat_map(|(_, v)| v) {
                    let _ = s.shutdown(std::net::Shutdown::Both);
                }
            }
        }
        match self.target.remove(self.made) {
            Ok(()) => debug!("link {}: removed {}", self.link.name, self.link.target),
            Err(e) => debug!("link {}: {e}", self.link.name),
        }
        info!(
            "link {} → {}: {} torn down",
            self.link.provider, self.link.consumer, self.link.name
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// Our own process stands in for both containers.
    fn link(d: &std::path::Path, kind: &str) -> Link {
        let me = std::process::id() as i32;
        Link {
            consumer: "c".into(),
            consumer_pid: me,
            provider: "p".into(),
            provider_pid: me,
            name: "s".into(),
            kind: kind.into(),
            role: "any".into(),
            interface: kind.into(),
            target: d.join("sub/c.sock").to_str().unwrap().into(),
            socket: d.join("p.sock").to_str().unwrap().into(),
            owns: None,
            allow: None,
            uid: None,
        }
    }

    #[test]
    fn a_unix_link_relays_and_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let server = UnixListener::bind(d.path().join("p.sock")).unwrap();
        let a = Active::establish(&link(d.path(), "unix")).unwrap();
        let mut c = UnixStream::connect(d.path().join("sub/c.sock")).unwrap();
        c.write_all(b"hi").unwrap();
        let (mut s, _) = server.accept().unwrap();
        let mut buf = [0u8; 2];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hi");
        s.write_all(b"yo").unwrap();
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"yo");
        drop(a);
        assert!(!d.path().join("sub/c.sock").exists(), "target removed");
        // the connection it carried is closed too
        let mut rest = vec![];
        assert_eq!(c.read_to_end(&mut rest).unwrap(), 0);
    }

    #[test]
    fn a_drm_link_makes_the_device_node() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let mut l = link(d.path(), "drm");
        l.socket = "/dev/null".into();
        l.target = d.path().join("dev/dri/card0").to_str().unwrap().into();
        let a = Active::establish(&l).unwrap();
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let m = std::fs::symlink_metadata(&l.target).unwrap();
        assert!(m.file_type().is_char_device());
        assert_eq!(m.rdev(), std::fs::metadata("/dev/null").unwrap().rdev());
        drop(a);
        assert!(!std::path::Path::new(&l.target).exists());
        let mut bad = link(d.path(), "drm");
        bad.socket = d.path().to_str().unwrap().into();
        assert!(Active::establish(&bad).is_err(), "not a device");
    }
}
