// Leadbridge app: the one script of our own (htmx does the rest). Tells the page when a
// lead is assigned to the signed-in rep (server-sent events), and sends the session's
// CSRF token with every htmx request.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]');
  document.body.addEventListener("htmx:configRequest", function (e) {
    if (csrf) { e.detail.headers["X-CSRF-Token"] = csrf.content; }
  });
  var live = document.querySelector("[data-live-events]");
  if (!live || !window.EventSource) { return; }
  var status = document.getElementById("live-status");
  var source = new EventSource(live.getAttribute("data-live-events"));
  source.addEventListener("ready", function () { live.setAttribute("data-live", "ready"); });
  source.addEventListener("assigned", function () {
    if (status) { status.textContent = "A new lead was assigned to you."; }
    htmx.trigger(live, "assigned");
  });
  source.onerror = function () {
    // The session may have expired: reloading takes the person to sign-in if so; the
    // browser reconnects by itself otherwise.
    if (source.readyState === EventSource.CLOSED) { window.location.reload(); }
  };
})();
