// Calls of the pvtx API (/cgi-bin/pvtx/...) and the live views.
"use strict";
const $ = (id) => document.getElementById(id);
function say(t) { const m = $("msg"); if (m) m.textContent = t; }
async function pvtx(method, op, body) {
  const r = await fetch("/cgi-bin/pvtx/" + op, { method, body, credentials: "same-origin" });
  const text = await r.text();
  let v = null; try { v = JSON.parse(text); } catch (e) { v = { error: text }; }
  if (!r.ok) throw new Error((v && (v.error || v.Error)) || r.status + " " + r.statusText);
  return v;
}
async function ensureTx() {
  try { await pvtx("GET", "show"); } catch (e) { await pvtx("POST", "begin"); }
}
function act(f) {
  return async (ev) => {
    if (ev) ev.preventDefault();
    say("working…");
    try { await f(ev); } catch (e) { say(String(e.message || e)); return; }
  };
}
const removePart = (part) => act(async () => { await ensureTx(); await pvtx("PUT", "remove?part=" + encodeURIComponent(part)); location.reload(); })();
const beginTx = act(async () => { await pvtx("POST", "begin"); location.reload(); });
const abortTx = act(async () => { await pvtx("POST", "abort"); location.reload(); });
const addPkg = act(async () => {
  const f = $("pkg").files[0]; if (!f) throw new Error("choose a package file first");
  await ensureTx(); await pvtx("PUT", "add", f); location.reload();
});
const commitRun = act(async () => {
  const c = await pvtx("POST", "commit");
  for (const id of ["tx", "addpkg"]) { const e = $(id); if (e) e.hidden = true; }
  await pvtx("POST", "run?rev=" + encodeURIComponent(c.revision));
  watch(c.revision);
});
function watch(rev) {
  const box = $("progress"); box.hidden = false;
  const tick = async () => {
    let p = {};
    try { p = (await pvtx("GET", "status?rev=" + encodeURIComponent(rev))).progress || {}; } catch (e) { say(e.message); }
    $("p-rev").textContent = rev; $("p-status").textContent = p.status || "";
    $("p-status").className = "st " + ({ DONE: "ok", UPDATED: "ok", ERROR: "bad", WONTGO: "bad" }[p.status] || "run");
    $("p-msg").textContent = p["status-msg"] || ""; $("p-bar").style.width = (p.progress || 0) + "%";
    if (["DONE", "UPDATED", "ERROR", "WONTGO"].includes(p.status)) { say(""); $("p-final").hidden = false; return; }
    setTimeout(tick, 700);
  };
  tick();
}
const saveMeta = act(async () => {
  const k = $("mkey").value.trim(); if (!k) throw new Error("a key is needed");
  await pvtx("POST", "usermeta/save?key=" + encodeURIComponent(k), $("mval").value); location.reload();
});
const delMeta = (k) => act(async () => { await pvtx("PUT", "usermeta/delete?key=" + encodeURIComponent(k)); location.reload(); })();
function tail(c, from) {
  const pre = $("log"); let off = from;
  const tick = async () => {
    try {
      const r = await fetch("/ui/logs/raw?c=" + encodeURIComponent(c) + "&from=" + off, { credentials: "same-origin" });
      if (r.ok) {
        const t = await r.text(); off = Number(r.headers.get("X-Log-Offset") || off);
        if (t) { const end = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4; pre.textContent += t; if (end) pre.scrollTop = pre.scrollHeight; }
      }
    } catch (e) { }
    setTimeout(tick, 1000);
  };
  pre.scrollTop = pre.scrollHeight; setTimeout(tick, 1000);
}
