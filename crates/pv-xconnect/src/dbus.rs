//! `dbus` links: a proxy in front of the provider's bus.
//!
//! - Identity: the consumer's SASL `AUTH EXTERNAL` (or its `DATA` answer)
//!   is rewritten to the uid of the link's role, looked up in the
//!   provider's `/etc/passwd` (a numeric role is the uid; unknown: 65534),
//!   and the proxy connects to the bus as that uid (thread credentials),
//!   so the bus's own check of the peer's credentials agrees.
//! - Policy: after `BEGIN`, every message is framed and its header read
//!   (zbus); a method call the link does not allow is answered with
//!   `org.freedesktop.DBus.Error.AccessDenied` and never reaches the bus.
//!   Descriptors (`UNIX_FDS`) travel with their message.

use std::collections::VecDeque;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

use zbus::message::{Header, Type};
use zbus::zvariant::serialized::{Context, Data};
use zbus::zvariant::Endian;

use crate::relay::{recv_with_fds, send_with_fds};

/// The bus driver, always reachable (Hello, AddMatch, …).
const DRIVER: &str = "org.freedesktop.DBus";
/// Interfaces every object offers.
const ALWAYS: [&str; 2] = [
    "org.freedesktop.DBus.Peer",
    "org.freedesktop.DBus.Introspectable",
];
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";
/// Largest message (the specification's limit).
const MAX_MESSAGE: usize = 128 << 20;
/// The uid of an unknown role.
pub const NOBODY: u32 = 65534;

/// What a link lets its consumer call.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// The only interface callable (with Peer, Introspectable and its
    /// Properties); `None`: any.
    pub interface: Option<String>,
    /// A name the provider owns that only `allow` roles may call.
    pub owns: Option<String>,
    pub allow: Option<Vec<String>>,
    /// The link's role.
    pub role: String,
}

impl Policy {
    /// The link's `interface` is a filter only when it is a D-Bus
    /// interface name (its default, the type `dbus`, is not).
    pub fn new(
        interface: &str,
        owns: Option<String>,
        allow: Option<Vec<String>>,
        role: &str,
    ) -> Policy {
        Policy {
            interface: interface.contains('.').then(|| interface.to_string()),
            owns,
            allow,
            role: role.to_string(),
        }
    }

    /// Why a message may not pass, if it may not.
    pub fn refuse(&self, h: &Header<'_>, first_arg: Option<&str>) -> Option<String> {
        if h.message_type() != Type::MethodCall {
            return None;
        }
        let dest = h.destination().map(|d| d.as_str());
        if dest == Some(DRIVER) {
            return None;
        }
        if let (Some(owns), Some(allow)) = (&self.owns, &self.allow) {
            if dest == Some(owns.as_str()) && !allow.contains(&self.role) {
                return Some(format!("role {} may not call {owns}", self.role));
            }
        }
        let Some(want) = &self.interface else {
            return None;
        };
        let iface = h.interface().map(|i| i.as_str());
        match iface {
            Some(i) if i == want || ALWAYS.contains(&i) => None,
            Some(PROPERTIES) if first_arg == Some(want.as_str()) => None,
            Some(i) => Some(format!("interface {i} is not allowed on this link")),
            None => Some("a method call without interface is not allowed on this link".into()),
        }
    }
}

/// The uid and gid of `role` in a passwd file's text.
pub fn role_ids(passwd: &str, role: &str) -> (u32, u32) {
    if let Ok(uid) = role.parse::<u32>() {
        return (uid, uid);
    }
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 4 && f[0] == role {
            if let (Ok(u), Ok(g)) = (f[2].parse(), f[3].parse()) {
                return (u, g);
            }
        }
    }
    (NOBODY, NOBODY)
}

fn hex(uid: u32) -> String {
    uid.to_string()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A stream read in pieces, with the descriptors that came along.
struct Input {
    s: UnixStream,
    buf: Vec<u8>,
    fds: VecDeque<OwnedFd>,
}

impl Input {
    fn fill(&mut self) -> std::io::Result<bool> {
        let mut chunk = vec![0u8; 64 * 1024];
        let mut fds = vec![];
        let n = recv_with_fds(&self.s, &mut chunk, &mut fds)?;
        self.fds.extend(fds);
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    fn need(&mut self, n: usize) -> std::io::Result<bool> {
        while self.buf.len() < n {
            if !self.fill()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn line(&mut self) -> std::io::Result<Option<String>> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let l = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return Ok(Some(l));
            }
            if self.buf.len() > 16 * 1024 || !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// The next whole message, its header and descriptors.
    fn message(&mut self) -> std::io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
        if !self.need(16)? {
            return Ok(None);
        }
        let endian = match self.buf[0] {
            b'l' => Endian::Little,
            b'B' => Endian::Big,
            _ => return Err(bad("not a D-Bus message")),
        };
        let u32_at = |b: &[u8], i: usize| {
            let a = [b[i], b[i + 1], b[i + 2], b[i + 3]];
            match endian {
                Endian::Little => u32::from_le_bytes(a),
                Endian::Big => u32::from_be_bytes(a),
            }
        };
        let body = u32_at(&self.buf, 4) as usize;
        let fields = u32_at(&self.buf, 12) as usize;
        let head = (16 + fields).div_ceil(8) * 8;
        let total = head.saturating_add(body);
        if total > MAX_MESSAGE {
            return Err(bad("message too large"));
        }
        if !self.need(total)? {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let msg: Vec<u8> = self.buf.drain(..total).collect();
        let n = with_header(&msg, |h| h.unix_fds().unwrap_or(0))? as usize;
        if n > self.fds.len() {
            return Err(bad("message announces descriptors that did not come"));
        }
        let fds = self.fds.drain(..n).collect();
        Ok(Some((msg, fds)))
    }
}

fn bad(m: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string())
}

fn endian_of(msg: &[u8]) -> Endian {
    if msg.first() == Some(&b'B') {
        Endian::Big
    } else {
        Endian::Little
    }
}

/// Read the header of a whole message (zbus's types) and give it to `f`.
pub fn with_header<R>(msg: &[u8], f: impl FnOnce(&Header<'_>) -> R) -> std::io::Result<R> {
    let data = Data::new(msg, Context::new_dbus(endian_of(msg), 0));
    let (h, _): (Header<'_>, usize) = data
        .deserialize()
        .map_err(|e| bad(&format!("bad D-Bus header: {e}")))?;
    Ok(f(&h))
}

/// What a test or a log needs of a header, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub kind: Type,
    pub serial: u32,
    pub reply_serial: Option<u32>,
    pub interface: Option<String>,
    pub member: Option<String>,
    pub error_name: Option<String>,
}

/// The [`Head`] of a whole message.
pub fn head(msg: &[u8]) -> std::io::Result<Head> {
    with_header(msg, |h| Head {
        kind: h.message_type(),
        serial: h.primary().serial_num().get(),
        reply_serial: h.reply_serial().map(|s| s.get()),
        interface: h.interface().map(|i| i.to_string()),
        member: h.member().map(|m| m.to_string()),
        error_name: h.error_name().map(|e| e.to_string()),
    })
}

/// The body's first argument when it is a string (the interface of
/// `Properties.Get/Set/GetAll`).
fn first_string(msg: &[u8], h: &Header<'_>) -> Option<String> {
    if !h.signature().to_string().starts_with('s') {
        return None;
    }
    let fields = {
        let a = [msg[12], msg[13], msg[14], msg[15]];
        match endian_of(msg) {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        }
    } as usize;
    let at = (16 + fields).div_ceil(8) * 8;
    let len_bytes: [u8; 4] = msg.get(at..at + 4)?.try_into().ok()?;
    let len = match endian_of(msg) {
        Endian::Little => u32::from_le_bytes(len_bytes),
        Endian::Big => u32::from_be_bytes(len_bytes),
    } as usize;
    let s = msg.get(at + 4..at + 4 + len)?;
    String::from_utf8(s.to_vec()).ok()
}

/// The error answer to a refused call.
fn access_denied(h: &Header<'_>, why: &str) -> Option<Vec<u8>> {
    let m = zbus::Message::error(h, "org.freedesktop.DBus.Error.AccessDenied")
        .ok()?
        .build(&(why,))
        .ok()?;
    Some(m.data().to_vec())
}

/// Serve one consumer connection: `provider` is already connected as the
/// role's uid.
pub fn serve(consumer: UnixStream, provider: UnixStream, uid: u32, policy: Policy) {
    let r = (|| -> std::io::Result<()> {
        let mut cin = Input {
            s: consumer.try_clone()?,
            buf: vec![],
            fds: VecDeque::new(),
        };
        let mut pin = Input {
            s: provider.try_clone()?,
            buf: vec![],
            fds: VecDeque::new(),
        };
        if !sasl(&mut cin, &mut pin, &consumer, &provider, uid)? {
            return Ok(());
        }
        let out = Arc::new(Mutex::new(consumer.try_clone()?));
        let out2 = out.clone();
        // bus → consumer: whole messages, so that a refusal is never
        // written into the middle of one
        let t = std::thread::spawn(move || {
            loop {
                let (m, fds) = match pin.message() {
                    Ok(Some(x)) => x,
                    Ok(None) => {
                        tracing::debug!("dbus link: the bus closed the connection");
                        break;
                    }
                    Err(e) => {
                        tracing::debug!("dbus link: from the bus: {e}");
                        break;
                    }
                };
                let Ok(c) = out2.lock() else { break };
                if let Err(e) = send_with_fds(&c, &m, &fds) {
                    tracing::debug!("dbus link: to the consumer: {e}");
                    break;
                }
            }
            if let Ok(c) = out2.lock() {
                let _ = c.shutdown(std::net::Shutdown::Write);
            }
        });
        let r = loop {
            let (m, fds) = match cin.message() {
                Ok(Some(x)) => x,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            };
            // the refusal and its answer (none when no reply is expected)
            let verdict = with_header(&m, |h| {
                policy.refuse(h, first_string(&m, h).as_deref()).map(|why| {
                    tracing::info!("dbus link: refused {:?}: {why}", h.member());
                    let expects_reply = !h
                        .primary()
                        .flags()
                        .contains(zbus::message::Flags::NoReplyExpected);
                    expects_reply.then(|| access_denied(h, &why)).flatten()
                })
            })?;
            match verdict {
                None => send_with_fds(&provider, &m, &fds)?,
                Some(None) => {}
                Some(Some(e)) => {
                    let c = out.lock().map_err(|_| bad("lock"))?;
                    (&*c).write_all(&e)?;
                }
            }
        };
        let _ = provider.shutdown(std::net::Shutdown::Both);
        let _ = t.join();
        r
    })();
    if let Err(e) = r {
        tracing::debug!("dbus link: {e}");
    }
    let _ = consumer.shutdown(std::net::Shutdown::Both);
    let _ = provider.shutdown(std::net::Shutdown::Both);
}

/// The authentication exchange, one command and its answer at a time;
/// false when it ended without `BEGIN`.
fn sasl(
    cin: &mut Input,
    pin: &mut Input,
    consumer: &UnixStream,
    provider: &UnixStream,
    uid: u32,
) -> std::io::Result<bool> {
    if !cin.need(1)? {
        return Ok(false);
    }
    if cin.buf[0] != 0 {
        return Err(bad("no credentials byte"));
    }
    cin.buf.remove(0);
    (&*provider).write_all(b"\0")?;
    let mut external = false;
    loop {
        let Some(line) = cin.line()? else {
            return Ok(false);
        };
        let mut words = line.split(' ');
        let cmd = words.next().unwrap_or("");
        let out = match cmd {
            "AUTH" => match words.next() {
                Some("EXTERNAL") => {
                    external = true;
                    if words.next().is_some() {
                        format!("AUTH EXTERNAL {}", hex(uid))
                    } else {
                        "AUTH EXTERNAL".into()
                    }
                }
                // only EXTERNAL carries the identity the mesh vouches for
                _ => {
                    (&*consumer).write_all(b"REJECTED EXTERNAL\r\n")?;
                    continue;
                }
            },
            "DATA" if external => format!("DATA {}", hex(uid)),
            "BEGIN" => {
                (&*provider).write_all(b"BEGIN\r\n")?;
                // what the consumer sent after BEGIN is messages
                let rest = std::mem::take(&mut cin.buf);
                cin.buf = rest;
                return Ok(true);
            }
            _ => line.clone(),
        };
        (&*provider).write_all(out.as_bytes())?;
        (&*provider).write_all(b"\r\n")?;
        let Some(answer) = pin.line()? else {
            return Ok(false);
        };
        (&*consumer).write_all(answer.as_bytes())?;
        (&*consumer).write_all(b"\r\n")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(dest: &str, iface: &str, member: &str) -> Vec<u8> {
        let m = zbus::Message::method_call("/org/pv/Test", member)
            .unwrap()
            .destination(dest)
            .unwrap()
            .interface(iface)
            .unwrap()
            .build(&())
            .unwrap();
        m.data().to_vec()
    }

    fn refused(p: &Policy, m: Vec<u8>, arg: Option<&str>) -> bool {
        with_header(&m, |h| p.refuse(h, arg).is_some()).unwrap()
    }

    #[test]
    fn interface_and_allow_filters() {
        let p = Policy::new("org.pv.Allowed", None, None, "any");
        assert!(!refused(
            &p,
            call("org.pv.T", "org.pv.Allowed", "Ping"),
            None
        ));
        assert!(refused(&p, call("org.pv.T", "org.pv.Denied", "Ping"), None));
        assert!(!refused(
            &p,
            call(DRIVER, "org.freedesktop.DBus", "Hello"),
            None
        ));
        let get = || call("org.pv.T", PROPERTIES, "Get");
        assert!(!refused(&p, get(), Some("org.pv.Allowed")));
        assert!(refused(&p, get(), Some("org.pv.Denied")));
        // the default interface (the type) filters nothing
        let any = Policy::new(
            "dbus",
            Some("org.pv.T".into()),
            Some(vec!["admin".into()]),
            "any",
        );
        assert!(refused(&any, call("org.pv.T", "x.Y", "Z"), None));
        assert!(!refused(&any, call("org.pv.U", "x.Y", "Z"), None));
        let admin = Policy {
            role: "admin".into(),
            ..any
        };
        assert!(!refused(&admin, call("org.pv.T", "x.Y", "Z"), None));
    }

    #[test]
    fn roles_map_to_uids() {
        let pw = "root:x:0:0:root:/root:/bin/sh\nmessagebus:x:100:101::/:/bin/false\n";
        assert_eq!(role_ids(pw, "messagebus"), (100, 101));
        assert_eq!(role_ids(pw, "1234"), (1234, 1234));
        assert_eq!(role_ids(pw, "any"), (NOBODY, NOBODY));
        assert_eq!(hex(1000), "31303030");
    }

    #[test]
    fn refused_calls_get_an_error_reply() {
        let m = call("org.pv.T", "org.pv.Denied", "Ping");
        let e = with_header(&m, |h| access_denied(h, "no"))
            .unwrap()
            .unwrap();
        let (asked, answer) = (head(&m).unwrap(), head(&e).unwrap());
        assert_eq!(answer.kind, Type::Error);
        assert_eq!(answer.reply_serial, Some(asked.serial));
        assert_eq!(
            answer.error_name.as_deref(),
            Some("org.freedesktop.DBus.Error.AccessDenied")
        );
    }
}
