/* ---------- ui: banner, preferences dialog, placeholders ---------- */
// Registered with useUI at the end: the core sees only showBanner, chosen, open and placeholder.
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

var view = {
  banner: null, dialog: null, fab: null, back: null,
  showBanner: function () {
    if (view.banner) return;
    var title = h("h2", { cls: "cmp-title", id: "cmp-bt", text: T("title") });
    view.banner = wrap("cmp-banner", "region", T("title"));
    view.banner.tabIndex = -1;
    [title, h("p", { text: T("description") }), eff.gpc && h("p", { cls: "cmp-gpc", text: T("gpc_honoured") }),
      h("div", { cls: "cmp-actions" }, [
        btn(T("accept_all"), "cmp-main", function () { api.acceptAll(); }),
        btn(T("reject_all"), "cmp-main", function () { api.rejectAll(); }),
        btn(T("customise"), "cmp-link", function () { view.open(); })
      ])].forEach(function (c) { if (c) view.banner.appendChild(c); });
    d.body.appendChild(view.banner);
    // Focus once the banner's first frame is drawn: focusing now forces its first layout into
    // this task, and building plus laying out together made a long task on slow devices.
    var b = view.banner;
    requestAnimationFrame(function () {
      setTimeout(function () { if (view.banner == b && !b.contains(d.activeElement)) b.focus(); });
    });
  },
  chosen: function () {
    if (view.banner) { view.banner.remove(); view.banner = null; }
    if (view.dialog) view.close();
    if (!view.fab) {
      view.fab = btn(T("preferences"), "cmp cmp-fab", function () { view.open(); });
      view.fab.dir = cfg.dir; view.fab.lang = cfg.language;
      d.body.appendChild(view.fab);
    }
  },
  open: function () {
    if (view.dialog) return;
    var s = state || eff, form = { purposes: {}, vendors: {}, separate: {} };
    view.back = d.activeElement;
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
      var locked = necessaryOnly(cfg, v);
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
            row(T("cookies"), [].concat(v.cookies || [], v.storage_keys || [], v.indexeddb || [], v.caches || []))
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
        btn("×", "cmp-x", view.close)
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
    view.dialog = wrap("cmp-modal");
    view.dialog.appendChild(box);
    view.dialog.addEventListener("keydown", view.trap);
    d.body.appendChild(view.dialog);
    d.documentElement.classList.add("cmp-lock");
    box.focus();
  },
  close: function () {
    if (!view.dialog) return;
    view.dialog.remove();
    view.dialog = null;
    d.documentElement.classList.remove("cmp-lock");
    var back = view.back && view.back.isConnected && view.back != d.body ? view.back : view.banner || view.fab;
    if (back) back.focus();
  },
  trap: function (e) {
    if (e.key == "Escape") { e.preventDefault(); return view.close(); }
    if (e.key != "Tab") return;
    // Only the two ends are needed, and asking every item for its boxes would lay out the
    // items content-visibility skips.
    var f = view.dialog.querySelectorAll("button,input,a[href],summary");
    function end(i, step) {
      for (; f[i]; i += step) if (!f[i].disabled && f[i].getClientRects().length) return f[i];
    }
    var first = end(0, 1), last = end(f.length - 1, -1), a = d.activeElement;
    if (e.shiftKey && (a == first || !view.dialog.contains(a) || a == view.dialog.firstChild)) { e.preventDefault(); last.focus(); }
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
useUI(view);
// What the optional modules build their dialogs with: the same helpers, the same texts.
var kit = { h: h, btn: btn, row: row, T: T };
