"""Dashboard rollups: what a batch of written rows adds to the counts the dashboards read.

The writers of both backends keep the rollup tables (migration 0004) inside the transaction
that stores the rows, so a count can never disagree with the events it counts (both commit or
neither). The counting is plain Python over the rows the writer already holds, decided once
here; each dialect's upserts live next to its writers (sqlite/rollups.py, postgres/rollups.py).

Keys use "" for a field the event did not record (NULL would not work in a primary key).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from cmp.ledger import StoredEvent

DECISIONS = ("accept_all", "reject_all", "custom")  # what a person chose on the banner

ConsentKey = tuple[str, str, str, str, str]  # site, day, regime, language, action
PurposeKey = tuple[str, str, str, str, str]  # site, day, regime, language, purpose
EmailKey = tuple[str, str, str, str, str, int]  # site, campaign, day, kind, class, machine


def _s(v: Any) -> str:
    return "" if v is None else str(v)


def consent_increments(events: Iterable[StoredEvent]) -> tuple[Counter[ConsentKey],
                                                               Counter[PurposeKey]]:
    """What a batch of stored ledger events adds to the consent rollups."""
    decisions: Counter[ConsentKey] = Counter()
    granted: Counter[PurposeKey] = Counter()
    for ev in events:
        p = ev.payload
        choices = p.get("choices")
        if not isinstance(choices, dict) or p.get("channel") == "email":
            continue
        day, regime, lang, action = ev.ts[:10], _s(p.get("regime")), _s(p.get("language")), \
            _s(p.get("action"))
        decisions[(ev.site, day, regime, lang, action)] += 1
        if action in DECISIONS:
            for purpose, on in (choices.get("purposes") or {}).items():
                granted[(ev.site, day, regime, lang, purpose)] += 1 if on else 0
    return decisions, granted


def consent_changes(events: Iterable[StoredEvent]) -> tuple[list[tuple[Any, ...]],
                                                            list[tuple[Any, ...]]]:
    """Upsert parameters (key..., count) for dash_consent_daily and dash_purpose_daily, in key
    order: concurrent PostgreSQL writers then lock the same rollup rows in the same order."""
    decisions, granted = consent_increments(events)
    return (sorted((*k, n) for k, n in decisions.items()),
            sorted((*k, n) for k, n in granted.items()))


def engagement_increments(rows: Iterable[Sequence[Any]]) -> Counter[EmailKey]:
    """Rows as the engagement writer inserts them: (site, campaign, message, recipient, list,
    kind, link, class, machine, reason, ts, ts_ms)."""
    out: Counter[EmailKey] = Counter()
    for r in rows:
        out[(r[0], r[1], str(r[10])[:10], r[5], r[7], int(r[8]))] += 1
    return out


def engagement_changes(rows: Iterable[Sequence[Any]],
                       moved: Iterable[tuple[str, str, str, str]]) -> list[tuple[Any, ...]]:
    """Upsert parameters (key..., delta) for dash_email_daily, in key order: the inserted
    engagement `rows` counted, and each reclassified click `moved` (site, campaign, day, old
    class) taken from (old class, human) to (scanner, machine). Zero deltas are left out."""
    inc = engagement_increments(rows)
    for site, campaign, day, cls in moved:
        inc[(site, campaign, day, "click", cls, 0)] -= 1
        inc[(site, campaign, day, "click", "scanner", 1)] += 1
    return sorted((*k, n) for k, n in inc.items() if n)
