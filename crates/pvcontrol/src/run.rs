//! Running a command: one or two requests, then the answer printed the way
//! the original prints it and turned into an exit status.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use crate::cli::{socket_path, Cmd, Options};
use crate::install;
use pv_ctrl_client::{Body, Client, ClientError};

/// Exit status for success.
pub const EXIT_OK: i32 = 0;
/// Usage error, socket not found, unusable output or input.
pub const EXIT_USAGE: i32 = 1;
/// `Not enough disk space available`.
pub const EXIT_NO_SPACE: i32 = 48;
/// `Object has bad checksum`.
pub const EXIT_BAD_CHECKSUM: i32 = 60;
/// `State verification has failed`.
pub const EXIT_BAD_STATE: i32 = 70;
/// 503: busy, retry later.
pub const EXIT_BUSY: i32 = 75;
/// Any other answer than 200, or no answer.
pub const EXIT_OTHER: i32 = 255;

/// An HTTP answer with its body in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// The exit status for a non-200 answer: by its error text first, then by
/// its status.
pub fn exit_code(a: &Answer) -> i32 {
    if a.status == 200 {
        return EXIT_OK;
    }
    match trim_newlines(&a.body) {
        br#"{"Error":"Not enough disk space available"}"# => EXIT_NO_SPACE,
        br#"{"Error":"Object has bad checksum"}"# => EXIT_BAD_CHECKSUM,
        br#"{"Error":"State verification has failed"}"# => EXIT_BAD_STATE,
        _ if a.status == 503 => EXIT_BUSY,
        _ => EXIT_OTHER,
    }
}

fn trim_newlines(b: &[u8]) -> &[u8] {
    let end = b.iter().rposition(|c| *c != b'\n').map_or(0, |i| i + 1);
    &b[..end]
}

/// What a command needs: the client, the options and where output goes.
pub struct Ctx {
    pub client: Client,
    pub opts: Options,
    pub out: Box<dyn Write>,
}

impl Ctx {
    /// One request, body collected.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Body<'_>,
        content_type: Option<&str>,
    ) -> Result<Answer, ClientError> {
        let (head, body) = self.client.call(method, path, body, content_type)?;
        Ok(Answer {
            status: head.status,
            body,
        })
    }

    /// Print an answer and return the exit status. By default the body is
    /// printed as the original does (trailing newlines replaced by one),
    /// on stdout for 200 and on stderr otherwise; with `-j`, verbatim.
    pub fn show(&mut self, a: &Answer) -> i32 {
        let text: Vec<u8> = if self.opts.raw {
            a.body.clone()
        } else {
            let mut t = trim_newlines(&a.body).to_vec();
            t.push(b'\n');
            t
        };
        if a.status == 200 {
            let _ = self.out.write_all(&text);
            let _ = self.out.flush();
        } else {
            let _ = io::stderr().write_all(&text);
        }
        exit_code(a)
    }
}

/// A flat JSON object of strings, keys in the given order.
fn json_body(pairs: &[(&str, &str)]) -> Vec<u8> {
    let s = |v: &str| serde_json::Value::String(v.to_string()).to_string();
    let fields: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}:{}", s(k), s(v)))
        .collect();
    format!("{{{}}}", fields.join(",")).into_bytes()
}

const JSON: Option<&str> = Some("application/json");

/// Run `cmd`; returns the exit status.
pub fn run(opts: Options, cmd: Cmd) -> i32 {
    let env = std::env::var("PVCONTROL_SOCKET").ok();
    let socket = socket_path(opts.socket.as_deref(), env.as_deref());
    if !is_socket(&socket) {
        println!("ERROR: {} not found", socket.display());
        return EXIT_USAGE;
    }
    let out: Box<dyn Write> = match &opts.output {
        Some(p) => match File::create(p) {
            Ok(f) => Box::new(io::BufWriter::new(f)),
            Err(e) => {
                eprintln!("ERROR: cannot write {}: {e}", p.display());
                return EXIT_USAGE;
            }
        },
        None => Box::new(io::stdout()),
    };
    let mut client = Client::new(socket);
    client.verbose = opts.verbose;
    let mut ctx = Ctx { client, opts, out };
    match execute(&mut ctx, cmd) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ERROR: {e}");
            match e {
                ClientError::Input { .. } => EXIT_USAGE,
                _ => EXIT_OTHER,
            }
        }
    }
}

fn is_socket(p: &std::path::Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(p).is_ok_and(|m| m.file_type().is_socket())
}

fn get(ctx: &mut Ctx, path: &str) -> Result<i32, ClientError> {
    let a = ctx.call("GET", path, Body::None, None)?;
    Ok(ctx.show(&a))
}

fn execute(ctx: &mut Ctx, cmd: Cmd) -> Result<i32, ClientError> {
    use Cmd as C;
    match cmd {
        C::Containers => get(ctx, "/containers"),
        C::Groups => get(ctx, "/groups"),
        C::Graph => get(ctx, "/xconnect-graph"),
        C::Daemons => get(ctx, "/daemons"),
        C::BuildInfo => get(ctx, "/buildinfo"),
        C::ObjectList => get(ctx, "/objects"),
        C::StepList => get(ctx, "/steps"),
        C::StepGet { rev } => get(ctx, &format!("/steps/{rev}")),
        C::StepProgress { rev } => get(ctx, &format!("/steps/{rev}/progress")),
        C::ConfigLegacy => get(ctx, "/config"),
        C::Config => get(ctx, "/config2"),
        C::MetaList { device } => get(ctx, meta_root(device)),
        C::ContainerAction { name, action } => {
            let body = json_body(&[("action", action)]);
            let a = ctx.call(
                "PUT",
                &format!("/containers/{name}"),
                Body::Bytes(&body),
                JSON,
            )?;
            Ok(ctx.show(&a))
        }
        C::DaemonGet { name } => daemon_get(ctx, &name),
        C::DaemonAction { name, action } => {
            let a = daemon_action(ctx, &name, action)?;
            Ok(ctx.show(&a))
        }
        C::DaemonRestart { name } => {
            let mut a = daemon_action(ctx, &name, "stop")?;
            if a.status == 200 {
                a = daemon_action(ctx, &name, "start")?;
            }
            Ok(ctx.show(&a))
        }
        C::Signal { kind } => {
            let body = json_body(&[("type", kind), ("payload", "")]);
            let a = ctx.call("POST", "/signal", Body::Bytes(&body), JSON)?;
            Ok(ctx.show(&a))
        }
        C::Command { op, payload } => {
            let body = json_body(&[("op", op), ("payload", &payload)]);
            let a = ctx.call("POST", "/commands", Body::Bytes(&body), JSON)?;
            Ok(ctx.show(&a))
        }
        C::MetaSave { device, key, value } => {
            let path = format!("{}/{key}", meta_root(device));
            let a = ctx.call("PUT", &path, Body::Bytes(value.as_bytes()), None)?;
            Ok(ctx.show(&a))
        }
        C::MetaDelete { device, key } => {
            let a = ctx.call(
                "DELETE",
                &format!("{}/{key}", meta_root(device)),
                Body::None,
                None,
            )?;
            Ok(ctx.show(&a))
        }
        C::ObjectGet { sha } => {
            // written as received, whatever the status, as the original does
            let path = format!("/objects/{sha}");
            ctx.client
                .send("GET", &path, Body::None, None, &mut ctx.out)?;
            let _ = ctx.out.flush();
            Ok(EXIT_OK)
        }
        C::ObjectPut { path, sha } => {
            let a = put_object(ctx, &path, &sha)?;
            Ok(ctx.show(&a))
        }
        C::StepPut { path, rev } => {
            let a = put_step(ctx, Body::File(&path), &rev)?;
            Ok(ctx.show(&a))
        }
        C::StepInstall { path, rev } => install::install(ctx, &path, rev),
    }
}

fn meta_root(device: bool) -> &'static str {
    if device {
        "/device-meta"
    } else {
        "/user-meta"
    }
}

fn daemon_action(ctx: &Ctx, name: &str, action: &str) -> Result<Answer, ClientError> {
    let body = json_body(&[("action", action)]);
    ctx.call("PUT", &format!("/daemons/{name}"), Body::Bytes(&body), JSON)
}

/// `daemons get <name>`: the daemon's entry of `GET /daemons`.
fn daemon_get(ctx: &mut Ctx, name: &str) -> Result<i32, ClientError> {
    let a = ctx.call("GET", "/daemons", Body::None, None)?;
    if a.status != 200 {
        return Ok(ctx.show(&a));
    }
    let list: serde_json::Value = serde_json::from_slice(&a.body)
        .map_err(|e| ClientError::Protocol(format!("daemons list: {e}")))?;
    let found = list
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["name"].as_str() == Some(name));
    let answer = match found {
        Some(d) => Answer {
            status: 200,
            body: d.to_string().into_bytes(),
        },
        None => Answer {
            status: 404,
            body: br#"{"Error":"Daemon not found"}"#.to_vec(),
        },
    };
    Ok(ctx.show(&answer))
}

/// `objects put`: a file, or stdin for `-` / `-<size>`.
pub fn put_object(ctx: &Ctx, path: &str, sha: &str) -> Result<Answer, ClientError> {
    let target = format!("/objects/{sha}");
    let octets = Some("application/octet-stream");
    if path.starts_with('-') {
        let mut data = vec![];
        io::stdin()
            .read_to_end(&mut data)
            .map_err(|source| ClientError::Input {
                path: PathBuf::from("<stdin>"),
                source,
            })?;
        return ctx.call("PUT", &target, Body::Bytes(&data), octets);
    }
    ctx.call(
        "PUT",
        &target,
        Body::File(std::path::Path::new(path)),
        octets,
    )
}

/// `steps put`: the state JSON, then the commit message of `-m` if the
/// first request succeeded.
pub fn put_step(ctx: &Ctx, state: Body<'_>, rev: &str) -> Result<Answer, ClientError> {
    let a = ctx.call("PUT", &format!("/steps/{rev}"), state, None)?;
    match &ctx.opts.message {
        Some(m) if a.status == 200 && !m.is_empty() => ctx.call(
            "PUT",
            &format!("/steps/{rev}/commitmsg"),
            Body::Bytes(m.as_bytes()),
            None,
        ),
        _ => Ok(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(status: u16, body: &str) -> Answer {
        Answer {
            status,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(&a(200, "")), 0);
        assert_eq!(
            exit_code(&a(507, r#"{"Error":"Not enough disk space available"}"#)),
            48
        );
        assert_eq!(
            exit_code(&a(422, "{\"Error\":\"Object has bad checksum\"}\n")),
            60
        );
        assert_eq!(
            exit_code(&a(422, r#"{"Error":"State verification has failed"}"#)),
            70
        );
        assert_eq!(
            exit_code(&a(
                503,
                r#"{"Error":"A command is already in progress. Try again"}"#
            )),
            75
        );
        assert_eq!(
            exit_code(&a(
                403,
                r#"{"Error":"Request not sent from a mgmt platform"}"#
            )),
            255
        );
        assert_eq!(exit_code(&a(204, "")), 255);
    }

    #[test]
    fn json_bodies_are_escaped() {
        assert_eq!(
            json_body(&[("op", "REBOOT_DEVICE"), ("payload", "say \"bye\"")]),
            br#"{"op":"REBOOT_DEVICE","payload":"say \"bye\""}"#.to_vec()
        );
    }
}
