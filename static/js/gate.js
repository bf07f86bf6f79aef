/* ---------- gate: scripts, iframes and images waiting for consent ---------- */
var SEL = "script[type='text/plain'][data-consent],script[type='text/plain'][data-vendor]," +
  "iframe[data-src],img[data-src]";
var gate = {
  // only the effective maps decide (state.js); an element naming nothing never runs
  allowed: function (el) {
    var ps = (el.dataset.consent || "").split(/[\s,]+/).filter(Boolean);
    var v = el.dataset.vendor;
    return ps.every(function (p) { return granted("purposes", p); }) &&
      (!v || granted("vendors", v)) && (ps.length > 0 || !!v);
  },
  scan: function (root) {
    if (!eff) return;
    var els = root.firstElementChild ? [].slice.call(root.querySelectorAll(SEL)) : [];
    if (root.matches && root.matches(SEL)) els.unshift(root);
    var scripts = [];
    els.forEach(function (el) {
      if (el.tagName == "SCRIPT") { if (gate.allowed(el)) scripts.push(el); }
      else if (gate.allowed(el)) gate.load(el);
      else if (el.tagName == "IFRAME") ui.placeholder(el);
    });
    gate.run(scripts);
  },
  load: function (el) {
    el.src = el.dataset.src;
    el.removeAttribute("data-src");
    el.hidden = false;
    var ph = el.previousElementSibling;
    if (ph && ph.classList.contains("cmp-ph")) ph.remove();
  },
  // One at a time, waiting for each external script, so they run in document order.
  run: function (list) {
    var old = list.shift();
    if (!old) return;
    if (old.dataset.cmpQueued) return gate.run(list);
    old.dataset.cmpQueued = 1;
    var s = d.createElement("script");
    [].forEach.call(old.attributes, function (a) {
      if (!/^(type|data-src|data-type|data-cmp-queued)$/.test(a.name)) s.setAttribute(a.name, a.value);
    });
    if (old.dataset.type) s.type = old.dataset.type;
    s.nonce = old.nonce; // the nonce attribute reads empty once the element is in the DOM
    var url = old.dataset.src || old.getAttribute("src");
    var next = function () { gate.run(list); };
    if (url) {
      s.async = false;
      s.onload = s.onerror = next;
      s.src = url;
    } else {
      s.text = old.text;
    }
    old.replaceWith(s);
    if (!url) next();
  }
};
// Elements added after the config came (late markup, single-page apps); what was there then
// is scanned whole by setState. Observing only from then on keeps the page's own parsing
// tasks free of our callbacks; parser-inserted nodes still arrive before they run.
var observer = new MutationObserver(function (ms) {
  for (var i = 0; i < ms.length; i++) {
    for (var a = ms[i].addedNodes, j = 0; j < a.length; j++) {
      if (a[j].nodeType == 1) gate.scan(a[j]);
    }
  }
});

/* ---------- tags and beacon: what the server's tag gate allows, in its order ---------- */
var ran = {}, pv = me.dataset.pageview == null;
function tags() {
  if (!pv && granted("purposes", (cfg.beacon || {}).purpose)) pv = api.track("pageview");
  if (!cfg.endpoints.tags || me.dataset.tags == "off") return;
  call("GET", API + "/tags").then(function (r) {
    gate.run(r.tags.filter(function (t) { return !ran[t.id] && (ran[t.id] = 1); }).map(function (t) {
      var s = d.createElement("script");
      Object.keys(t.attributes).forEach(function (a) { s.setAttribute(a, t.attributes[a]); });
      s.type = "text/plain";
      if (t.src) s.dataset.src = t.src; else s.text = t.inline;
      s.nonce = me.nonce;
      return d.head.appendChild(s);
    }));
  }).catch(function (e) { if (w.console) console.error(e); });
}
