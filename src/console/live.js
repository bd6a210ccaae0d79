// flagwarden console: reloads the page when the audit trail moved (a new request, a decision), so a
// new pending approval shows within a few seconds, but never while someone is typing or has focus
// in a form: a half-typed reason is never lost. Without this script the pages work the same.
(function () {
  "use strict";
  var body = document.body;
  var url = body.getAttribute("data-live");
  if (!url) return;
  var seq = body.getAttribute("data-seq");
  function busy() {
    var a = document.activeElement;
    if (a && a !== body && /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(a.tagName)) return true;
    var fields = document.querySelectorAll("textarea, input[type=text], input[type=password]");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value !== fields[i].defaultValue) return true;
    }
    return false;
  }
  var changed = false;
  function later() {
    // Says on the page that newer data waits for the typing to end (and lets tests see it).
    body.setAttribute("data-stale", "");
    if (!busy()) location.reload();
  }
  function tick() {
    if (changed) {
      later();
      return;
    }
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (t) {
        if (t !== null && t.trim() !== seq) {
          changed = true;
          later();
        }
      })
      .catch(function () {});
  }
  setInterval(tick, 3000);
})();
