/* ---------- permissions: the browser's prompts behind consent ---------- */
// Loaded only for a site whose config maps capabilities to a purpose or a separate item
// ([sites.X.permissions]). It wraps the browser's own calls, so the page's code stays as it
// is: the first call whose consent is not granted shows a dialog explaining the purpose; the
// answer is recorded as a normal consent update (the banner's custom choice), and only a yes
// goes on to the browser's prompt. A no fails the call the way the browser's own refusal
// does; later calls on this page do not ask again. Escape dismisses: the call fails as a
// dismissed browser prompt does, nothing is recorded, and the next call asks again.
var map = core.cfg().permissions, refused = {}, pending = {};
var F = {
  en: { camera: "This page wants to use your camera.", microphone: "This page wants to use your microphone.",
    notifications: "This page wants to send you notifications.", geolocation: "This page wants to know your location.",
    then: "If you allow it, your browser will ask you as well.", allow: "Allow", deny: "Don't allow" },
  zh: { camera: "此页面需要使用您的摄像头。", microphone: "此页面需要使用您的麦克风。",
    notifications: "此页面需要向您发送通知。", geolocation: "此页面需要获取您的位置。",
    then: "如果您允许，浏览器还会再次向您确认。", allow: "允许", deny: "不允许" }
};
function t(k) {
  var c = core.cfg();
  return c.texts["permission_" + k] || (F[c.language.split("-")[0]] || F.en)[k];
}
function target(cap) {
  var m = map[cap];
  return m && (m.purpose ? ["purposes", m.purpose] : ["separate", m.separate]);
}
// true: go on to the browser; false: refused (now or earlier on this page); null: dismissed
function question(tg, caps) {
  var c = core.cfg(), x = c[tg[0]].filter(function (y) { return y.id == tg[1]; })[0] || { title: tg[1] };
  return modal({ lang: c.language, dir: c.dir, title: x.title, description: x.description,
    body: caps.map(function (cap) { return h("p", { text: t(cap) }); }).concat(h("p", { cls: "cmp-small", text: t("then") })),
    yes: t("allow"), no: t("deny") }).then(function (yes) {
    if (yes == null) return null;
    // the current choices with this one answer changed (as the banner's "Always allow")
    var s = core.state(), ch = { purposes: {}, vendors: {}, separate: {} };
    ["purposes", "vendors"].forEach(function (k) {
      Object.keys(s[k]).forEach(function (id) { ch[k][id] = s[k][id]; });
    });
    Object.keys(s.separate).forEach(function (id) { if (s.separate[id]) ch.separate[id] = true; });
    ch[tg[0]][tg[1]] = yes;
    return core.post("custom", ch).then(function () {
      if (!yes) refused[tg.join(":")] = 1;
      return yes;
    }, function (e) {
      if (w.console) console.error(e);
      return false;  // not recorded: no proof, so no prompt
    });
  });
}
function one(tg, caps) {
  var key = tg.join(":");
  if (core.granted(tg[0], tg[1])) return true;
  if (refused[key]) return false;
  // two calls while the dialog is open share its answer
  return pending[key] || (pending[key] = question(tg, caps).then(function (v) {
    delete pending[key];
    return v;
  }));
}
function gate(caps) {
  return core.ready.then(function () {
    var list = [], by = {};
    caps.forEach(function (cap) {
      var tg = target(cap);
      if (!tg) return;
      if (!by[tg]) { by[tg] = []; list.push(tg); }
      by[tg].push(cap);
    });
    // one dialog at a time; the first no (or dismissal) ends it
    return list.reduce(function (p, tg) {
      return p.then(function (ok) { return ok === true ? one(tg, by[tg]) : ok; });
    }, Promise.resolve(true));
  });
}
function no(ok) {
  return new DOMException(ok === null ? "Permission dismissed" : "Permission denied", "NotAllowedError");
}
function wrap(proto, name, caps, refuse) {
  var orig = proto && proto[name];
  if (typeof orig != "function") return;
  proto[name] = function () {
    var self = this, args = arguments;
    return gate(caps.apply(null, args)).then(function (ok) {
      return ok === true ? orig.apply(self, args) : refuse(ok);
    });
  };
}
wrap(w.MediaDevices && MediaDevices.prototype, "getUserMedia", function (c) {
  return (c && c.video ? ["camera"] : []).concat(c && c.audio ? ["microphone"] : []);
}, function (ok) { throw no(ok); });
wrap(w.PushManager && PushManager.prototype, "subscribe", function () { return ["notifications"]; },
  function (ok) { throw no(ok); });
var N = w.Notification;
if (N && typeof N.requestPermission == "function") {
  var ask = N.requestPermission;
  N.requestPermission = function (cb) {
    // the browser's own answer is "denied" (never a rejection), to the callback form too
    var p = N.permission == "denied" ? Promise.resolve("denied") : gate(["notifications"]).then(function (ok) {
      return ok === true ? ask.call(N) : "denied";
    });
    if (typeof cb == "function") p.then(cb);
    return p;
  };
}
// Geolocation answers through callbacks, and watchPosition returns its id at once: ours, mapped
// to the browser's once the consent is there (clearWatch before that cancels the wait).
var G = w.Geolocation && Geolocation.prototype;
if (G && G.getCurrentPosition) {
  var once = G.getCurrentPosition, watch = G.watchPosition, clear = G.clearWatch, ids = {}, next = 1e9;
  var denied = function (err) {
    if (typeof err != "function") return;
    var E = w.GeolocationPositionError, e = Object.create(E ? E.prototype : {});
    Object.defineProperties(e, { code: { value: 1 }, message: { value: "User denied Geolocation" } });
    if (!E) e.PERMISSION_DENIED = 1;
    err(e);
  };
  G.getCurrentPosition = function (ok, err, opt) {
    var self = this;
    gate(["geolocation"]).then(function (yes) {
      if (yes === true) once.call(self, ok, err, opt); else denied(err);
    });
  };
  G.watchPosition = function (ok, err, opt) {
    var self = this, id = ++next;
    ids[id] = 0;
    gate(["geolocation"]).then(function (yes) {
      if (!(id in ids)) return;
      if (yes === true) ids[id] = watch.call(self, ok, err, opt);
      else { delete ids[id]; denied(err); }
    });
    return id;
  };
  G.clearWatch = function (id) {
    if (!(id in ids)) return clear.call(this, id);
    if (ids[id]) clear.call(this, ids[id]);
    delete ids[id];
  };
}
var mod = { gate: gate };
