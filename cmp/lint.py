"""Judge a loaded config the way a regulator would.

`cmp.config` rejects what cannot run; this module reports what would not survive an audit:
a banner without a reject button, consent pre-ticked under an opt-in law, an over-long cookie,
a text missing in one language, a PIPL separate-consent item that does not say who gets the
data. One line per problem, each starting with the dotted key path, so `consentry check` can
print them as they are.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime

from cmp import assessments
from cmp.config import REQUIRED_TEXTS, Config, LText, RegimeDef, SeparateItem, SiteConfig
from cmp.settings import Settings
from cmp.types import Model, SeparateKind

# Consent Mode types that amount to "sale/sharing/targeted advertising" under US state laws.
AD_TYPES = ("ad_storage", "ad_user_data", "ad_personalization")
# What a necessary (always-on) purpose may grant: anything else would be granted without consent.
NECESSARY_OK_TYPES = ("security_storage", "functionality_storage")

# What PIPL makes the notice for each kind of separate consent name (the field, its article).
_SEPARATE_REQUIRES: dict[SeparateKind, tuple[str, tuple[str, ...]]] = {
    SeparateKind.CROSS_BORDER: (
        "Art. 39",
        ("recipient", "recipient_contact", "countries", "purpose", "method", "data_categories",
         "rights"),
    ),
    SeparateKind.THIRD_PARTY: (
        "Art. 23",
        ("recipient", "recipient_contact", "purpose", "method", "data_categories"),
    ),
    SeparateKind.SENSITIVE: ("Art. 30", ("purpose", "data_categories")),
    SeparateKind.PUBLIC_DISCLOSURE: ("Art. 25", ("data_categories",)),
}


def lint(config: Config, settings: Settings | None = None, *,
         today: date | None = None) -> list[str]:
    """Every problem found, one 'sites.<id>.<key path>: message' line each; [] when clean.

    `today` (UTC by default) is the day assessment ages and review dates are judged on."""
    settings = settings or Settings()
    today = today or datetime.now(UTC).date()
    regimes = config.all_regimes
    out: list[str] = []
    for sid, site in config.sites.items():
        p = f"sites.{sid}"
        used = _regimes_used(site, regimes)
        out += _texts(p, site)
        out += _purposes(p, site, used)
        out += _consent_mode(p, site, used)
        out += _cookie(p, site, settings.max_lifetime_days)
        out += _vendors(p, site)
        out += _separate(p, site)
        out += _tags(p, site)
        out += _channels(p, site)
        out += _permissions(p, site)
        out += _assessments(p, site, today)
        if not site.admin_key_hashes:
            out.append(
                f"{p}.admin_key_hashes: none set, so nobody can open the dashboard or the admin "
                "API (make one with cmp.adminkeys.generate_admin_key)"
            )
    return out


def _regimes_used(site: SiteConfig, regimes: dict[str, RegimeDef]) -> dict[str, RegimeDef]:
    names = [site.regions.default, *(r.regime for r in site.regions.rules)]
    return {n: regimes[n] for n in dict.fromkeys(names) if n in regimes}


def _ltext(path: str, text: LText, langs: list[str], *, required: bool, why: str = "") -> list[str]:
    """A text must exist in every site language (if required or given at all) and nowhere else."""
    suffix = f": {why}" if why else ""
    if not text:
        return [f"{path}: missing in every language ({', '.join(langs)}){suffix}"] if required else []
    out = []
    for lang in langs:
        if lang not in text:
            out.append(f"{path}.{lang}: missing{suffix}")
        elif not text[lang].strip():
            out.append(f"{path}.{lang}: empty{suffix}")
    for lang in text:
        if lang not in langs:
            out.append(f"{path}.{lang}: {lang!r} is not one of the site's languages ({', '.join(langs)})")
    return out


def _texts(p: str, site: SiteConfig) -> list[str]:
    langs = site.languages
    out = []
    for key in REQUIRED_TEXTS:
        why = "the first layer must offer refusing as plainly as accepting" if key == "reject_all" else ""
        if key not in site.texts:
            out.append(f"{p}.texts.{key}: missing (a required banner text)" + (f"; {why}" if why else ""))
        else:
            out += _ltext(f"{p}.texts.{key}", site.texts[key], langs, required=True, why=why)
    for key, text in site.texts.items():
        if key not in REQUIRED_TEXTS:
            out += _ltext(f"{p}.texts.{key}", text, langs, required=True)
    return out


def _purposes(p: str, site: SiteConfig, used: dict[str, RegimeDef]) -> list[str]:
    langs = site.languages
    opt_in = sorted(n for n, r in used.items() if r.model is Model.OPT_IN)
    out = []
    for pid, purpose in site.purposes.items():
        pp = f"{p}.purposes.{pid}"
        out += _ltext(f"{pp}.title", purpose.title, langs, required=True)
        out += _ltext(f"{pp}.description", purpose.description, langs, required=True)
        if purpose.necessary and purpose.gpc:
            out.append(f"{pp}.gpc: a necessary purpose cannot be switched off, so GPC cannot apply to it")
        if purpose.default and not purpose.necessary and opt_in:
            out.append(
                f"{pp}.default: pre-granted, but this site's regions use the opt-in regime(s) "
                f"{', '.join(opt_in)}, where nothing non-essential may run before a yes"
            )
    return out


def _consent_mode(p: str, site: SiteConfig, used: dict[str, RegimeDef]) -> list[str]:
    binding = sorted(n for n, r in used.items() if r.gpc_binding)
    out = []
    for pid, types in site.consent_mode.mapping.items():
        purpose = site.purposes[pid]  # config validation guarantees it exists
        if purpose.necessary:
            bad = [t for t in types if t not in NECESSARY_OK_TYPES]
            if bad:
                out.append(
                    f"{p}.consent_mode.mapping.{pid}: necessary purpose would grant "
                    f"{', '.join(bad)} without consent; map it to security_storage only"
                )
        elif binding and not purpose.gpc and (ads := [t for t in types if t in AD_TYPES]):
            out.append(
                f"{p}.purposes.{pid}.gpc: grants {', '.join(ads)} (sale/sharing/targeted ads), "
                f"and GPC is a binding opt-out under {', '.join(binding)}; set gpc = true"
            )
    return out


def _cookie(p: str, site: SiteConfig, max_days: int) -> list[str]:
    c = site.cookie
    out = [
        f"{p}.cookie.{name}: {days} days exceeds the {max_days}-day maximum"
        for name, days in (("accept_days", c.accept_days), ("reject_days", c.reject_days))
        if days > max_days
    ]
    if c.reject_days > c.accept_days:
        out.append(
            f"{p}.cookie.reject_days: {c.reject_days} days exceeds accept_days ({c.accept_days}); "
            "a refusal must not be held longer than a consent"
        )
    return out


def _vendors(p: str, site: SiteConfig) -> list[str]:
    out = []
    for vid, v in site.vendors.items():
        vp = f"{p}.vendors.{vid}"
        if not v.purposes:
            # The grant rule never grants such a vendor (nothing shows it is allowed), so its
            # tags and gated scripts would never run: a config mistake, not a choice.
            out.append(f"{vp}.purposes: empty; a vendor must serve at least one purpose "
                       "(list 'necessary' if it needs no consent)")
        out += _ltext(f"{vp}.description", v.description, site.languages, required=True)
        if not v.recipient:
            out.append(f"{vp}.recipient: missing; name the legal entity that receives the data")
        if not v.country:
            out.append(f"{vp}.country: missing; say where the recipient is (ISO 3166 code)")
    return out


def _separate(p: str, site: SiteConfig) -> list[str]:
    langs = site.languages
    out = []
    for sid, item in site.separate.items():
        sp = f"{p}.separate.{sid}"
        out += _ltext(f"{sp}.title", item.title, langs, required=True)
        out += _ltext(f"{sp}.description", item.description, langs, required=True)
        article, needed = _SEPARATE_REQUIRES[item.kind]
        if item.per_recipient:
            out += _per_recipient(sp, item, langs, article, needed)
            continue
        for name in ("purpose", "method", "rights"):
            text: LText = getattr(item, name)
            if text or name not in needed:
                out += _ltext(f"{sp}.{name}", text, langs, required=False)
        for name in needed:
            if not getattr(item, name):
                out.append(f"{sp}.{name}: missing; PIPL {article} requires it for a {item.kind} item")
        if item.kind is SeparateKind.CROSS_BORDER and "CN" in item.countries:
            out.append(f"{sp}.countries: CN is not a cross-border destination")
    return out


# Where a per-recipient notice takes each Art. 39 / Art. 23 element from: the ask brings the
# recipient, so the texts must name it through these placeholders.
_FROM_ASK = {"recipient": "recipient.name", "recipient_contact": "recipient.contact",
             "countries": "recipient.country"}


def _per_recipient(sp: str, item: SeparateItem, langs: list[str], article: str,
                   needed: tuple[str, ...]) -> list[str]:
    out = []
    for name in ("purpose", "method", "rights"):
        text: LText = getattr(item, name)
        if name in needed or text:
            out += _ltext(f"{sp}.{name}", text, langs, required=True)
    for name, field in _FROM_ASK.items():
        if name not in needed:
            continue
        for lang in langs:
            shown = item.title.get(lang, "") + item.description.get(lang, "")
            if "{" + field + "}" not in shown:
                out.append(f"{sp}.description.{lang}: must name {{{field}}} (PIPL {article}: "
                           f"the person is told {name.replace('_', ' ')} of each recipient)")
    if "data_categories" in needed and not item.data_categories:
        # the ask may narrow them; the item says what may ever be given
        out.append(f"{sp}.data_categories: missing; PIPL {article} requires it")
    return out


def _permissions(p: str, site: SiteConfig) -> list[str]:
    """A capability behind a necessary purpose is never asked: the mapping would do nothing."""
    return [f"{p}.permissions.{cap}: {t!r} is necessary (always granted), so the prompt "
            "would never ask; map it to an optional purpose or a separate item"
            for cap, t in site.permissions.items()
            if t in site.purposes and site.purposes[t].necessary]


def _assessments(p: str, site: SiteConfig, today: date) -> list[str]:
    """Cross-border and sensitive items need a current impact assessment (PIPL Art. 55-56)."""
    cov = assessments.coverage(site, today)
    out = []
    for c in cov.items:
        if c.state == "missing":
            out.append(f"{p}.separate.{c.item}: a {c.kind} item with no impact assessment "
                       "(PIPL Art. 55); record one in assessments.<id> with scope.separate "
                       "naming it")
        elif c.state == "expired" and c.newest:
            made = site.assessments[c.newest].date
            out.append(f"{p}.separate.{c.item}: its newest impact assessment "
                       f"(assessments.{c.newest}, {made}) is more than "
                       f"{assessments.MAX_AGE_YEARS} years old; assess it again")
    for aid in cov.overdue:
        a = site.assessments[aid]
        out.append(f"{p}.assessments.{aid}.review_by: {a.review_by} has passed; review the "
                   "assessment and record the result (a new assessment or a later review_by)")
    for aid, a in site.assessments.items():
        out += _ltext(f"{p}.assessments.{aid}.title", a.title, site.languages, required=True)
        if a.date > today:
            out.append(f"{p}.assessments.{aid}.date: {a.date} is in the future; an assessment "
                       "is recorded once it is done")
    return out


def _tags(p: str, site: SiteConfig) -> list[str]:
    """A tag catalog the gate would enforce as written, but that misstates what a tag needs."""
    nec = {pid for pid, d in site.purposes.items() if d.necessary}
    out: list[str] = []
    seen: dict[str, str] = {}
    for tid, tag in site.tags.items():
        tp = f"{p}.tags.{tid}"
        vendor = site.vendors[tag.vendor]  # config validation guarantees it exists
        needed = site.tag_purposes(tag)
        if unserved := [x for x in tag.purposes if x not in vendor.purposes]:
            out.append(f"{tp}.purposes: {', '.join(unserved)} not among the purposes of vendor "
                       f"{tag.vendor!r}, so the banner never tells visitors it serves them")
        if omitted := [x for x in vendor.purposes if x not in nec and x not in needed]:
            out.append(f"{tp}.purposes: omits {', '.join(omitted)}, which vendor {tag.vendor!r} "
                       "serves; list every purpose the tag's data is used for")
        if all(x in nec for x in needed) and any(x not in nec for x in vendor.purposes):
            out.append(f"{tp}.purposes: only necessary purposes, so the tag would run without "
                       "consent for a vendor that needs it")
        granted = {t for x in needed for t in site.consent_mode.mapping.get(x, [])}
        if unread := [t for t in tag.consent_mode if t not in granted and t != "security_storage"]:
            out.append(f"{tp}.consent_mode: reads {', '.join(unread)}, but none of its purposes "
                       f"({', '.join(needed)}) grants it in consent_mode.mapping, so it always "
                       "sees 'denied'")
        if tag.src is not None:
            if tag.src.startswith("http://"):
                out.append(f"{tp}.src: loads over plain http; use https (a network attacker "
                           "could replace the script)")
            if tag.src in seen:
                out.append(f"{tp}.src: same script as tags.{seen[tag.src]}; it would load twice")
            seen.setdefault(tag.src, tid)
        if tag.inline is not None and "</script" in tag.inline.lower():
            out.append(f"{tp}.inline: contains '</script', which ends the script early when a "
                       "site renders it into its HTML")
    b = site.beacon
    if b is not None and site.purposes[b.purpose].necessary:
        out.append(f"{p}.beacon.purpose: {b.purpose!r} is necessary, so page events would be "
                   "logged without consent; use the analytics purpose")
    return out


def _channels(p: str, site: SiteConfig) -> list[str]:
    """SMS, push and phone lists a person is asked about, and the instruction every marketing
    text carries: in every language of the site, naming a word the webhook understands."""
    langs = site.languages
    out: list[str] = []
    for name, ch in site.channels.items():
        cp = f"{p}.channels.{name}"
        for lid, lst in ch.lists.items():
            out += _ltext(f"{cp}.lists.{lid}.title", lst.title, langs, required=True)
            out += _ltext(f"{cp}.lists.{lid}.description", lst.description, langs,
                          required=False)
        if name != "sms":
            continue
        out += _ltext(f"{cp}.opt_out_text", ch.opt_out_text, langs, required=True,
                      why="every marketing text must say how to opt out (e.g. 回复TD退订)")
        if not ch.opt_out_keywords:
            out.append(f"{cp}.opt_out_keywords: empty, so no reply can opt out; keep the "
                       "defaults (TD, T, 退订, STOP, UNSUBSCRIBE) or list your own")
            continue
        words = [_fold(k) for k in ch.opt_out_keywords]
        for lang, text in ch.opt_out_text.items():
            if lang in langs and text.strip() and not any(w in _fold(text) for w in words):
                out.append(f"{cp}.opt_out_text.{lang}: names none of opt_out_keywords, so a "
                           "member who replies as told is not opted out")
    return out


def _fold(text: str) -> str:
    # The spelling replies are matched in (pixel.sms.keywords), without its trimming.
    return unicodedata.normalize("NFKC", text).casefold()
