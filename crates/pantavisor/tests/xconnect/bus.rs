//! A minimal blocking D-Bus peer for the xconnect tests: zbus builds and
//! reads the messages, the test drives the exchange.

/// A connection to a bus (direct or through a link), past `Hello`.
pub struct Bus {
    s: std::os::unix::net::UnixStream,
    buf: Vec<u8>,
}

impl Bus {
    /// Authenticate (claiming uid 0: the mesh must replace it) and Hello.
    pub fn open(s: std::os::unix::net::UnixStream) -> (Bus, String) {
        use std::io::Write;
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        (&s).write_all(b"\0AUTH EXTERNAL 30\r\n").unwrap();
        let mut b = Bus { s, buf: vec![] };
        let ok = b.line();
        assert!(ok.starts_with("OK "), "{ok}");
        (&b.s).write_all(b"BEGIN\r\n").unwrap();
        let m = zbus::Message::method_call("/org/freedesktop/DBus", "Hello")
            .unwrap()
            .destination("org.freedesktop.DBus")
            .unwrap()
            .interface("org.freedesktop.DBus")
            .unwrap()
            .build(&())
            .unwrap();
        let (_, body) = b.call(&m);
        (b, string_at(&body, 0))
    }

    /// Read more; false when the other side closed the connection.
    fn fill(&mut self) -> bool {
        use std::io::Read;
        let mut c = [0u8; 4096];
        let n = self.s.read(&mut c).unwrap();
        self.buf.extend_from_slice(&c[..n]);
        n > 0
    }

    fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let l = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return l;
            }
            assert!(self.fill(), "bus connection closed");
        }
    }

    /// The next message: its header, body bytes and the whole message.
    pub fn read(&mut self) -> (pv_xconnect::dbus::Head, Vec<u8>, Vec<u8>) {
        self.next().expect("bus connection closed")
    }

    /// [`Bus::read`], `None` once the connection is closed.
    pub fn next(&mut self) -> Option<(pv_xconnect::dbus::Head, Vec<u8>, Vec<u8>)> {
        while self.buf.len() < 16 {
            if !self.fill() {
                return None;
            }
        }
        let u = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as usize;
        let head = (16 + u(&self.buf, 12)).div_ceil(8) * 8;
        let total = head + u(&self.buf, 4);
        while self.buf.len() < total {
            if !self.fill() {
                return None;
            }
        }
        let m: Vec<u8> = self.buf.drain(..total).collect();
        Some((pv_xconnect::dbus::head(&m).unwrap(), m[head..].to_vec(), m))
    }

    pub fn send(&mut self, m: &zbus::Message) {
        use std::io::Write;
        (&self.s).write_all(m.data()).unwrap();
    }

    /// Send a call and wait for its answer (other messages are skipped).
    pub fn call(&mut self, m: &zbus::Message) -> (pv_xconnect::dbus::Head, Vec<u8>) {
        self.send(m);
        let serial = m.primary_header().serial_num().get();
        loop {
            let (h, body, _) = self.read();
            if h.reply_serial == Some(serial) {
                return (h, body);
            }
        }
    }
}

pub fn string_at(body: &[u8], at: usize) -> String {
    let n = u32::from_le_bytes(body[at..at + 4].try_into().unwrap()) as usize;
    String::from_utf8_lossy(&body[at + 4..at + 4 + n]).into_owned()
}

pub fn method(dest: &str, iface: &str, member: &str) -> zbus::message::Builder<'static> {
    zbus::Message::method_call("/org/pv/Test", member.to_string())
        .unwrap()
        .destination(dest.to_string())
        .unwrap()
        .interface(iface.to_string())
        .unwrap()
}
