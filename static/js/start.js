/* ---------- start: stylesheet and config in parallel, UI once both are there ---------- */
var css = new Promise(function (ok) {
  var l = d.createElement("link");
  l.rel = "stylesheet";
  l.href = BASE + "/cmp.css" + src.search;
  l.onload = l.onerror = ok;
  // in a task of its own: starting a fetch from a new <link> costs the page 3-18 ms at 4x
  setTimeout(function () { d.head.appendChild(l); }, 0);
});
// With a person hint, the member's consent is asked for alongside the config (no extra round
// trip) and, if it brings a new token, applied exactly as a stored choice would be.
var member;
function identified() {
  member = hint && ask().catch(function (e) { if (w.console) console.error(e); });
}
var ready = api.ready = readCookie(cookieName).then(function (t) {
  token = t;
  identified();
  return loadConfig();
}).then(function (c) {
  cfg = c;
  // The cookie name is only known now; a site that renamed it says so in data-cookie.
  if (c.cookie.name != cookieName && !token) {
    return readCookie(c.cookie.name).then(function (t) {
      if (!t) return;
      cookieName = c.cookie.name;
      token = t;
      identified();  // again, with the token (data-cookie spares both requests)
      return loadConfig().then(function (c2) { cfg = c2; });
    });
  }
}).then(function () { return member; }).then(function (r) {
  if (r && r.token) {
    storeToken(r.token, r.expires);
    cfg.consent = r.consent;
  }
  var cm = cfg.consent_mode;
  if (cm.ads_data_redaction) gtag("set", "ads_data_redaction", true);
  if (cm.url_passthrough) gtag("set", "url_passthrough", true);
  // The regime's defaults for the visitor's region (most specific default wins in gtag),
  // with the site's wait_for_update; the choice itself follows as an update.
  if (cfg.country) {
    var rd = gcm(types(cm.mapping, choose(cfg, "defaults", {}, gpcNow()).purposes));
    rd.region = [cfg.country].concat(cfg.subdivision ? [cfg.country + "-" + cfg.subdivision] : []);
    rd.wait_for_update = cm.wait_for_update;
    gtag("consent", "default", rd);
  }
  observer.observe(d.documentElement, { childList: true, subtree: true });  // then scan all
  setState(cfg.consent, true);
  tags();
  // Its prompts wrap the browser's once loaded, before `ready` resolves: a page that waits for
  // ready never reaches a browser prompt unwrapped. Failing to load, it fails nothing else.
  var perms = cfg.permissions && need("permissions").catch(function (e) { if (w.console) console.error(e); });
  return Promise.all([css, new Promise(function (ok) {
    if (d.body) ok(); else d.addEventListener("DOMContentLoaded", ok);
  }), new Promise(function (ok) { setTimeout(ok, 0); })]).then(function () {
    // Drawn in a task of its own (the timeout above): applying the config and the banner's
    // first layout together made a long task on slow devices.
    if (state) ui.chosen(); else ui.showBanner();
    return perms;
  }).then(function () { return cfg; });
});
ready.catch(function (e) { if (w.console) console.error(e); });
