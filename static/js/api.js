/* ---------- api: the consent API, the token cookie and the page's Consentry object ---------- */
var src = new URL(me.src, location.href);
var BASE = src.href.replace(/\/cmp\.js([?#].*)?$/, "");
var SITE = me.dataset.site;
var API = BASE + "/v1/sites/" + encodeURIComponent(SITE);
var cookieName = me.dataset.cookie || "consentry";
// A signed-in page's person hint (made by the site's backend): the member's choice from
// another device applies here, and one made here is linked to them.
var hint = me.dataset.person;

// Reading document.cookie is a synchronous round trip to the browser that stalls the page
// while it loads (7-40 ms at 4x CPU slowdown in bench/banner.py); cookieStore asks without
// blocking. document.cookie stays the fallback (no cookieStore, or an insecure context).
function readCookie(n) {
  var cs = w.cookieStore;
  return (cs ? cs.get(n).then(function (c) { return c ? c.value : null; }) : Promise.reject())
    .catch(function () {
      // a sandboxed frame may refuse cookies altogether: then there is no token to send
      var m = d.cookie.match(new RegExp("(?:^|; )" + n.replace(/[-.]/g, "\\$&") + "=([^;]*)"));
      return m ? m[1] : null;
    }).catch(function () { return null; });
}
function lang() {
  return me.dataset.lang || d.documentElement.lang || (navigator.languages || [])[0] || "";
}
function call(method, url, body) {
  var h = {};
  if (token) h.Authorization = "Bearer " + token;
  // text/plain JSON (accepted by the API) keeps a token-less POST free of a CORS preflight
  if (body) h["Content-Type"] = "text/plain";
  return fetch(url, { method: method, headers: h, credentials: "omit",
    body: body && JSON.stringify(body) }).then(function (r) {
    if (!r.ok) throw new Error("Consentry: " + method + " " + url + " " + r.status);
    return r.json();
  });
}
function loadConfig() {
  var l = lang();
  return call("GET", API + "/config" + (l ? "?lang=" + encodeURIComponent(l) : ""));
}
function storeToken(t, expires) {
  token = t;
  var c = cfg.cookie, age = Math.max(0, Math.round(expires - Date.now() / 1000));
  d.cookie = c.name + "=" + t + "; Max-Age=" + age + "; Path=" + (c.path || "/") +
    (c.domain ? "; Domain=" + c.domain : "") + "; SameSite=" + c.same_site +
    (location.protocol == "https:" || c.same_site == "None" ? "; Secure" : "");
}
function ids(m) { return Object.keys(m).filter(function (k) { return m[k] === true; }); }
// The answer to a POST or DELETE, as the state the token now carries: the rule then decides
// what runs (a vendor serving only necessary purposes runs whatever the answer lists).
function record(r) {
  storeToken(r.token, r.expires);
  var c = r.choices;
  setState({ consent_id: r.consent_id, revision: cfg.revision, purposes: ids(c.purposes),
    vendors: ids(c.vendors), separate: ids(c.separate), gpc: gpcNow(), expires: r.expires }, true);
  ui.chosen();
  tags();
  return api.getConsent();
}
function post(action, choice) {
  choice = choice || {};
  return ready.then(function () {
    return call("POST", API + "/consent", { action: action, revision: cfg.revision,
      language: cfg.language, purposes: choice.purposes || {}, vendors: choice.vendors || {},
      separate: choice.separate || {}, gpc: jsGpc, hint: hint });
  }).then(record);
}
// The member's consent for this browser: {consent, token?}; a token means a new one to store.
function ask() {
  return call("POST", API + "/identify", { hint: hint, language: lang(), gpc: jsGpc });
}
function withdraw() {
  return ready.then(function () {
    if (!state || !state.consent_id) return null;
    return call("DELETE", API + "/consent/" + encodeURIComponent(state.consent_id)).then(record);
  });
}

// Optional modules (/cmp-ask.js, /cmp-permissions.js) are scripts of their own, fetched on
// first need with this script's version and nonce (a CSP that trusts the banner trusts them).
// Each hands its factory to Consentry._m and gets the few internals it shares.
var mods = {}, waiting = {};
function need(name) {
  return mods[name] || (mods[name] = new Promise(function (ok, no) {
    var s = d.createElement("script");
    waiting[name] = ok;
    s.src = BASE + "/cmp-" + name + ".js" + src.search;
    s.nonce = me.nonce;
    s.onerror = function () { delete mods[name]; no(new Error("Consentry: " + s.src + " did not load")); };
    d.head.appendChild(s);
  }));
}

var api = w.Consentry = {
  getConsent: function () {
    return state && JSON.parse(JSON.stringify(state));
  },
  show: function () { return ready.then(function () { ui.open(); }); },
  acceptAll: function () { return post("accept_all"); },
  rejectAll: function () { return post("reject_all"); },
  withdraw: withdraw,
  // A member signed in on a page already running: their choice applies as a stored one.
  identify: function (h) {
    return ready.then(function () {
      hint = h;
      return ask();
    }).then(function (r) {
      if (r.token) {
        storeToken(r.token, r.expires);
        setState(r.consent, true);
        ui.chosen();
        tags();
      }
      return api.getConsent();
    });
  },
  // One per-recipient item for one recipient, asked in context: the backend's ask token in,
  // {agreed, event_id} out (the modal is in /cmp-ask.js).
  ask: function (t) {
    return ready.then(function () { return need("ask"); }).then(function (m) { return m.ask(t); });
  },
  _m: function (name, make) {
    var ok = waiting[name];
    delete waiting[name];
    if (ok) ok(make({ API: API, ready: ready, lang: lang, granted: granted, post: post, ui: kit,
      cfg: function () { return cfg; }, state: function () { return state || eff; },
      hint: function () { return hint; } }));
  },
  // A page event through the beacon (sendBeacon, text/plain: no preflight), only if allowed.
  track: function (name, props) {
    return ready.then(function () {
      var b = cfg.beacon;
      return !!b && granted("purposes", b.purpose) && navigator.sendBeacon(BASE + "/b",
        JSON.stringify({ s: SITE, e: name, u: location.href, r: d.referrer, p: props, k: token }));
    });
  },
  onChange: function (cb) {
    subs.push(cb);
    return function () { subs = subs.filter(function (x) { return x !== cb; }); };
  },
  // the grant rule itself, for tests and integrators deciding as the banner does
  grants: { choose: choose, effective: effective }
};
