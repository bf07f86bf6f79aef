/* ---------- grants: the one grant rule, the same as cmp/grants.py on the server ---------- */
// Pure functions of the config view, kept apart from the DOM so the shared case table
// (tests/grant_cases.json) runs against exactly the code the banner gates with.
function necessaryOnly(cfg, v) {
  return v.purposes.length > 0 && v.purposes.every(function (id) {
    return cfg.purposes.some(function (p) { return p.id == id && p.necessary; });
  });
}
// vendors and separate items follow from the purposes granted (and who is refused)
function grants(cfg, purposes, refused, separate) {
  var g = { purposes: purposes, vendors: {}, separate: {} };
  (cfg.vendors || []).forEach(function (v) {
    // a vendor declaring no purpose is never granted; one serving only necessary ones always is
    g.vendors[v.id] = v.purposes.length > 0 && (necessaryOnly(cfg, v) ||
      !refused(v.id) && v.purposes.every(function (id) { return purposes[id] === true; }));
  });
  (cfg.separate || []).forEach(function (s) { g.separate[s.id] = separate(s.id); });
  return g;
}
function has(o, k) { return !!o && Object.prototype.hasOwnProperty.call(o, k); }
// What a choice grants: action is accept_all, reject_all, custom, withdraw, expire or defaults.
function choose(cfg, action, answers, gpc) {
  var a = answers || {}, ap = a.purposes || {}, custom = action == "custom", p = {};
  cfg.purposes.forEach(function (x) {
    var off = !!(gpc && x.gpc), dflt = (cfg.model != "opt_in" || !!x.default) && !off;
    // an explicit per-purpose answer counts even under GPC: the person lifted it themselves
    p[x.id] = !!x.necessary || (action == "accept_all" ? !off : action == "defaults" ? dflt :
      custom && (has(ap, x.id) ? !!ap[x.id] : dflt));
  });
  return grants(cfg, p, function (id) { return custom && (a.vendors || {})[id] === false; },
    function (id) {
      return (custom || action == "accept_all") && (a.separate || {})[id] === true;
    });
}
// What may run now, from a verified state ({revision, purposes:[ids], vendors, separate, gpc}),
// null (no choice) or "invalid" (a token that failed verification).
function effective(cfg, state, gpc) {
  var bad = state === "invalid";
  if (!bad && !(state && state.revision == cfg.revision)) return choose(cfg, "defaults", {}, gpc);
  var s = bad ? {} : state, p = {};
  function on(kind, id) { return (s[kind] || []).indexOf(id) >= 0; }
  cfg.purposes.forEach(function (x) {
    // GPC that arrived after the choice turns its purposes off; one made under GPC already knew
    p[x.id] = !!x.necessary || on("purposes", x.id) && !(gpc && !s.gpc && x.gpc);
  });
  return grants(cfg, p, function (id) { return !on("vendors", id); },
    function (id) { return on("separate", id); });
}
