"""The people view (customer service): a person's state as rows in the reader's language, the
withdrawals its form offers, and that form read back into the event cmp.people records.

No HTTP here; dashboards/routes.py calls these. Errors carry a key of dashboards/i18n.py so
the page says what is wrong in the operator's language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, cast

from cmp.config import CHANNELS, SiteConfig
from cmp.grants import ALL_LISTS
from cmp.people import ChannelAnswer, PersonEventIn

PERSON_RE = re.compile(r"^p_[0-9a-f]{32}$")
METHODS = ("phone", "email_request")  # how a request reaches an operator
FIELD = "w:"  # a checkbox per withdrawable item: w:purposes:<id>, w:channels:<ch>:<list>
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


def event_ids(state: dict[str, Any]) -> set[str]:
    """The events that set one of the person's current answers."""
    ids = {str(a["event_id"]) for g in ("purposes", "vendors", "separate")
           for a in state.get(g, {}).values()}
    return ids | {str(a["event_id"]) for lists in state.get("channels", {}).values()
                  for a in lists.values()}


def options(site: SiteConfig, state: dict[str, Any], lang: str, channel_names: dict[str, str],
            all_lists: str) -> tuple[list[Option], list[Option]]:
    """(what is granted now, a whole channel): the checkboxes of the withdrawal form."""
    granted: list[Option] = []
    r = rows(site, state, lang, all_lists)
    for group in ("purposes", "separate"):
        for row in r[group]:
            if row.granted and not (group == "purposes" and site.purposes[row.key].necessary):
                granted.append(Option(f"{group}:{row.key}", row.label))
    for row in r["channels"]:
        if row.granted:
            granted.append(Option(f"channels:{row.key}:{row.list_id}",
                                  f"{channel_names[row.key]} · {row.label}"))
    taken = {o.value for o in granted}
    whole = [Option(f"channels:{ch}:{ALL_LISTS}", f"{channel_names[ch]} · {all_lists}")
             for ch in CHANNELS if f"channels:{ch}:{ALL_LISTS}" not in taken]
    return granted, whole


def withdrawal(site: SiteConfig, data: dict[str, str]) -> PersonEventIn:
    """The form's ticked items as a withdrawal event (the operator is added server side)."""
    purposes: dict[str, bool] = {}
    separate: dict[str, bool] = {}
    channels: list[ChannelAnswer] = []
    for name in data:
        if not name.startswith(FIELD):
            continue
        group, _, rest = name.removeprefix(FIELD).partition(":")
        if group == "purposes" and rest in site.purposes and not site.purposes[rest].necessary:
            purposes[rest] = False
        elif group == "separate" and rest in site.separate:
            separate[rest] = False
        elif group == "channels":
            ch, _, lid = rest.partition(":")
            if ch not in CHANNELS or (lid != ALL_LISTS and lid not in site.channel_lists(ch)):
                raise FormError("unknown_item")
            channels.append(ChannelAnswer.model_validate(
                {"channel": ch, "list": lid, "allowed": False}))
        else:
            raise FormError("unknown_item")
    if not (purposes or separate or channels):
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
    return PersonEventIn.model_validate({
        "method": method, "purposes": purposes, "separate": separate,
        "channels": [c.model_dump() for c in channels], "reference": reference,
        "note": note or None})
