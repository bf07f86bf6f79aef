/* The demo page's own script: shows what ran, and adds a tag later like a single-page app. */
(function () {
  var out = document.getElementById("demo-state");
  function show() {
    out.textContent = "Scripts that ran: " + (window.demoRan || []).map(function (r) { return r.sdk; }).join(", ") +
      "\nCookies: " + (document.cookie || "(none)") +
      "\nConsent: " + JSON.stringify(window.Consentry && Consentry.getConsent());
  }
  document.addEventListener("consentry:change", show);
  document.addEventListener("consentry:consent", show);
  setInterval(show, 1000);
  show();
  document.getElementById("demo-add").addEventListener("click", function () {
    var s = document.createElement("script");
    s.type = "text/plain";
    s.setAttribute("data-vendor", "wechat");
    s.setAttribute("data-src", "/demo/static/wechat.js");
    document.body.appendChild(s);
  });
  document.getElementById("demo-prefs").addEventListener("click", function () { Consentry.show(); });
})();
