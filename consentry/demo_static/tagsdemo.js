/* The /demo/tags page's own script: shows what ran and sends a custom event on request. */
(function () {
  var out = document.getElementById("demo-state");
  function show() {
    out.textContent = "Scripts that ran: " + (window.demoRan || []).map(function (r) { return r.sdk; }).join(", ") +
      "\nConsent: " + JSON.stringify(window.Consentry && Consentry.getConsent());
  }
  document.addEventListener("consentry:consent", show);
  setInterval(show, 1000);
  show();
  document.getElementById("demo-track").addEventListener("click", function () {
    Consentry.track("demo_click", { button: "demo-track" }).then(function (sent) {
      out.textContent += "\ntrack: " + (sent ? "sent" : "not allowed");
    });
  });
  document.getElementById("demo-prefs").addEventListener("click", function () { Consentry.show(); });
})();
