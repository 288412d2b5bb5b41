//! Splitting the byte stream of one `pv-ctrl-log` connection into messages
//! and decoding each one, whatever its format.
//!
//! A message starting with a NUL byte is binary (8-byte header, then `len`
//! bytes). Anything else is text: a JSON value is taken whole (it may span
//! lines); other text ends at `\n` or `\0`, or where the sender stops
//! writing (end of connection or a short pause, see the server).

use crate::proto_binary::{self, BinaryError, Command, CODE_COMMAND, CODE_LEGACY, HEADER_LEN};
use crate::proto_syslog;
use crate::proto_text::{self, TextError};
use crate::record::LogRecord;

/// One framed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A binary message: header code and body.
    Binary {
        /// Header code (0 legacy, 256 command).
        code: i32,
        /// The `len` bytes after the header.
        body: Vec<u8>,
    },
    /// A text message, without its terminator.
    Text(Vec<u8>),
    /// Bytes that cannot be framed (discarded), with the reason.
    Garbage(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Complete,
    Idle,
    End,
}

/// Accumulates bytes of one connection and cuts them into [`Frame`]s.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    max: usize,
}

impl Framer {
    /// A framer refusing messages larger than `max` bytes.
    pub fn new(max: usize) -> Self {
        Framer {
            buf: Vec::new(),
            max: max.max(64),
        }
    }

    /// Append received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// True if bytes are waiting for the rest of their message.
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The next complete message, if any.
    pub fn next_frame(&mut self) -> Option<Frame> {
        self.next(Mode::Complete)
    }

    /// At end of input: whatever is left, as the final messages (an
    /// incomplete binary message is discarded).
    pub fn flush(&mut self) -> Option<Frame> {
        self.next(Mode::End)
    }

    /// After a pause: a pending text message is taken as complete; an
    /// incomplete binary message keeps waiting.
    pub fn flush_idle(&mut self) -> Option<Frame> {
        self.next(Mode::Idle)
    }

    fn next(&mut self, mode: Mode) -> Option<Frame> {
        loop {
            let first = *self.buf.first()?;
            if first == 0 {
                return self.next_binary(mode == Mode::End);
            }
            if matches!(first, b'\n' | b'\r' | b' ' | b'\t') {
                self.buf.remove(0);
                continue;
            }
            return self.next_text(mode != Mode::Complete);
        }
    }

    fn next_binary(&mut self, at_end: bool) -> Option<Frame> {
        let Some((code, len)) = proto_binary::read_header(&self.buf) else {
            return at_end.then(|| self.discard("truncated binary header"));
        };
        if code != CODE_LEGACY && code != CODE_COMMAND {
            return Some(self.discard(&format!("unknown binary message code {code}")));
        }
        if len < 0 || len as u64 > self.max as u64 {
            return Some(self.discard(&format!("binary message length {len} out of range")));
        }
        let total = HEADER_LEN + len as usize;
        if self.buf.len() < total {
            return at_end.then(|| self.discard("truncated binary message"));
        }
        let body = self.buf[HEADER_LEN..total].to_vec();
        self.buf.drain(..total);
        Some(Frame::Binary { code, body })
    }

    fn next_text(&mut self, at_end: bool) -> Option<Frame> {
        if matches!(self.buf[0], b'{' | b'[') {
            let mut it = serde_json::Deserializer::from_slice(&self.buf)
                .into_iter::<serde::de::IgnoredAny>();
            match it.next() {
                Some(Ok(_)) => {
                    let end = it.byte_offset();
                    let msg = self.buf[..end].to_vec();
                    self.buf.drain(..end);
                    return Some(Frame::Text(msg));
                }
                Some(Err(e)) if e.is_eof() && !at_end && self.buf.len() <= self.max => {
                    return None;
                }
                _ => {}
            }
        }
        match self.buf.iter().position(|b| *b == b'\n' || *b == 0) {
            Some(pos) => {
                let msg = trim_cr(&self.buf[..pos]).to_vec();
                self.buf.drain(..=pos);
                Some(Frame::Text(msg))
            }
            None if at_end || self.buf.len() >= self.max => {
                let msg = trim_cr(&self.buf).to_vec();
                self.buf.clear();
                Some(Frame::Text(msg))
            }
            None => None,
        }
    }

    fn discard(&mut self, why: &str) -> Frame {
        self.buf.clear();
        Frame::Garbage(why.to_string())
    }
}

fn trim_cr(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\r").unwrap_or(b)
}

/// A decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A log message.
    Log(LogRecord),
    /// An internal command (binary code 256).
    Command(Command),
}

/// Why a message was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Could not be framed.
    #[error("{0}")]
    Framing(String),
    /// A bad binary message.
    #[error(transparent)]
    Binary(#[from] BinaryError),
    /// A bad text message.
    #[error(transparent)]
    Text(#[from] TextError),
    /// A syslog message that does not parse.
    #[error("malformed syslog message")]
    Syslog,
}

/// Decode a frame sent by a peer whose platform is `platform` (used for
/// JSON, key-value and syslog messages; legacy messages name their own).
pub fn decode(frame: Frame, platform: &str) -> Result<Decoded, DecodeError> {
    match frame {
        Frame::Garbage(why) => Err(DecodeError::Framing(why)),
        Frame::Binary { code, body } if code == CODE_LEGACY => {
            Ok(Decoded::Log(proto_binary::parse_legacy(&body)?))
        }
        Frame::Binary { code, body } if code == CODE_COMMAND => {
            Ok(Decoded::Command(proto_binary::parse_command(&body)?))
        }
        Frame::Binary { code, .. } => Err(BinaryError::UnknownCode(code).into()),
        Frame::Text(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            if proto_syslog::detect(&text).is_some() {
                return proto_syslog::parse(&text, platform)
                    .map(Decoded::Log)
                    .ok_or(DecodeError::Syslog);
            }
            match proto_text::parse_json(&text, platform) {
                Err(TextError::UnknownFormat) => {}
                other => return Ok(Decoded::Log(other?)),
            }
            Ok(Decoded::Log(proto_text::parse_kv(&text, platform)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto_binary::{encode_command, encode_legacy};
    use crate::Level;

    fn frames(f: &mut Framer) -> Vec<Frame> {
        std::iter::from_fn(|| f.next_frame()).collect()
    }

    #[test]
    fn binary_in_pieces() {
        let msg = encode_legacy(Level::Info, "p", "s", b"hello");
        let mut f = Framer::new(1024);
        f.push(&msg[..5]);
        assert!(f.next_frame().is_none());
        f.push(&msg[5..]);
        f.push(&encode_command(&Command::StopUpdate));
        let got = frames(&mut f);
        assert_eq!(got.len(), 2);
        assert!(matches!(&got[0], Frame::Binary { code: 0, .. }));
        assert!(matches!(&got[1], Frame::Binary { code: 256, .. }));
        assert!(!f.has_partial());
    }

    #[test]
    fn binary_errors() {
        let mut f = Framer::new(1024);
        let mut bad = encode_legacy(Level::Info, "p", "s", b"x");
        bad[0..4].copy_from_slice(&[0, 7, 0, 0]);
        f.push(&bad);
        assert!(matches!(f.next_frame(), Some(Frame::Garbage(_))));
        let mut f = Framer::new(64);
        f.push(&encode_legacy(Level::Info, "p", "s", &[b'a'; 100]));
        assert!(matches!(f.next_frame(), Some(Frame::Garbage(_))));
        let mut f = Framer::new(1024);
        f.push(&encode_legacy(Level::Info, "p", "s", b"abc")[..10]);
        assert!(f.next_frame().is_none());
        assert!(f.flush_idle().is_none());
        assert!(matches!(f.flush(), Some(Frame::Garbage(_))));
    }

    #[test]
    fn text_lines_and_json() {
        let mut f = Framer::new(1024);
        f.push(b"level=INFO src=a message=one\r\n<13>tool: two\0{\"version\":\"0\",\n\"level\":\"INFO\",");
        let got = frames(&mut f);
        assert_eq!(
            got,
            vec![
                Frame::Text(b"level=INFO src=a message=one".to_vec()),
                Frame::Text(b"<13>tool: two".to_vec())
            ]
        );
        f.push(b"\"src\":\"s\",\"message\":\"m\"}{\"version\":\"0\",\"level\":\"INFO\",\"src\":\"s\",\"message\":\"n\"}tail");
        let got = frames(&mut f);
        assert_eq!(got.len(), 2);
        assert!(f.has_partial());
        assert_eq!(f.flush(), Some(Frame::Text(b"tail".to_vec())));
        assert_eq!(f.flush(), None);
    }

    #[test]
    fn decode_each_format() {
        let p = "app";
        let d = |b: &[u8]| decode(Frame::Text(b.to_vec()), p);
        let Decoded::Log(r) = d(b"<11>1 - h tool - - - boom").unwrap() else {
            panic!()
        };
        assert_eq!((r.level, r.source.as_str()), (Level::Error, "tool"));
        let Decoded::Log(r) = d(b"<30>Mar  1 00:00:00 h x: y").unwrap() else {
            panic!()
        };
        assert_eq!((r.level, r.text().as_str()), (Level::Info, "y"));
        let Decoded::Log(r) =
            d(br#"{"version":"0","level":"DEBUG","src":"s","message":"m"}"#).unwrap()
        else {
            panic!()
        };
        assert_eq!((r.level, r.platform.as_str()), (Level::Debug, "app"));
        let Decoded::Log(r) = d(b"level=WARN src=k message=v").unwrap() else {
            panic!()
        };
        assert_eq!(r.level, Level::Warn);
        assert!(d(b"just some words").is_err());
        assert!(d(br#"{"level":"INFO"}"#).is_err());
        let bin = encode_legacy(Level::Fatal, "own", "src", b"z");
        let Decoded::Log(r) = decode(
            Frame::Binary {
                code: 0,
                body: bin[HEADER_LEN..].to_vec(),
            },
            p,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!((r.platform.as_str(), r.level), ("own", Level::Fatal));
    }
}
