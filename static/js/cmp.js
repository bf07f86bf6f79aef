/*! Consentry banner | no dependencies | <script src=".../cmp.js" data-site="ID"> first in <head> */
(function (w, d) {
  "use strict";
  var me = d.currentScript;
  if (!me || w.Consentry) return;

  /* ---------- core: signals that must exist before any tag runs ---------- */
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

  /* ---------- core: config, state and API ---------- */
  var src = new URL(me.src, location.href);
  var BASE = src.href.replace(/\/cmp\.js([?#].*)?$/, "");
  var SITE = me.dataset.site;
  var API = BASE + "/v1/sites/" + encodeURIComponent(SITE);
  var cookieName = me.dataset.cookie || "consentry";
  var jsGpc = navigator.globalPrivacyControl === true;
  var cfg = null, state = null, eff = null, token = null;
  var subs = [];

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
  function toMap(v, list) {
    var m = {};
    list.forEach(function (x) { m[x.id] = Array.isArray(v) ? v.indexOf(x.id) >= 0 : !!v[x.id]; });
    return m;
  }
  // a state: {consent_id, purposes:{id:bool}, vendors:{id:bool}, separate:{id:bool}}
  function normalise(c, id) {
    return { consent_id: id, revision: cfg.revision, purposes: toMap(c.purposes, cfg.purposes),
      vendors: toMap(c.vendors, cfg.vendors), separate: toMap(c.separate, cfg.separate),
      gpc: !!(c.gpc || cfg.gpc || jsGpc), expires: c.expires };
  }
  function defaults() {
    var s = normalise(cfg.defaults, null);
    cfg.purposes.forEach(function (p) {
      if (p.gpc && s.gpc) s.purposes[p.id] = false;
    });
    cfg.vendors.forEach(function (v) {
      s.vendors[v.id] = s.vendors[v.id] && v.purposes.every(function (p) { return s.purposes[p]; });
    });
    return s;
  }
  function storeToken(t, expires) {
    token = t;
    var c = cfg.cookie, age = Math.max(0, Math.round(expires - Date.now() / 1000));
    d.cookie = c.name + "=" + t + "; Max-Age=" + age + "; Path=" + (c.path || "/") +
      (c.domain ? "; Domain=" + c.domain : "") + "; SameSite=" + c.same_site +
      (location.protocol == "https:" || c.same_site == "None" ? "; Secure" : "");
  }
  function record(r) {
    storeToken(r.token, r.expires);
    r.choices.expires = r.expires;
    setState(normalise(r.choices, r.consent_id), true);
    ui.chosen();
    tags();
    return api.getConsent();
  }
  function post(action, choice) {
    choice = choice || {};
    return ready.then(function () {
      return call("POST", API + "/consent", { action: action, revision: cfg.revision,
        language: cfg.language, purposes: choice.purposes || {}, vendors: choice.vendors || {},
        separate: choice.separate || {}, gpc: jsGpc });
    }).then(record);
  }
  function withdraw() {
    return ready.then(function () {
      if (!state || !state.consent_id) return null;
      return call("DELETE", API + "/consent/" + encodeURIComponent(state.consent_id)).then(record);
    });
  }

  /* ---------- core: applying a state (signals, cleanup, gating, events) ---------- */
  function granted(kind, id) { return !!(eff && eff[kind][id]); }
  function setState(s, chosen) {
    var before = eff;
    state = chosen || state ? s : null;
    eff = s;
    signals();
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
  // Consent Mode types granted by a purposes map, through the config's mapping
  function types(purposes) {
    var on = {}, map = cfg.consent_mode.mapping || {};
    Object.keys(map).forEach(function (p) {
      if (purposes[p]) map[p].forEach(function (t) { on[t] = 1; });
    });
    return on;
  }
  function signals() {
    var on = types(eff.purposes);
    gtag("consent", "update", gcm(on));
    adGranted = !!(on.ad_storage || eff.purposes.marketing);
    var word = adGranted ? "granted" : "denied";
    uetq = w.uetq || uetq;
    uetq.push("consent", "update", { ad_storage: word });
    if (typeof w.fbq == "function") w.fbq("consent", adGranted ? "grant" : "revoke");
  }
  // Delete what a refused purpose or vendor declared: cookies on this host and every parent
  // domain (a tag may have set them on any), and storage keys. The consent cookie stays.
  function cleanup() {
    if (!state) return;
    var pats = [];
    [["purposes", cfg.purposes], ["vendors", cfg.vendors]].forEach(function (g) {
      g[1].forEach(function (x) {
        if (!eff[g[0]][x.id]) pats = pats.concat(x.cookies || [], x.storage_keys || []);
      });
    });
    if (!pats.length) return;
    var re = new RegExp("^(?:" + pats.map(function (p) {
      return p.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
    }).join("|") + ")$");
    var host = location.hostname.split("."), doms = [""];
    for (var i = 0; i < host.length; i++) doms.push("; Domain=" + host.slice(i).join("."));
    d.cookie.split("; ").forEach(function (kv) {
      var n = kv.split("=")[0];
      if (n && n != cfg.cookie.name && re.test(n)) {
        doms.forEach(function (dm) {
          d.cookie = n + "=; Max-Age=0; Path=/" + dm;
        });
      }
    });
    [w.localStorage, w.sessionStorage].forEach(function (st) {
      try {
        for (var k = st.length - 1; k >= 0; k--) if (re.test(st.key(k))) st.removeItem(st.key(k));
      } catch (e) { /* storage disabled */ }
    });
  }

  /* ---------- gate: scripts, iframes and images waiting for consent ---------- */
  var SEL = "script[type='text/plain'][data-consent],script[type='text/plain'][data-vendor]," +
    "iframe[data-src],img[data-src]";
  var gate = {
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

  /* ---------- ui ---------- */
  var FALLBACK = {
    en: { details: "Details", blocked: "This content from {} is blocked by your privacy settings.",
      load_once: "Load once", always_allow: "Always allow {}" },
    zh: { details: "详情", blocked: "根据您的隐私设置，来自{}的内容已被屏蔽。",
      load_once: "仅加载一次", always_allow: "始终允许{}" }
  };
  function T(k, arg) {
    var s = cfg.texts[k] || (FALLBACK[cfg.language.split("-")[0]] || FALLBACK.en)[k] || FALLBACK.en[k];
    return arg == null ? s : s.replace("{}", arg);
  }
  // Every text goes in through textContent: config texts are data, never markup.
  function h(tag, props, kids) {
    var el = d.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      if (props[k] == null) return;
      if (k == "text") el.textContent = props[k];
      else if (k == "cls") el.className = props[k];
      else if (k.slice(0, 2) == "on") el.addEventListener(k.slice(2), props[k]);
      else if (k in el && typeof el[k] != "string") el[k] = props[k];
      else el.setAttribute(k, props[k]);
    });
    (kids || []).forEach(function (c) { if (c) el.appendChild(c); });
    return el;
  }
  function btn(text, cls, fn) {
    return h("button", { type: "button", cls: "cmp-btn " + (cls || ""), text: text, onclick: fn });
  }
  function wrap(cls, role, label) {
    return h("div", { cls: "cmp " + cls, dir: cfg.dir, lang: cfg.language, role: role,
      "aria-label": label });
  }
  function byId(list, id) { return list.filter(function (x) { return x.id == id; })[0]; }
  function row(label, value) {
    return value && value.length ? h("div", {}, [h("dt", { text: label }),
      h("dd", { text: [].concat(value).join(", ") })]) : null;
  }

  var ui = {
    banner: null, dialog: null, fab: null, back: null,
    showBanner: function () {
      if (ui.banner) return;
      var title = h("h2", { cls: "cmp-title", id: "cmp-bt", text: T("title") });
      ui.banner = wrap("cmp-banner", "region", T("title"));
      ui.banner.tabIndex = -1;
      [title, h("p", { text: T("description") }), eff.gpc && h("p", { cls: "cmp-gpc", text: T("gpc_honoured") }),
        h("div", { cls: "cmp-actions" }, [
          btn(T("accept_all"), "cmp-main", function () { api.acceptAll(); }),
          btn(T("reject_all"), "cmp-main", function () { api.rejectAll(); }),
          btn(T("customise"), "cmp-link", function () { ui.open(); })
        ])].forEach(function (c) { if (c) ui.banner.appendChild(c); });
      d.body.appendChild(ui.banner);
      // Focus once the banner's first frame is drawn: focusing now forces its first layout into
      // this task, and building plus laying out together made a long task on slow devices.
      var b = ui.banner;
      requestAnimationFrame(function () {
        setTimeout(function () { if (ui.banner == b && !b.contains(d.activeElement)) b.focus(); });
      });
    },
    chosen: function () {
      if (ui.banner) { ui.banner.remove(); ui.banner = null; }
      if (ui.dialog) ui.close();
      if (!ui.fab) {
        ui.fab = btn(T("preferences"), "cmp cmp-fab", function () { ui.open(); });
        ui.fab.dir = cfg.dir; ui.fab.lang = cfg.language;
        d.body.appendChild(ui.fab);
      }
    },
    open: function () {
      if (ui.dialog) return;
      var s = state || eff, form = { purposes: {}, vendors: {}, separate: {} };
      ui.back = d.activeElement;
      function toggle(kind, x, on, locked, label, onchange) {
        var i = h("input", { type: "checkbox", checked: !!on, disabled: !!locked,
          onchange: onchange });
        form[kind][x.id] = i;
        return h("label", { cls: "cmp-toggle" }, [i, h("span", { text: label })]);
      }
      function cascade(pid, on) {
        cfg.vendors.forEach(function (v) {
          var i = form.vendors[v.id];
          if (v.purposes.indexOf(pid) >= 0 && !i.disabled) i.checked = on;
        });
      }
      var purposes = cfg.purposes.map(function (p) {
        return h("div", { cls: "cmp-item" }, [
          toggle("purposes", p, p.necessary || s.purposes[p.id], p.necessary, p.title, function (e) {
            cascade(p.id, e.target.checked);
          }),
          p.necessary && h("span", { cls: "cmp-always", text: T("necessary_always_on") }),
          h("p", { text: p.description || "" })
        ]);
      });
      var vendors = cfg.vendors.map(function (v) {
        var locked = v.purposes.every(function (p) { var x = byId(cfg.purposes, p); return x && x.necessary; });
        return h("div", { cls: "cmp-item" }, [
          toggle("vendors", v, locked || s.vendors[v.id], locked, v.name, function (e) {
            if (e.target.checked) v.purposes.forEach(function (p) {
              var i = form.purposes[p]; if (i && !i.disabled) i.checked = true;
            });
          }),
          h("details", {}, [h("summary", { text: T("details") }), h("p", { text: v.description || "" }),
            h("dl", {}, [
              row(T("purpose"), v.purposes.map(function (p) { var x = byId(cfg.purposes, p); return x ? x.title : p; })),
              row(T("recipient"), v.recipient && v.recipient + (v.country ? " (" + v.country + ")" : "")),
              row(T("data_categories"), v.data_categories),
              row(T("cookies"), (v.cookies || []).concat(v.storage_keys || []))
            ]),
            v.privacy_url && h("a", { href: v.privacy_url, target: "_blank", rel: "noopener", text: T("privacy_policy") })
          ])
        ]);
      });
      var separate = cfg.separate_consent && cfg.separate.length ? [
        h("h3", { text: T("separate_title") }), h("p", { text: T("separate_intro") })
      ].concat(cfg.separate.map(function (x) {
        var name = "cmp-s-" + x.id, yes, no;
        var cur = state && state.separate[x.id];
        yes = h("input", { type: "radio", name: name, checked: !!cur });
        no = h("input", { type: "radio", name: name, checked: !!state && !cur });
        form.separate[x.id] = { get checked() { return yes.checked; }, get answered() { return yes.checked || no.checked; } };
        return h("fieldset", { cls: "cmp-item cmp-sep" }, [
          h("legend", { text: x.title }), h("p", { text: x.description || "" }),
          h("dl", {}, [row(T("recipient"), x.recipient), row(T("recipient_contact"), x.recipient_contact),
            row(T("countries"), x.countries), row(T("purpose"), x.purpose), row(T("method"), x.method),
            row(T("data_categories"), x.data_categories), row(T("rights"), x.rights)]),
          h("div", { cls: "cmp-actions" }, [
            h("label", { cls: "cmp-toggle" }, [yes, h("span", { text: T("agree") })]),
            h("label", { cls: "cmp-toggle" }, [no, h("span", { text: T("disagree") })])
          ])
        ]);
      })) : [];
      function collect(kind) {
        var m = {};
        Object.keys(form[kind]).forEach(function (id) {
          var i = form[kind][id];
          if (kind != "separate" || i.answered) m[id] = i.checked;
        });
        return m;
      }
      function choice() {
        return { purposes: collect("purposes"), vendors: collect("vendors"), separate: collect("separate") };
      }
      var box = h("div", { cls: "cmp-dialog", role: "dialog", "aria-modal": "true",
        "aria-labelledby": "cmp-dt", tabIndex: -1 }, [
        h("div", { cls: "cmp-head" }, [
          h("h2", { cls: "cmp-title", id: "cmp-dt", text: T("preferences") }),
          btn("×", "cmp-x", ui.close)
        ]),
        h("div", { cls: "cmp-body" }, [h("p", { text: T("description") }),
          eff.gpc && h("p", { cls: "cmp-gpc", text: T("gpc_honoured") })]
          .concat(purposes, [h("h3", { text: T("vendors") })], vendors, separate,
            [cfg.texts.contact && h("p", { cls: "cmp-small", text: T("contact") })])),
        h("div", { cls: "cmp-actions cmp-foot" }, [
          btn(T("accept_all"), "cmp-main", function () { post("accept_all", { separate: collect("separate") }); }),
          btn(T("reject_all"), "cmp-main", function () { api.rejectAll(); }),
          btn(T("save"), "cmp-main", function () { post("custom", choice()); }),
          state && state.consent_id && btn(T("withdraw"), "cmp-link", function () { api.withdraw(); })
        ])
      ]);
      box.querySelector(".cmp-x").setAttribute("aria-label", T("close"));
      ui.dialog = wrap("cmp-modal");
      ui.dialog.appendChild(box);
      ui.dialog.addEventListener("keydown", ui.trap);
      d.body.appendChild(ui.dialog);
      d.documentElement.classList.add("cmp-lock");
      box.focus();
    },
    close: function () {
      if (!ui.dialog) return;
      ui.dialog.remove();
      ui.dialog = null;
      d.documentElement.classList.remove("cmp-lock");
      var back = ui.back && ui.back.isConnected && ui.back != d.body ? ui.back : ui.banner || ui.fab;
      if (back) back.focus();
    },
    trap: function (e) {
      if (e.key == "Escape") { e.preventDefault(); return ui.close(); }
      if (e.key != "Tab") return;
      // Only the two ends are needed, and asking every item for its boxes would lay out the
      // items content-visibility skips.
      var f = ui.dialog.querySelectorAll("button,input,a[href],summary");
      function end(i, step) {
        for (; f[i]; i += step) if (!f[i].disabled && f[i].getClientRects().length) return f[i];
      }
      var first = end(0, 1), last = end(f.length - 1, -1), a = d.activeElement;
      if (e.shiftKey && (a == first || !ui.dialog.contains(a) || a == ui.dialog.firstChild)) { e.preventDefault(); last.focus(); }
      else if (!e.shiftKey && a == last) { e.preventDefault(); first.focus(); }
    },
    placeholder: function (el) {
      el.hidden = true;
      var prev = el.previousElementSibling;
      if (prev && prev.classList.contains("cmp-ph")) return;
      var v = el.dataset.vendor && byId(cfg.vendors, el.dataset.vendor);
      var p = byId(cfg.purposes, (el.dataset.consent || "").split(/[\s,]+/)[0]);
      var name = v ? v.name : p ? p.title : "";
      el.before(h("div", { cls: "cmp cmp-ph", dir: cfg.dir, lang: cfg.language }, [
        h("p", { text: T("blocked", name) }),
        btn(T("load_once"), "cmp-main", function () { gate.load(el); }),
        btn(T("always_allow", name), "cmp-link", function () { allow(v, p); })
      ]));
    }
  };
  // "Always allow" = the current choices plus this vendor (or purpose) and what it needs.
  function allow(v, p) {
    if (!v && !p) return;
    var s = state || eff, c = { purposes: {}, vendors: {}, separate: {} };
    Object.keys(c).forEach(function (k) { Object.keys(s[k]).forEach(function (id) { c[k][id] = s[k][id]; }); });
    (v ? v.purposes : [p.id]).forEach(function (id) { c.purposes[id] = true; });
    if (v) c.vendors[v.id] = true;
    cfg.separate.forEach(function (x) { if (!(state && state.separate[x.id])) delete c.separate[x.id]; });
    return post("custom", c);
  }

  /* ---------- public API ---------- */
  var api = w.Consentry = {
    getConsent: function () {
      return state && JSON.parse(JSON.stringify(state));
    },
    show: function () { return ready.then(ui.open); },
    acceptAll: function () { return post("accept_all"); },
    rejectAll: function () { return post("reject_all"); },
    withdraw: withdraw,
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
    }
  };

  /* ---------- start: stylesheet and config in parallel, UI once both are there ---------- */
  var css = new Promise(function (ok) {
    var l = d.createElement("link");
    l.rel = "stylesheet";
    l.href = BASE + "/cmp.css" + src.search;
    l.onload = l.onerror = ok;
    // in a task of its own: starting a fetch from a new <link> costs the page 3-18 ms at 4x
    setTimeout(function () { d.head.appendChild(l); }, 0);
  });
  var ready = api.ready = readCookie(cookieName).then(function (t) {
    token = t;
    return loadConfig();
  }).then(function (c) {
    cfg = c;
    // The cookie name is only known now; a site that renamed it says so in data-cookie.
    if (c.cookie.name != cookieName && !token) {
      return readCookie(c.cookie.name).then(function (t) {
        if (!t) return;
        cookieName = c.cookie.name;
        token = t;
        return loadConfig().then(function (c2) { cfg = c2; });
      });
    }
  }).then(function () {
    var cm = cfg.consent_mode;
    if (cm.ads_data_redaction) gtag("set", "ads_data_redaction", true);
    if (cm.url_passthrough) gtag("set", "url_passthrough", true);
    // The regime's defaults for the visitor's region (most specific default wins in gtag),
    // with the site's wait_for_update; the choice itself follows as an update.
    if (cfg.country) {
      var rd = gcm(types(cfg.defaults.purposes));
      rd.region = [cfg.country].concat(cfg.subdivision ? [cfg.country + "-" + cfg.subdivision] : []);
      rd.wait_for_update = cm.wait_for_update;
      gtag("consent", "default", rd);
    }
    observer.observe(d.documentElement, { childList: true, subtree: true });  // then scan all
    var c = cfg.consent;
    var valid = c && c.revision == cfg.revision;
    setState(valid ? normalise(c, c.consent_id) : defaults(), valid);
    tags();
    return Promise.all([css, new Promise(function (ok) {
      if (d.body) ok(); else d.addEventListener("DOMContentLoaded", ok);
    }), new Promise(function (ok) { setTimeout(ok, 0); })]).then(function () {
      // Drawn in a task of its own (the timeout above): applying the config and the banner's
      // first layout together made a long task on slow devices.
      if (state) ui.chosen(); else ui.showBanner();
      return cfg;
    });
  });
  ready.catch(function (e) { if (w.console) console.error(e); });
})(window, document);
