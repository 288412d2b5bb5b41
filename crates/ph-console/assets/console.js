// The console's script: a region with data-poll="URL" is refreshed from
// URL every data-every ms (the steps timeline); a tbody with
// data-tail="URL" gets the rows after its last data-id appended every
// second while the #live box is checked (the log tail). Nothing else.
"use strict";
(function () {
  function poll(el) {
    var every = parseInt(el.getAttribute("data-every") || "2000", 10);
    var busy = false;
    setInterval(function () {
      if (busy || document.hidden) return;
      busy = true;
      fetch(el.getAttribute("data-poll"), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html !== null && html !== el.innerHTML) el.innerHTML = html;
        })
        .catch(function () {})
        .then(function () { busy = false; });
    }, every);
  }
  function tail(body) {
    var live = document.getElementById("live");
    var busy = false;
    setInterval(function () {
      if (busy || (live && !live.checked)) return;
      var rows = body.querySelectorAll("tr[data-id]");
      var last = rows.length ? rows[rows.length - 1].getAttribute("data-id") : "0";
      busy = true;
      fetch(body.getAttribute("data-tail") + "&after=" + last, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : ""; })
        .then(function (html) {
          if (html.trim() === "") return;
          body.insertAdjacentHTML("beforeend", html);
          var none = document.getElementById("no-logs");
          if (none) none.remove();
          window.scrollTo(0, document.body.scrollHeight);
        })
        .catch(function () {})
        .then(function () { busy = false; });
    }, 1000);
  }
  // the rollout form: a chosen pvr export is uploaded first, its state
  // then goes in the form's state field
  function exportUpload(input) {
    var form = input.form;
    form.addEventListener("submit", function (ev) {
      if (!input.files.length) return;
      ev.preventDefault();
      fetch("/ui/rollouts/export", {
        method: "POST", credentials: "same-origin", body: input.files[0],
        headers: { "X-CSRF-Token": input.getAttribute("data-csrf") }
      }).then(function (r) {
        return r.text().then(function (t) { if (!r.ok) throw new Error(t); return t; });
      }).then(function (state) {
        form.elements.state.value = state;
        input.value = "";
        form.submit();
      }).catch(function (e) { alert(e.message); });
    });
  }
  document.querySelectorAll("#export-file").forEach(exportUpload);
  document.querySelectorAll("[data-poll]").forEach(poll);
  document.querySelectorAll("[data-tail]").forEach(tail);
})();
