//! The device's own web page, served at `/` and under `/ui/`: device
//! information, editing of the running revision (through the pvtx API of
//! [`crate::pvtx_api`], called by the page's script), logs with a live
//! tail, and user metadata. Pages are rendered here from the control
//! socket's answers; the stylesheet and script are compiled in.
//!
//! | path | what |
//! |---|---|
//! | `GET /` | revision, progress, containers (status, group), device metadata |
//! | `GET /ui/edit` | parts of the running revision and of the transaction; add a package, remove a part, commit and run, the progress |
//! | `GET /ui/logs[?c=NAME]` | the console log of a container or the runtime's log of the running revision, followed live |
//! | `GET /ui/logs/raw?c=NAME&from=N` | the log's bytes from offset `N` (`X-Log-Offset`: the next offset) |
//! | `GET /ui/usermeta` | user metadata, saved and deleted through the pvtx API |
//! | `GET/POST /ui/login` | the token as a password; a `SameSite=Strict` cookie then stands for it |
//! | `GET /ui/style.css`, `/ui/app.js` | the assets |
//!
//! When the endpoint has a token, the page needs it as every other call
//! does: in the `Authorization` header, or in the cookie the login sets
//! (which the page's calls of the pvtx API carry too).

mod pages;

use std::io::{Read, Seek, SeekFrom};

use crate::auth::Token;
use crate::body::RequestBody;
use crate::handlers::{Ctx, Reply};

const STYLE: &str = include_str!("style.css");
const SCRIPT: &str = include_str!("app.js");
/// The cookie that carries the token after a login.
pub const COOKIE: &str = "pv_lan_token";
/// The most of a log sent at once.
const LOG_CHUNK: u64 = 64 << 10;

/// Whether `path` is the web page's.
pub fn is_ui(path: &str) -> bool {
    path == "/" || path == "/ui" || path.starts_with("/ui/")
}

/// The token from the cookie header, if it is the right one.
pub fn cookie_accepted(token: &Token, cookie: Option<&str>) -> bool {
    cookie
        .into_iter()
        .flat_map(|c| c.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .any(|(k, v)| k == COOKIE && token.accepts_secret(v))
}

fn html(status: u16, body: String) -> Reply {
    Reply::BytesWith(
        status,
        "text/html; charset=utf-8",
        body.into_bytes(),
        vec![],
    )
}

fn redirect(to: &str, extra: Vec<(&'static str, String)>) -> Reply {
    let mut h = vec![("Location", to.to_string())];
    h.extend(extra);
    Reply::BytesWith(303, "text/plain", vec![], h)
}

/// Serve a page; `allowed` says whether the request carried the token
/// (always true when none is configured).
pub fn serve(
    ctx: &Ctx,
    token: Option<&Token>,
    allowed: bool,
    method: &str,
    target: &str,
    body: &mut RequestBody,
) -> Reply {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match (method, path) {
        ("GET", "/ui/style.css") => {
            return Reply::BytesWith(200, "text/css", STYLE.into(), vec![]);
        }
        ("GET", "/ui/app.js") => {
            return Reply::BytesWith(200, "text/javascript", SCRIPT.into(), vec![]);
        }
        ("GET", "/ui/login") => return html(200, pages::login(false)),
        ("POST", "/ui/login") => return login(token, body),
        _ => {}
    }
    if !allowed {
        return if path == "/ui/logs/raw" {
            Reply::error(401, "Unauthorized")
        } else {
            redirect("/ui/login", vec![])
        };
    }
    let param = |k: &str| crate::pvtx_api::param(query, k);
    match (method, path) {
        ("GET", "/") | ("GET", "/ui") | ("GET", "/ui/") => html(200, pages::device(ctx)),
        ("GET", "/ui/edit") => html(200, pages::edit(ctx)),
        ("GET", "/ui/usermeta") => html(200, pages::usermeta(ctx)),
        ("GET", "/ui/logs") => html(200, pages::logs(ctx, param("c").as_deref())),
        ("GET", "/ui/logs/raw") => {
            let from = param("from").and_then(|f| f.parse().ok()).unwrap_or(0);
            match param("c") {
                Some(c) => log_raw(ctx, &c, from),
                None => Reply::error(400, "logs/raw needs ?c=<container>"),
            }
        }
        (_, "/") | (_, "/ui/edit") | (_, "/ui/usermeta") | (_, "/ui/logs") => {
            Reply::error(405, "Method Not Allowed")
        }
        _ => Reply::error(404, "Not Found"),
    }
}

/// `POST /ui/login` with the form field `token`.
fn login(token: Option<&Token>, body: &mut RequestBody) -> Reply {
    let Some(token) = token else {
        return redirect("/", vec![]);
    };
    let mut form = String::new();
    if body.take(4096).read_to_string(&mut form).is_err() {
        return html(400, pages::login(true));
    }
    let given = crate::pvtx_api::param(&form, "token").unwrap_or_default();
    if !token.accepts_secret(&given) {
        return html(401, pages::login(true));
    }
    redirect(
        "/",
        vec![(
            "Set-Cookie",
            format!("{COOKIE}={given}; Path=/; HttpOnly; SameSite=Strict"),
        )],
    )
}

/// The log file of `container` in the running revision: a container of
/// the revision, or `pantavisor`.
pub(crate) fn log_file(ctx: &Ctx, container: &str) -> Option<std::path::PathBuf> {
    let logs = ctx.logs.as_ref()?;
    let info = pages::Info::read(ctx);
    let known = container == "pantavisor" || info.containers.iter().any(|c| c.name == container);
    if !known || !pv_types::is_revision(&info.revision) {
        return None;
    }
    let dir = logs.join(&info.revision).join(container);
    Some(if container == "pantavisor" {
        dir.join("pantavisor.log")
    } else {
        dir.join("lxc/console.log")
    })
}

/// Bytes of a log from `from` (at most [`LOG_CHUNK`]); a `from` past the
/// end (a rotated log) starts over.
pub(crate) fn read_log(path: &std::path::Path, from: u64) -> (Vec<u8>, u64) {
    let Ok(mut f) = std::fs::File::open(path) else {
        return (vec![], 0);
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let from = if from > len { 0 } else { from };
    let start = from.max(len.saturating_sub(LOG_CHUNK));
    let mut buf = vec![];
    if f.seek(SeekFrom::Start(start)).is_ok() {
        let _ = f.take(LOG_CHUNK).read_to_end(&mut buf);
    }
    let next = start + buf.len() as u64;
    (buf, next)
}

fn log_raw(ctx: &Ctx, container: &str, from: u64) -> Reply {
    let Some(path) = log_file(ctx, container) else {
        return Reply::error(404, format!("no log for {container}"));
    };
    let (bytes, next) = read_log(&path, from);
    Reply::BytesWith(
        200,
        "text/plain; charset=utf-8",
        bytes,
        vec![("X-Log-Offset", next.to_string())],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_stands_for_the_token() {
        let t = Token::new("0123456789abcdef0123").unwrap();
        assert!(cookie_accepted(
            &t,
            Some("a=b; pv_lan_token=0123456789abcdef0123")
        ));
        assert!(!cookie_accepted(&t, Some("pv_lan_token=wrong")));
        assert!(!cookie_accepted(&t, Some("other=0123456789abcdef0123")));
        assert!(!cookie_accepted(&t, None));
    }

    #[test]
    fn logs_are_read_from_an_offset_and_start_over_when_shorter() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("log");
        assert_eq!(read_log(&f, 5), (vec![], 0));
        std::fs::write(&f, "hello\nworld\n").unwrap();
        assert_eq!(read_log(&f, 0), (b"hello\nworld\n".to_vec(), 12));
        assert_eq!(read_log(&f, 6), (b"world\n".to_vec(), 12));
        assert_eq!(read_log(&f, 12), (vec![], 12));
        assert_eq!(read_log(&f, 99).1, 12, "rotated: from the start");
        assert!(is_ui("/") && is_ui("/ui/edit") && !is_ui("/uix") && !is_ui("/steps"));
    }
}
