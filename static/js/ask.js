/* ---------- ask: Consentry.ask(token), one per-recipient item for one recipient ---------- */
// The notice comes from the server exactly as the ledger keeps it (its texts_hash goes back
// with the answer): the recipient's fields are put into the item's texts there and shown here
// as text only, so a buyer named "<b>Acme</b>" reads as those characters.
function send(method, path, body) {
  return fetch(core.API + path, { method: method, credentials: "omit",
    // text/plain JSON (accepted by the API): no CORS preflight
    headers: body ? { "Content-Type": "text/plain" } : {}, body: body && JSON.stringify(body)
  }).then(function (r) {
    if (r.ok) return r.json();
    // the API's own words say why (expired, not valid, another person's): the page shows them
    return r.json().catch(function () { return {}; }).then(function (b) {
      var e = new Error("Consentry.ask: " + (b.error || "refused") + " (HTTP " + r.status +
        (b.field ? ", " + b.field : "") + ")");
      e.status = r.status;
      e.field = b.field;
      throw e;
    });
  });
}
function country(code, lang) {
  try { return new Intl.DisplayNames([lang], { type: "region" }).of(code) + " (" + code + ")"; }
  catch (e) { return code; }
}
var mod = {
  ask: function (token) {
    var hint = core.hint(), lang = core.lang(), cfg = core.cfg();
    // With a person hint the notice is asked for in a POST body: the hint names the member,
    // and a URL ends up in logs. The server refuses an ask made for someone else (403).
    return (hint ? send("POST", "/asks/notice", { token: token, lang: lang || null, hint: hint })
      : send("GET", "/asks/notice?token=" + encodeURIComponent(token) +
        (lang ? "&lang=" + encodeURIComponent(lang) : ""))).then(function (v) {
      var n = v.notice, L = n.labels, r = n.recipient;
      return modal({ lang: n.language, dir: n.language == cfg.language ? cfg.dir : "ltr",
        title: n.title, description: n.description, yes: n.buttons.agree, no: n.buttons.disagree,
        body: [h("dl", {}, [row(L.recipient, r.name), row(L.recipient_contact, r.contact),
          row(L.recipient_country, country(r.country, n.language)), row(L.purpose, n.purpose),
          row(L.method, n.method), row(L.data_categories, n.data_categories),
          row(L.rights, n.rights)])]
      }).then(function (yes) {
        // Escape: no answer, nothing recorded; the same token may be asked again
        if (yes == null) return { agreed: false, event_id: null, dismissed: true };
        return send("POST", "/asks/answer", { token: token, agreed: yes, texts_hash: v.texts_hash,
          language: n.language, hint: hint || undefined }).then(function (a) {
          return { agreed: a.agreed, event_id: a.event_id };
        });
      });
    });
  }
};
