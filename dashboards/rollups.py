"""Dashboard rollups: the counts the views read, kept up to date as events are written.

The writers call `apply_consent` / `apply_engagement` inside the transaction that stores the
rows, so a count can never disagree with the events it counts (both commit or neither). The
counting itself (`consent_increments`, `engagement_increments`) is plain Python over the rows
the writer already holds, so a PostgreSQL writer can reuse it with its own placeholders.

Keys use "" for a field the event did not record (NULL would not work in a primary key).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from cmp.ledger import StoredEvent

DECISIONS = ("accept_all", "reject_all", "custom")  # what a person chose on the banner

ConsentKey = tuple[str, str, str, str, str]  # site, day, regime, language, action
PurposeKey = tuple[str, str, str, str, str]  # site, day, regime, language, purpose
EmailKey = tuple[str, str, str, str, str, int]  # site, campaign, day, kind, class, machine

CONSENT_UPSERT = (
    "INSERT INTO dash_consent_daily (site, day, regime, language, action, events) "
    "VALUES (?,?,?,?,?,?) ON CONFLICT (site, day, regime, language, action) "
    "DO UPDATE SET events = dash_consent_daily.events + excluded.events")
PURPOSE_UPSERT = (
    "INSERT INTO dash_purpose_daily (site, day, regime, language, purpose, granted) "
    "VALUES (?,?,?,?,?,?) ON CONFLICT (site, day, regime, language, purpose) "
    "DO UPDATE SET granted = dash_purpose_daily.granted + excluded.granted")
EMAIL_UPSERT = (
    "INSERT INTO dash_email_daily (site, campaign, day, kind, class, machine, events) "
    "VALUES (?,?,?,?,?,?,?) ON CONFLICT (site, campaign, day, kind, class, machine) "
    "DO UPDATE SET events = dash_email_daily.events + excluded.events")


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
    """Upsert parameters (key..., count) for dash_consent_daily and dash_purpose_daily."""
    decisions, granted = consent_increments(events)
    return [(*k, n) for k, n in decisions.items()], [(*k, n) for k, n in granted.items()]


def apply_consent(db: sqlite3.Connection, events: Sequence[StoredEvent]) -> None:
    """Add a batch of ledger events to the rollups (inside the writer's open transaction)."""
    decisions, granted = consent_changes(events)
    if decisions:
        db.executemany(CONSENT_UPSERT, decisions)
    if granted:
        db.executemany(PURPOSE_UPSERT, granted)


def engagement_increments(rows: Iterable[Sequence[Any]]) -> Counter[EmailKey]:
    """Rows as the engagement writer inserts them: (site, campaign, message, recipient, list,
    kind, link, class, machine, reason, ts, ts_ms)."""
    out: Counter[EmailKey] = Counter()
    for r in rows:
        out[(r[0], r[1], str(r[10])[:10], r[5], r[7], int(r[8]))] += 1
    return out


def engagement_changes(rows: Iterable[Sequence[Any]],
                       moved: Iterable[tuple[str, str, str, str]]) -> list[tuple[Any, ...]]:
    """Upsert parameters (key..., delta) for dash_email_daily: the inserted engagement `rows`
    counted, and each reclassified click `moved` (site, campaign, day, old class) taken from
    (old class, human) to (scanner, machine). Zero deltas are left out."""
    inc = engagement_increments(rows)
    for site, campaign, day, cls in moved:
        inc[(site, campaign, day, "click", cls, 0)] -= 1
        inc[(site, campaign, day, "click", "scanner", 1)] += 1
    return [(*k, n) for k, n in inc.items() if n]


def apply_engagement(db: sqlite3.Connection, rows: Sequence[Sequence[Any]],
                     reclassify: Sequence[Sequence[Any]]) -> None:
    """Count inserted engagement rows, and move the clicks a scanner burst is about to
    reclassify from their class to (scanner, machine).

    Call after the INSERT and before the reclassifying UPDATE: `reclassify` holds that
    UPDATE's parameters (reason, site, message, since_ms) and selects the same rows."""
    moved: dict[int, tuple[str, str, str, str]] = {}  # by row id: one burst may list a row twice
    for _reason, site, message, since_ms in reclassify:
        for rid, campaign, day, cls in db.execute(
                "SELECT id, campaign, substr(ts, 1, 10), class FROM email_engagement "
                "WHERE site = ? AND message = ? AND kind = 'click' AND ts_ms >= ? "
                "AND machine = 0", (site, message, since_ms)):
            moved[rid] = (site, campaign, day, cls)
    changes = engagement_changes(rows, moved.values())
    if changes:
        db.executemany(EMAIL_UPSERT, changes)
