"""What a batch of ledger events changes in `request_cases`, the derived table of data-subject
request cases (cmp/cases.py) that lists them by due date. The ledger is the record; the row is
the latest `case` event's payload, applied by the writer's transaction that stores it.

A `case` event's payload carries the whole current state of its case (case, type, state,
regime, received_at, due, requester), so a row is the last event's payload.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cmp.ledger import StoredEvent
from cmp.types import EventKind

OPEN_STATES = ("received", "verified", "in_progress")


@dataclass(frozen=True, slots=True)
class CaseRow:
    site: str
    case_id: str
    type: str
    state: str
    regime: str
    received_at: str
    due: str  # ISO date, the day by which the controller must answer
    requester: str | None  # r_/t_/p_ pseudonym of who asked, if known
    updated_at: str
    seq: int


def case_changes(events: Iterable[StoredEvent]) -> list[CaseRow]:
    out = []
    for ev in events:
        if ev.kind != EventKind.CASE:
            continue
        p = ev.payload
        out.append(CaseRow(ev.site, str(p["case"]), str(p["type"]), str(p["state"]),
                           str(p["regime"]), str(p["received_at"]), str(p["due"]),
                           p.get("requester"), ev.ts, ev.seq))
    return out
