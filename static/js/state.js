/* ---------- state: what may run now, and applying it (signals, cleanup, gating, events) ---------- */
var cfg = null, state = null, eff = null, token = null;
var subs = [];
// The core reaches the UI only through these four calls. ui.js registers the banner and
// dialog; an optional module can register its own (or wrap this one) with useUI.
function noop() {}
var ui = { showBanner: noop, chosen: noop, open: noop, placeholder: noop };
function useUI(view) { ui = view; }

function gpcNow() { return !!(cfg.gpc || jsGpc); }
function granted(kind, id) { return !!(eff && eff[kind][id]); }
// Every decision goes through the rule: `choice` is a verified state as the server hands it
// ({consent_id, revision, purposes:[ids], …}), or null before any choice (the defaults). One
// made under an older revision counts as none: the banner asks again.
function setState(choice, chosen) {
  var before = eff, g = effective(cfg, choice, gpcNow());
  if (!(choice && choice.revision == cfg.revision)) choice = null;
  g.gpc = !!(choice && choice.gpc) || gpcNow();
  eff = g;
  state = choice ? { consent_id: choice.consent_id, revision: cfg.revision, purposes: g.purposes,
    vendors: g.vendors, separate: g.separate, gpc: g.gpc, expires: choice.expires } : null;
  signals(cfg.consent_mode.mapping, eff.purposes);
  cleanup();
  gate.scan(d);
  var changed = { purposes: [], vendors: [], separate: [] };
  if (before) {
    Object.keys(changed).forEach(function (k) {
      Object.keys(eff[k]).forEach(function (id) {
        if (!!before[k][id] != !!eff[k][id]) changed[k].push(id);
      });
    });
  }
  if (state) emit("consent", { consent: api.getConsent() });
  if (chosen && before) {
    var detail = { consent: api.getConsent(), changed: changed };
    emit("change", detail);
    subs.slice().forEach(function (cb) { try { cb(detail); } catch (e) { setTimeout(function () { throw e; }); } });
  }
}
function emit(name, detail) {
  d.dispatchEvent(new CustomEvent("consentry:" + name, { detail: detail }));
}
// A matcher for the names that refused purposes and vendors declare in these fields, or null.
function refused(fields) {
  var pats = [];
  [["purposes", cfg.purposes], ["vendors", cfg.vendors]].forEach(function (g) {
    g[1].forEach(function (x) {
      if (!eff[g[0]][x.id]) fields.forEach(function (f) { pats = pats.concat(x[f] || []); });
    });
  });
  return pats.length ? new RegExp("^(?:" + pats.map(function (p) {
    return p.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
  }).join("|") + ")$") : null;
}
// Delete what a refused purpose or vendor declared: cookies on this host and every parent
// domain, on this page's path and every parent path (a tag may have set them on any; the
// browser shows us the name, never its domain or path), storage keys, IndexedDB databases and
// caches. The consent cookie stays.
function cleanup() {
  if (!state) return;
  var re = refused(["cookies", "storage_keys"]), db = refused(["indexeddb"]), cs = refused(["caches"]);
  if (re) {
    var host = location.hostname.split("."), doms = [""], dirs = location.pathname.split("/"), paths = [];
    for (var i = 0; i < host.length; i++) doms.push("; Domain=" + host.slice(i).join("."));
    // "/a/b" and "/a/b/" are different cookie paths: both, for each parent.
    for (i = 1; i <= dirs.length; i++) paths.push(dirs.slice(0, i).join("/") || "/", dirs.slice(0, i).join("/") + "/");
    d.cookie.split("; ").forEach(function (kv) {
      var n = kv.split("=")[0];
      if (n && n != cfg.cookie.name && re.test(n)) {
        doms.forEach(function (dm) {
          paths.forEach(function (p) { d.cookie = n + "=; Max-Age=0; Path=" + p + dm; });
        });
      }
    });
    [w.localStorage, w.sessionStorage].forEach(function (st) {
      try {
        for (var k = st.length - 1; k >= 0; k--) if (re.test(st.key(k))) st.removeItem(st.key(k));
      } catch (e) { /* storage disabled */ }
    });
  }
  // A database another tab (or a tag here) keeps open is deleted once it closes. Cache
  // Storage exists only in secure contexts; both throw in opaque (sandboxed) origins.
  try {
    if (db) w.indexedDB.databases().then(function (l) {
      l.forEach(function (x) { if (db.test(x.name)) w.indexedDB.deleteDatabase(x.name); });
    }, noop);
    if (cs && w.caches) w.caches.keys().then(function (l) {
      l.forEach(function (k) { if (cs.test(k)) w.caches.delete(k); });
    }, noop);
  } catch (e) { /* no access */ }
}
