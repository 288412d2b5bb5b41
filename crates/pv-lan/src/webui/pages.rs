//! The HTML of the pages, rendered from the control socket's answers and
//! the pvtx transaction. Every value shown is escaped.

use std::fmt::Write;

use pv_ctrl_client::Body;
use pv_tx::{Options, Pvtx};
use serde_json::Value;

use crate::handlers::Ctx;

/// Percent-encode a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// Escape text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

pub struct Container {
    pub name: String,
    pub group: String,
    pub status: String,
    pub goal: String,
    pub roles: String,
}

/// What the pages show of the device (each part empty when the control
/// socket could not give it; `error` says why).
#[derive(Default)]
pub struct Info {
    pub revision: String,
    pub progress: Value,
    pub containers: Vec<Container>,
    pub device_meta: Vec<(String, String)>,
    pub user_meta: Vec<(String, String)>,
    pub error: Option<String>,
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

impl Info {
    pub fn read(ctx: &Ctx) -> Info {
        let get = |path: &str| -> Result<Value, String> {
            match ctx.call("GET", path, Body::None) {
                Ok((200, b)) => serde_json::from_slice(&b).map_err(|e| format!("{path}: {e}")),
                Ok((st, b)) => Err(format!("{path}: {st} {}", String::from_utf8_lossy(&b))),
                Err(_) => Err(format!("{path}: the control socket did not answer")),
            }
        };
        let mut info = Info::default();
        let mut run = || -> Result<(), String> {
            let dm = get("/device-meta")?;
            info.revision = s(&dm["pantavisor.revision"]);
            info.device_meta = pv_tx::meta_pairs(&dm);
            info.user_meta = pv_tx::meta_pairs(&get("/user-meta")?);
            info.containers = get("/containers")?
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| Container {
                    name: s(&c["name"]),
                    group: s(&c["group"]),
                    status: s(&c["status"]),
                    goal: s(&c["status_goal"]),
                    roles: c["roles"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", "),
                })
                .collect();
            if pv_types::is_revision(&info.revision) {
                info.progress = get(&format!("/steps/{}/progress", info.revision))?;
            }
            Ok(())
        };
        if let Err(e) = run() {
            info.error = Some(e);
        }
        info
    }
}

fn status_class(status: &str) -> &'static str {
    match status {
        "DONE" | "UPDATED" | "READY" | "STARTED" => "ok",
        "ERROR" | "WONTGO" | "INVALID" | "STOPPED" => "bad",
        _ => "run",
    }
}

fn page(title: &str, on: &str, info: &Info, body: &str) -> String {
    let nav = [
        ("/", "Device"),
        ("/ui/edit", "Edit revision"),
        ("/ui/logs", "Logs"),
        ("/ui/usermeta", "User metadata"),
    ]
    .iter()
    .map(|(href, name)| {
        let class = if *href == on { " class=\"on\"" } else { "" };
        format!("<a href=\"{href}\"{class}>{name}</a>")
    })
    .collect::<String>();
    let err = info
        .error
        .as_ref()
        .map(|e| format!("<section><p id=\"msg\">{}</p></section>", esc(e)))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{title} · pantavisor</title><link rel=\"stylesheet\" href=\"/ui/style.css\">\
<script src=\"/ui/app.js\"></script></head><body>\
<header><b>pantavisor</b><span class=\"muted\">revision {rev} <span class=\"st {cls}\">{status}</span></span>{nav}</header>\
<main>{err}{body}</main></body></html>",
        title = esc(title),
        rev = esc(&info.revision),
        cls = status_class(info.progress["status"].as_str().unwrap_or("")),
        status = esc(info.progress["status"].as_str().unwrap_or("")),
    )
}

fn progress_section(p: &Value) -> String {
    let pct = p["progress"].as_i64().unwrap_or(0).clamp(0, 100);
    format!(
        "<p><span class=\"st {}\">{}</span> {} ({pct}%)</p><div class=\"bar\"><div style=\"width:{pct}%\"></div></div>",
        status_class(p["status"].as_str().unwrap_or("")),
        esc(p["status"].as_str().unwrap_or("")),
        esc(p["status-msg"].as_str().unwrap_or("")),
    )
}

fn kv_table(rows: &[(String, String)]) -> String {
    let mut t = String::from("<table><tr><th>key</th><th>value</th></tr>");
    for (k, v) in rows {
        let _ = write!(t, "<tr><td>{}</td><td>{}</td></tr>", esc(k), esc(v));
    }
    t + "</table>"
}

/// `/`: the device at a glance.
pub fn device(ctx: &Ctx) -> String {
    let info = Info::read(ctx);
    let mut b = format!(
        "<section><h2>Revision {}</h2>{}</section>",
        esc(&info.revision),
        progress_section(&info.progress)
    );
    b.push_str("<section><h2>Containers</h2><table id=\"containers\"><tr><th>name</th><th>group</th><th>status</th><th>status goal</th><th>roles</th></tr>");
    for c in &info.containers {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td><span class=\"st {}\">{}</span></td><td>{}</td><td>{}</td></tr>",
            esc(&c.name),
            esc(&c.group),
            status_class(&c.status),
            esc(&c.status),
            esc(&c.goal),
            esc(&c.roles)
        );
    }
    b.push_str("</table></section><section><h2>Device metadata</h2>");
    b.push_str(&kv_table(&info.device_meta));
    b.push_str("</section>");
    page("Device", "/", &info, &b)
}

/// The parts of a state: top-level names, `_config/<name>`, `_sigs/<name>.json`
/// and single files such as `device.json`.
fn parts(state: &pv_types::State) -> Vec<String> {
    let mut out: Vec<String> = state
        .keys()
        .filter(|k| *k != "#spec")
        .map(|k| {
            let mut segs = k.splitn(3, '/');
            let first = segs.next().unwrap_or("");
            match (first, segs.next()) {
                ("_config", Some(n)) => format!("_config/{n}"),
                ("_sigs", Some(n)) => format!("_sigs/{n}"),
                (f, _) => f.to_string(),
            }
        })
        .collect();
    out.dedup();
    out.sort();
    out.dedup();
    out
}

/// `/ui/edit`: the running revision's parts, the transaction, the upload.
pub fn edit(ctx: &Ctx) -> String {
    let info = Info::read(ctx);
    let mut opts = Options::new(&ctx.pvtx_dir);
    opts.socket = Some(ctx.ctrl_socket.clone());
    let pvtx = Pvtx::new(opts);
    // a committed transaction is finished: only an active one is shown
    let tx = pvtx
        .is_active()
        .unwrap_or(false)
        .then(|| pvtx.show().ok())
        .flatten();
    let running = ctx
        .call("GET", "/steps/current", Body::None)
        .ok()
        .and_then(|(st, b)| (st == 200).then_some(b))
        .and_then(|b| pv_types::State::from_slice(&b).ok());
    let mut b = String::from("<p id=\"msg\"></p>");
    match &tx {
        Some(state) => {
            b.push_str("<section id=\"tx\"><h2>Transaction in progress</h2><table><tr><th>part</th><th></th></tr>");
            for p in parts(state) {
                let _ = write!(
                    b,
                    "<tr><td>{0}</td><td><button class=\"del\" data-part=\"{0}\" onclick=\"removePart(this.dataset.part)\">Remove</button></td></tr>",
                    esc(&p)
                );
            }
            b.push_str("</table><p><button id=\"commit\" onclick=\"commitRun()\">Commit and run</button> <button class=\"del\" onclick=\"abortTx()\">Abort</button></p></section>");
        }
        None => b.push_str("<section id=\"tx\"><h2>No transaction</h2><p class=\"muted\">Adding a package or removing a part starts one from the running revision.</p><p><button onclick=\"beginTx()\">Begin from the running revision</button></p></section>"),
    }
    b.push_str("<section id=\"addpkg\"><h2>Add a package</h2><p class=\"muted\">A <code>pvr export</code> tarball (.tar, .tar.gz, .tar.bz2) or a state JSON: the parts it carries replace those of the transaction.</p><input type=\"file\" id=\"pkg\"> <button id=\"add\" onclick=\"addPkg()\">Upload</button></section>");
    if tx.is_none() {
        if let Some(state) = &running {
            b.push_str("<section><h2>Parts of the running revision</h2><table><tr><th>part</th><th></th></tr>");
            for p in parts(state) {
                let _ = write!(
                    b,
                    "<tr><td>{0}</td><td><button class=\"del\" data-part=\"{0}\" onclick=\"removePart(this.dataset.part)\">Remove</button></td></tr>",
                    esc(&p)
                );
            }
            b.push_str("</table></section>");
        }
    }
    b.push_str("<section id=\"progress\" hidden><h2>Progress of <span id=\"p-rev\"></span></h2><p><span class=\"st\" id=\"p-status\"></span> <span id=\"p-msg\"></span></p><div class=\"bar\"><div id=\"p-bar\"></div></div><p id=\"p-final\" hidden><a href=\"/\">Back to the device</a></p></section>");
    page("Edit revision", "/ui/edit", &info, &b)
}

/// `/ui/logs`: pick a container; its log, followed.
pub fn logs(ctx: &Ctx, container: Option<&str>) -> String {
    let info = Info::read(ctx);
    let mut b = String::from("<section><h2>Logs</h2><p>");
    let names = info
        .containers
        .iter()
        .map(|c| c.name.as_str())
        .chain(["pantavisor"]);
    for n in names {
        let _ = write!(
            b,
            "<a href=\"/ui/logs?c={0}\">{1}</a> &nbsp; ",
            esc(&encode(n)),
            esc(n)
        );
    }
    b.push_str("</p></section>");
    if let Some(c) = container {
        match super::log_file(ctx, c) {
            Some(path) => {
                let (bytes, next) = super::read_log(&path, 0);
                let _ = write!(
                    b,
                    "<section><h2>{} <span class=\"muted\">(revision {}, following)</span></h2><pre id=\"log\">{}</pre></section><script>tail({}, {next})</script>",
                    esc(c),
                    esc(&info.revision),
                    esc(&String::from_utf8_lossy(&bytes)),
                    serde_json::Value::from(c),
                );
            }
            None => {
                let _ = write!(
                    b,
                    "<section><p id=\"msg\">no log for {}</p></section>",
                    esc(c)
                );
            }
        }
    }
    page("Logs", "/ui/logs", &info, &b)
}

/// `/ui/usermeta`: the user metadata, editable.
pub fn usermeta(ctx: &Ctx) -> String {
    let info = Info::read(ctx);
    let mut b = String::from("<p id=\"msg\"></p><section><h2>User metadata</h2><table id=\"usermeta\"><tr><th>key</th><th>value</th><th></th></tr>");
    for (k, v) in &info.user_meta {
        let _ = write!(
            b,
            "<tr><td>{0}</td><td>{1}</td><td><button class=\"del\" data-key=\"{0}\" onclick=\"delMeta(this.dataset.key)\">Delete</button></td></tr>",
            esc(k),
            esc(v)
        );
    }
    b.push_str("</table></section><section><h2>Set a key</h2><p><input type=\"text\" id=\"mkey\" placeholder=\"key\"> <input type=\"text\" id=\"mval\" placeholder=\"value\"> <button id=\"save\" onclick=\"saveMeta()\">Save</button></p></section>");
    page("User metadata", "/ui/usermeta", &info, &b)
}

/// `/ui/login`.
pub fn login(failed: bool) -> String {
    let err = if failed {
        "<p id=\"msg\">That is not the token of this device.</p>"
    } else {
        ""
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Log in · pantavisor</title>\
<link rel=\"stylesheet\" href=\"/ui/style.css\"></head><body><header><b>pantavisor</b></header><main>\
<section><h2>This device's LAN endpoint needs its token</h2>{err}<form method=\"post\" action=\"/ui/login\">\
<input type=\"password\" name=\"token\" id=\"token\" placeholder=\"PV_LAN_PVR_TOKEN\"> <button id=\"login\">Log in</button></form></section>\
</main></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_parts() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let st = pv_types::State::from_slice(
            br##"{"#spec":"pantavisor-service-system@1","app/run.json":{},"app/root.squashfs":"0000000000000000000000000000000000000000000000000000000000000000","_config/app/etc/x":"0000000000000000000000000000000000000000000000000000000000000000","_sigs/app.json":{},"device.json":{}}"##,
        )
        .unwrap();
        assert_eq!(
            parts(&st),
            ["_config/app", "_sigs/app.json", "app", "device.json"]
        );
    }
}
