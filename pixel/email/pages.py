"""The few HTML pages a recipient sees: unsubscribe and preferences, signup confirmation, a bad
link, an expired link. Plain strings, everything escaped, no scripts, no cookies; forms POST to
the same URL.

Each page is in English or Simplified Chinese. Which one (`choose`): the language recorded with
the person's consent (the ledger; for a confirmation link, the signup's), when it is one of
ours, else the best of Accept-Language, else the site's default language, else English. The
texts hold no markup: a text is escaped whole, then its `{site}`/`{list}` slots get the escaped
values wrapped by the page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html import escape

LANGUAGES = ("en", "zh-CN")
DEFAULT = "en"

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "bad_title": "Link not valid",
        "bad_heading": "This link is not valid",
        "bad_body": "It may have been changed or cut short when it was copied. Nothing was "
                    "changed and you were not redirected.",
        "expired_title": "Link expired",
        "expired_heading": "This link has expired",
        "expired_body": "Please sign up again.",
        "nothing_title": "Nothing changed",
        "nothing_body": "The request did not say what to change.",
        "unsub_title": "Unsubscribe",
        "unsub_intro": "Stop e-mails from {site} about {list}.",
        "unsub_button": "Unsubscribe from this list",
        "prefs_legend": "Preferences",
        "prefs_list": "Only this list ({list})",
        "prefs_all": "All marketing e-mails",
        "prefs_tracking": "Stop measuring whether I open or click e-mails",
        "prefs_button": "Save preferences",
        "unsub_note": "Opening this page changed nothing; only the buttons do.",
        "done_title": "Unsubscribed",
        "done_heading": "You are unsubscribed",
        "done_already": "You had already unsubscribed; nothing more to do.",
        "done_now": "Done.",
        "done_list": "{site} will send you no more e-mails about {list}.",
        "done_all": "{site} will send you no more e-mails about any of its lists.",
        "confirm_title": "Confirm your subscription",
        "confirm_intro": "{site} will send you e-mails about:",
        "confirm_button": "Confirm",
        "confirm_note": "Opening this page changed nothing; only the button confirms.",
        "confirmed_title": "Subscription confirmed",
        "confirmed_intro": "You will receive e-mails from {site} about:",
    },
    "zh-CN": {
        "bad_title": "链接无效",
        "bad_heading": "此链接无效",
        "bad_body": "链接可能在复制时被改动或截断。没有做任何更改，也没有将您转到其他网页。",
        "expired_title": "链接已过期",
        "expired_heading": "此链接已过期",
        "expired_body": "请重新订阅。",
        "nothing_title": "未做任何更改",
        "nothing_body": "请求中没有说明要更改什么。",
        "unsub_title": "退订",
        "unsub_intro": "不再接收{site}关于{list}的邮件。",
        "unsub_button": "退订此邮件列表",
        "prefs_legend": "偏好设置",
        "prefs_list": "仅此列表（{list}）",
        "prefs_all": "所有营销邮件",
        "prefs_tracking": "不再统计我是否打开或点击邮件",
        "prefs_button": "保存偏好设置",
        "unsub_note": "打开此页面不会更改任何设置；只有点击按钮才会生效。",
        "done_title": "已退订",
        "done_heading": "您已退订",
        "done_already": "您此前已经退订，无需再做任何操作。",
        "done_now": "已完成。",
        "done_list": "{site}将不再向您发送关于{list}的邮件。",
        "done_all": "{site}将不再向您发送其任何列表的邮件。",
        "confirm_title": "确认订阅",
        "confirm_intro": "{site}将向您发送以下内容的邮件：",
        "confirm_button": "确认",
        "confirm_note": "打开此页面不会更改任何设置；只有点击按钮才会确认订阅。",
        "confirmed_title": "订阅已确认",
        "confirmed_intro": "您将收到{site}以下内容的邮件：",
    },
}


# --- which language ---------------------------------------------------------------------------
def pick(tag: str | None) -> str | None:
    """One of LANGUAGES for a tag (zh, zh-CN, zh-Hans-CN → zh-CN; en, en-GB → en), else None.
    Traditional Chinese (Hant, TW, HK, MO) is not zh-CN: as in the dashboards, it falls through
    to the next choice rather than being shown a script the reader did not ask for."""
    if not tag:
        return None
    parts = tag.strip().lower().replace("_", "-").split("-")
    if parts[0] == "zh" and not {"hant", "tw", "hk", "mo"} & set(parts[1:]):
        return "zh-CN"
    if parts[0] == "en":
        return "en"
    return None


def accept_language(header: str | None) -> str | None:
    """The first of our languages in an Accept-Language header, by quality then order."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((header or "").split(",")[:20]):  # a header of junk stays cheap
        tag, _, params = part.partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        lang = pick(tag)
        if lang and 0.0 < q <= 1.0:
            ranked.append((-q, i, lang))
    return min(ranked)[2] if ranked else None


def choose(recorded: str | None, header: str | None, site_default: str | None = None) -> str:
    # The recorded language wins over the browser's: it is the language the person chose the
    # consent in, and a mail client's built-in browser (or a shared computer) often sends an
    # Accept-Language that is not the reader's.
    return pick(recorded) or accept_language(header) or pick(site_default) or DEFAULT


def title_in(titles: Mapping[str, str], lang: str, fallback: str, *also: str | None) -> str:
    """A configured title in the page's language (its own key, or a key of the same language,
    e.g. "zh" for zh-CN), else in the first of `also` that has one, else `fallback`."""
    if titles.get(lang):
        return titles[lang]
    for key, text in titles.items():
        if text and pick(key) == lang:
            return text
    for other in also:
        if other and titles.get(other):
            return titles[other]
    return fallback


# --- the pages --------------------------------------------------------------------------------
_CSS = ("body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;"
        "color:#1a1a1a}button{font:inherit;padding:.5rem 1.2rem;border-radius:.4rem;"
        "border:1px solid #1a1a1a;background:#1a1a1a;color:#fff;cursor:pointer}"
        "fieldset{border:1px solid #ccc;border-radius:.4rem;margin:1.5rem 0}"
        "label{display:block;margin:.3rem 0}.muted{color:#555;font-size:.9rem}")


def _t(lang: str) -> dict[str, str]:
    return TEXTS.get(lang, TEXTS[DEFAULT])


_SLOT = re.compile(r"\{(\w+)\}")


def _fill(text: str, **html_values: str) -> str:
    """The text escaped, its slots replaced by ready (escaped) HTML."""
    # One pass: a value that itself reads "{list}" is not filled again.
    return _SLOT.sub(lambda m: html_values.get(m.group(1), m.group(0)), escape(text))


def _strong(value: str) -> str:
    return f"<strong>{escape(value)}</strong>"


def page(title: str, body: str, lang: str = DEFAULT) -> str:
    return (f'<!doctype html><html lang="{escape(lang, quote=True)}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<meta name="robots" content="noindex"><title>{escape(title)}</title>'
            f"<style>{_CSS}</style></head><body><main>{body}</main></body></html>")


def _simple(lang: str, key: str, heading: str | None = None, body: str | None = None) -> str:
    t = _t(lang)
    return page(t[f"{key}_title"], f"<h1>{escape(t[heading or f'{key}_heading'])}</h1>"
                f"<p>{escape(t[body or f'{key}_body'])}</p>", lang)


def bad_link(lang: str = DEFAULT) -> str:
    return _simple(lang, "bad")


def expired(lang: str = DEFAULT) -> str:
    return _simple(lang, "expired")


def nothing_changed(lang: str = DEFAULT) -> str:
    return _simple(lang, "nothing", heading="nothing_title")


def unsubscribe_form(site_name: str, list_title: str, action: str, lang: str = DEFAULT) -> str:
    t = _t(lang)
    a = escape(action, quote=True)
    return page(t["unsub_title"], f"""<h1>{escape(t["unsub_title"])}</h1>
<p>{_fill(t["unsub_intro"], site=_strong(site_name), list=_strong(list_title))}</p>
<form method="post" action="{a}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">{escape(t["unsub_button"])}</button>
</form>
<form method="post" action="{a}">
<fieldset><legend>{escape(t["prefs_legend"])}</legend>
<input type="hidden" name="preferences" value="1">
<label><input type="radio" name="scope" value="list" checked> {_fill(t["prefs_list"], list=escape(list_title))}</label>
<label><input type="radio" name="scope" value="all"> {escape(t["prefs_all"])}</label>
<label><input type="checkbox" name="tracking" value="off"> {escape(t["prefs_tracking"])}</label>
</fieldset>
<button type="submit">{escape(t["prefs_button"])}</button>
</form>
<p class="muted">{escape(t["unsub_note"])}</p>""", lang)


def unsubscribed(site_name: str, list_title: str | None, already: bool,
                 lang: str = DEFAULT) -> str:
    """`list_title` None: unsubscribed from every list."""
    t = _t(lang)
    note = t["done_already"] if already else t["done_now"]
    what = (_fill(t["done_all"], site=_strong(site_name)) if list_title is None
            else _fill(t["done_list"], site=_strong(site_name), list=escape(list_title)))
    return page(t["done_title"], f"<h1>{escape(t['done_heading'])}</h1>"
                f"<p>{escape(note)} {what}</p>", lang)


def confirm_form(site_name: str, lists: list[str], action: str, done: bool,
                 lang: str = DEFAULT) -> str:
    t = _t(lang)
    items = "".join(f"<li>{escape(title)}</li>" for title in lists)
    if done:
        return page(t["confirmed_title"], f"<h1>{escape(t['confirmed_title'])}</h1>"
                    f"<p>{_fill(t['confirmed_intro'], site=_strong(site_name))}</p>"
                    f"<ul>{items}</ul>", lang)
    return page(t["confirm_title"], f"""<h1>{escape(t["confirm_title"])}</h1>
<p>{_fill(t["confirm_intro"], site=_strong(site_name))}</p><ul>{items}</ul>
<form method="post" action="{escape(action, quote=True)}"><button type="submit">{escape(t["confirm_button"])}</button></form>
<p class="muted">{escape(t["confirm_note"])}</p>""", lang)
