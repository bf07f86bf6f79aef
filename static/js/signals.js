/* ---------- signals: Consent Mode, UET and Meta defaults, before any tag runs ---------- */
// Joined first: a gated tag may only ever see these defaults before its own first command.
var TYPES = ["ad_storage", "ad_user_data", "ad_personalization", "analytics_storage",
  "functionality_storage", "personalization_storage", "security_storage"];
var dl = w.dataLayer = w.dataLayer || [];
// gtag pushes the Arguments object; gtag.js ignores plain arrays for commands
function gtag() { dl.push(arguments); }
function gcm(granted) {
  var o = {};
  TYPES.forEach(function (t) { o[t] = granted[t] ? "granted" : "denied"; });
  return o;
}
var def = gcm({ security_storage: 1 });
def.wait_for_update = +(me.dataset.wait || 500);
gtag("consent", "default", def);
var uetq = w.uetq = w.uetq || [];
uetq.push("consent", "default", { ad_storage: "denied" });
var adGranted = false;
var jsGpc = navigator.globalPrivacyControl === true;

// Meta: fbq('consent', …) must be queued before fbq('init'). If the page has no fbq yet, catch
// the moment Meta's loader snippet assigns it and put our call first in its fresh queue
// (a stub of our own would make that snippet return early and never load fbevents.js).
// Installed at once: watching the parser's nodes for a script naming fbq put a
// MutationObserver callback into the parser's last task, where Blink also lays the page out,
// and that pushed the task past 50 ms in bench/banner.py.
if (typeof w.fbq == "function") w.fbq("consent", "revoke");
else try {
  Object.defineProperty(w, "fbq", { configurable: true, get: function () {}, set: function (f) {
    Object.defineProperty(w, "fbq", { configurable: true, writable: true, value: f });
    if (typeof f != "function") return;
    Object.defineProperty(f, "queue", { configurable: true, set: function (q) {
      Object.defineProperty(f, "queue", { configurable: true, writable: true, value: q });
      q.push(["consent", adGranted ? "grant" : "revoke"]);
    } });
  } });
} catch (e) { /* fbq defined non-configurable: nothing to hook */ }

// Consent Mode types granted by a purposes map, through the site's mapping
function types(mapping, purposes) {
  var on = {};
  Object.keys(mapping || {}).forEach(function (p) {
    if (purposes[p]) mapping[p].forEach(function (t) { on[t] = 1; });
  });
  return on;
}
function signals(mapping, purposes) {
  var on = types(mapping, purposes);
  gtag("consent", "update", gcm(on));
  adGranted = !!(on.ad_storage || purposes.marketing);
  var word = adGranted ? "granted" : "denied";
  uetq = w.uetq || uetq;
  uetq.push("consent", "update", { ad_storage: word });
  if (typeof w.fbq == "function") w.fbq("consent", adGranted ? "grant" : "revoke");
}
