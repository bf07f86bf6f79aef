"""The people view (customer service): a person's state as rows in the reader's language, the
withdrawals its form offers, and that form read back into the event cmp.people records.

No HTTP here; dashboards/routes.py calls these. Errors carry a key of dashboards/i18n.py so
the page says what is wrong in the operator's language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, cast

from cmp.config import CHANNELS, SiteConfig, fill_recipient
from cmp.grants import ALL_LISTS
from cmp.people import ChannelAnswer, PersonEventIn

PERSON_RE = re.compile(r"^p_[0-9a-f]{32}$")
METHODS = ("phone", "email_request")  # how a request reaches an operator
# A checkbox per withdrawable item: w:purposes:<id>, w:channels:<ch>:<list>,
# w:recipients:<item>:<recipient id> (a per-recipient grant, cmp/asks.py).
FIELD = "w:"
MAX_REFERENCE, MAX_NOTE = 200, 2000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class FormError(ValueError):
    """A form the page cannot record; `key` names the text in dashboards/i18n.py."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    granted: bool
    at: str
    event_id: str
    via: str = ""
    list_id: str = ""


@dataclass(frozen=True)
class RecipientRow:
    item: str
    item_label: str
    id: str
    name: str
    country: str
    agreed: bool
    at: str
    event_id: str


@dataclass(frozen=True)
class Withdrawal:
    """What the form withdraws: a person event (purposes, separate items, channels) and the
    per-recipient grants, each recorded with the same method, reference and note."""

    event: PersonEventIn | None
    recipients: list[tuple[str, str]]  # (item, recipient id)
    method: str
    reference: str
    note: str | None


@dataclass(frozen=True)
class Option:
    value: str  # the checkbox's name after FIELD
    label: str


def _text(lt: dict[str, str], lang: str, site: SiteConfig, fallback: str) -> str:
    return lt.get(lang) or lt.get(site.lang_default) or fallback


def list_titles(site: SiteConfig, channel: str, lang: str) -> dict[str, str]:
    """A channel's list (topic) ids -> their title in `lang`."""
    if channel == "email":
        lists: dict[str, Any] = dict(site.email.lists) if site.email else {}
    else:
        c = site.channels.get(cast(Literal["sms", "push", "phone"], channel))
        lists = dict(c.lists) if c else {}
    return {k: _text(v.title, lang, site, k) for k, v in lists.items()}


def rows(site: SiteConfig, state: dict[str, Any], lang: str, all_lists: str
         ) -> dict[str, list[Row]]:
    """The person's answers, grouped as the page shows them."""
    titles = {"purposes": {k: _text(p.title, lang, site, k) for k, p in site.purposes.items()},
              "vendors": {k: v.name for k, v in site.vendors.items()},
              "separate": {k: _text(x.title, lang, site, k) for k, x in site.separate.items()}}
    out: dict[str, list[Row]] = {}
    for group in ("purposes", "vendors", "separate"):
        out[group] = [Row(k, titles[group].get(k, k), bool(a["granted"]), str(a["at"]),
                          str(a["event_id"]), str(a.get("via", "")))
                      for k, a in state.get(group, {}).items()]
    out["channels"] = []
    for ch, lists in state.get("channels", {}).items():
        names = list_titles(site, ch, lang)
        for lid, a in lists.items():
            out["channels"].append(Row(ch, all_lists if lid == ALL_LISTS else names.get(lid, lid),
                                       bool(a["allowed"]), str(a["at"]), str(a["event_id"]),
                                       list_id=lid))
    return out


def recipient_rows(site: SiteConfig, state: dict[str, Any], grants: list[dict[str, Any]],
                   lang: str) -> list[RecipientRow]:
    """The person's per-recipient answers (state["recipients"]), with each recipient's name
    and country as the person was shown them (AskService.grants)."""
    shown = {(g["item"], str(g["recipient"].get("id"))): g["recipient"] for g in grants}
    out = []
    for item, recipients in sorted(state.get("recipients", {}).items()):
        for rid, a in sorted(recipients.items()):
            r = shown.get((item, rid), {})
            out.append(RecipientRow(item, item_title(site, item, lang, r), rid,
                                    str(r.get("name", rid)),
                                    str(r.get("country", "")), bool(a["agreed"]), str(a["at"]),
                                    str(a["event_id"])))
    return out


def item_title(site: SiteConfig, item: str, lang: str,
               recipient: dict[str, Any] | None = None) -> str:
    """A per-recipient item's title in `lang`, its {recipient.…} fields filled from the
    recipient as shown, or with "…" where no one recipient is meant."""
    sep = site.separate.get(item)
    if sep is None:
        return item
    r = recipient or {}
    fields = {"name": str(r.get("name", "…")), "contact": str(r.get("contact", "…")),
              "country": str(r.get("country", "…")),
              "data_categories": ", ".join(r.get("data_categories") or sep.data_categories)}
    return fill_recipient(_text(sep.title, lang, site, item), fields)


def event_ids(state: dict[str, Any]) -> set[str]:
    """The events that set one of the person's current answers."""
    ids = {str(a["event_id"]) for g in ("purposes", "vendors", "separate")
           for a in state.get(g, {}).values()}
    ids |= {str(a["event_id"]) for rs in state.get("recipients", {}).values()
            for a in rs.values()}
    ids |= {str(e) for e in (state.get("lifecycle") or {}).get("event_ids", ())}
    return ids | {str(a["event_id"]) for lists in state.get("channels", {}).values()
                  for a in lists.values()}


def options(site: SiteConfig, state: dict[str, Any], lang: str, channel_names: dict[str, str],
            all_lists: str, recipients: list[RecipientRow] | None = None
            ) -> tuple[list[Option], list[Option]]:
    """(what is granted now, a whole channel): the checkboxes of the withdrawal form."""
    granted: list[Option] = []
    r = rows(site, state, lang, all_lists)
    for group in ("purposes", "separate"):
        for row in r[group]:
            if row.granted and not (group == "purposes" and site.purposes[row.key].necessary):
                granted.append(Option(f"{group}:{row.key}", row.label))
    for rr in recipients or ():
        if rr.agreed:
            granted.append(Option(f"recipients:{rr.item}:{rr.id}", f"{rr.item_label} ({rr.id})"))
    for row in r["channels"]:
        if row.granted:
            granted.append(Option(f"channels:{row.key}:{row.list_id}",
                                  f"{channel_names[row.key]} · {row.label}"))
    taken = {o.value for o in granted}
    whole = [Option(f"channels:{ch}:{ALL_LISTS}", f"{channel_names[ch]} · {all_lists}")
             for ch in CHANNELS if f"channels:{ch}:{ALL_LISTS}" not in taken]
    return granted, whole


# The lifecycle facts an operator may record (the buttons of the people view's lifecycle form).
FACTS = ("account_closed", "minor")


def lifecycle(data: dict[str, str]) -> PersonEventIn:
    """The lifecycle form (account closed, or the person is a minor) as the event cmp.people
    records; the operator is added server side."""
    fact = data.get("fact", "")
    if fact not in FACTS:
        raise FormError("unknown_item")
    method = data.get("method", "")
    if method not in METHODS:
        raise FormError("bad_method")
    reference = data.get("reference", "").strip()
    if not reference:
        raise FormError("reference_required")
    if len(reference) > MAX_REFERENCE or _CONTROL.search(reference):
        raise FormError("reference_bad")
    note = data.get("note", "").strip()
    if len(note) > MAX_NOTE:
        raise FormError("note_bad")
    body: dict[str, Any] = {"method": method, "reference": reference, "note": note or None}
    body.update({"account": "closed"} if fact == "account_closed" else {"minor": True})
    return PersonEventIn.model_validate(body)


def withdrawal(site: SiteConfig, data: dict[str, str],
               recipients: frozenset[tuple[str, str]] = frozenset()) -> Withdrawal:
    """The form's ticked items as a withdrawal (the operator is added server side).
    `recipients`: the (item, recipient id) grants the person holds now, the only ones the
    form may withdraw."""
    purposes: dict[str, bool] = {}
    separate: dict[str, bool] = {}
    channels: list[ChannelAnswer] = []
    chosen: list[tuple[str, str]] = []
    for name in data:
        if not name.startswith(FIELD):
            continue
        group, _, rest = name.removeprefix(FIELD).partition(":")
        if group == "purposes" and rest in site.purposes and not site.purposes[rest].necessary:
            purposes[rest] = False
        elif group == "separate" and rest in site.banner_separate:
            separate[rest] = False
        elif group == "recipients":
            item, _, rid = rest.partition(":")
            if (item, rid) not in recipients:
                raise FormError("unknown_item")
            chosen.append((item, rid))
        elif group == "channels":
            ch, _, lid = rest.partition(":")
            if ch not in CHANNELS or (lid != ALL_LISTS and lid not in site.channel_lists(ch)):
                raise FormError("unknown_item")
            channels.append(ChannelAnswer.model_validate(
                {"channel": ch, "list": lid, "allowed": False}))
        else:
            raise FormError("unknown_item")
    if not (purposes or separate or channels or chosen):
        raise FormError("nothing_chosen")
    method = data.get("method", "")
    if method not in METHODS:
        raise FormError("bad_method")
    reference = data.get("reference", "").strip()
    if not reference:
        raise FormError("reference_required")
    if len(reference) > MAX_REFERENCE or _CONTROL.search(reference):
        raise FormError("reference_bad")
    note = data.get("note", "").strip()
    if len(note) > MAX_NOTE:
        raise FormError("note_bad")
    event = None
    if purposes or separate or channels:
        event = PersonEventIn.model_validate({
            "method": method, "purposes": purposes, "separate": separate,
            "channels": [c.model_dump() for c in channels], "reference": reference,
            "note": note or None})
    return Withdrawal(event, chosen, method, reference, note or None)
