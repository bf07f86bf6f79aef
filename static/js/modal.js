/* ---------- modal: one question, two answers of equal weight (asks, permission prompts) ---------- */
// Built with the banner's own helpers and cmp.css's dialog classes, so a strict CSP needs
// nothing new (no inline style, no markup: every text goes in through textContent).
var h = core.ui.h, btn = core.ui.btn, row = core.ui.row, seq = 0;

// Resolves true ("I agree"), false ("I do not agree") or null (Escape: dismissed, nothing
// answered). Focus stays inside while it is open and goes back where it was after.
function modal(o) {
  return new Promise(function (done) {
    var n = ++seq, back = d.activeElement, html = d.documentElement;
    var box = h("div", { cls: "cmp-dialog", role: "dialog", "aria-modal": "true",
      "aria-labelledby": "cmp-qt" + n, "aria-describedby": "cmp-qd" + n, tabIndex: -1 }, [
      h("div", { cls: "cmp-head" }, [h("h2", { cls: "cmp-title", id: "cmp-qt" + n, text: o.title })]),
      // focusable: a long notice scrolls, and a keyboard must be able to scroll it
      h("div", { cls: "cmp-body", tabIndex: 0, role: "group", "aria-labelledby": "cmp-qt" + n }, [h("p", { id: "cmp-qd" + n, text: o.description || "" })]
        .concat(o.body || [])),
      // the same class for both: neither answer looks like the default
      h("div", { cls: "cmp-actions cmp-foot" }, [
        btn(o.yes, "cmp-main cmp-yes", function () { end(true); }),
        btn(o.no, "cmp-main cmp-no", function () { end(false); })
      ])
    ]);
    var root = h("div", { cls: "cmp cmp-modal cmp-q", lang: o.lang, dir: o.dir }, [box]);
    var locked = html.classList.contains("cmp-lock");
    // focus that leaves (a click on the backdrop, a script) comes back to the dialog
    function keep(e) { if (!root.contains(e.target)) box.focus(); }
    function end(v) {
      d.removeEventListener("focusin", keep);
      root.remove();
      if (!locked) html.classList.remove("cmp-lock");
      if (back && back.isConnected && back != d.body && back.focus) back.focus();
      done(v);
    }
    root.addEventListener("keydown", function (e) {
      if (e.key == "Escape") { e.preventDefault(); return end(null); }
      if (e.key != "Tab") return;
      var f = [].filter.call(root.querySelectorAll("[tabindex='0'],button,a[href]"), function (x) {
        return !x.disabled && x.getClientRects().length;
      });
      var first = f[0], last = f[f.length - 1], a = d.activeElement;
      if (e.shiftKey && (a == first || a == box)) { e.preventDefault(); last.focus(); }
      else if (!e.shiftKey && a == last) { e.preventDefault(); first.focus(); }
    });
    d.body.appendChild(root);
    html.classList.add("cmp-lock");
    box.focus();
    d.addEventListener("focusin", keep);
  });
}
