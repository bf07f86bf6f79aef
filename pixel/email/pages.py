"""The few HTML pages a recipient sees: unsubscribe and preferences, signup confirmation, a bad
link. Plain strings, everything escaped, no scripts, no cookies; forms POST to the same URL."""

from __future__ import annotations

from html import escape

_CSS = ("body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;"
        "color:#1a1a1a}button{font:inherit;padding:.5rem 1.2rem;border-radius:.4rem;"
        "border:1px solid #1a1a1a;background:#1a1a1a;color:#fff;cursor:pointer}"
        "fieldset{border:1px solid #ccc;border-radius:.4rem;margin:1.5rem 0}"
        "label{display:block;margin:.3rem 0}.muted{color:#555;font-size:.9rem}")


def page(title: str, body: str, lang: str = "en") -> str:
    return (f'<!doctype html><html lang="{escape(lang)}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<meta name="robots" content="noindex"><title>{escape(title)}</title>'
            f"<style>{_CSS}</style></head><body><main>{body}</main></body></html>")


def bad_link() -> str:
    return page("Link not valid", "<h1>This link is not valid</h1><p>It may have been changed "
                "or cut short when it was copied. Nothing was changed and you were not "
                "redirected.</p>")


def unsubscribe_form(site_name: str, list_title: str, action: str) -> str:
    a = escape(action, quote=True)
    return page("Unsubscribe", f"""<h1>Unsubscribe</h1>
<p>Stop e-mails from <strong>{escape(site_name)}</strong> about <strong>{escape(list_title)}</strong>.</p>
<form method="post" action="{a}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe from this list</button>
</form>
<form method="post" action="{a}">
<fieldset><legend>Preferences</legend>
<input type="hidden" name="preferences" value="1">
<label><input type="radio" name="scope" value="list" checked> Only this list ({escape(list_title)})</label>
<label><input type="radio" name="scope" value="all"> All marketing e-mails</label>
<label><input type="checkbox" name="tracking" value="off"> Stop measuring whether I open or click e-mails</label>
</fieldset>
<button type="submit">Save preferences</button>
</form>
<p class="muted">Opening this page changed nothing; only the buttons do.</p>""")


def unsubscribed(site_name: str, what: str, already: bool) -> str:
    note = "You had already unsubscribed; nothing more to do." if already else "Done."
    return page("Unsubscribed", f"<h1>You are unsubscribed</h1><p>{escape(note)} "
                f"<strong>{escape(site_name)}</strong> will send you no more e-mails "
                f"about {escape(what)}.</p>")


def confirm_form(site_name: str, lists: list[str], action: str, done: bool) -> str:
    items = "".join(f"<li>{escape(t)}</li>" for t in lists)
    if done:
        return page("Subscription confirmed", f"<h1>Subscription confirmed</h1>"
                    f"<p>You will receive e-mails from <strong>{escape(site_name)}</strong> "
                    f"about:</p><ul>{items}</ul>")
    return page("Confirm your subscription", f"""<h1>Confirm your subscription</h1>
<p><strong>{escape(site_name)}</strong> will send you e-mails about:</p><ul>{items}</ul>
<form method="post" action="{escape(action, quote=True)}"><button type="submit">Confirm</button></form>
<p class="muted">Opening this page changed nothing; only the button confirms.</p>""")
