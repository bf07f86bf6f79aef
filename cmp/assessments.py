"""Impact assessments (PIPL Art. 55-56) against the items that need them. No HTTP.

A cross-border or sensitive separate item (per-recipient ones included) needs a personal
information protection impact assessment before the processing; the report is kept at least
3 years. `coverage` says, for a given day, which items have a current one, which have none,
whose newest is older than 3 years, and which assessments are past their review date. Lint
(cmp.lint) and the dashboards both read it, so they never disagree.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cmp.config import Assessment, SiteConfig
from cmp.types import SeparateKind

# The kinds of separate item that need an assessment.
NEEDS_ASSESSMENT = (SeparateKind.CROSS_BORDER, SeparateKind.SENSITIVE)
# Reports are kept (and an assessment stands) at least this long (PIPL Art. 56).
MAX_AGE_YEARS = 3


def expires(d: date) -> date:
    """The day an assessment made on `d` is 3 years old (29 February -> 1 March)."""
    try:
        return d.replace(year=d.year + MAX_AGE_YEARS)
    except ValueError:
        return date(d.year + MAX_AGE_YEARS, 3, 1)


@dataclass(frozen=True)
class ItemCoverage:
    item: str
    kind: str
    newest: str | None  # the assessment id with the latest date, None if none covers it
    state: str  # "ok" | "missing" | "expired" (older than 3 years) | "review_due"


@dataclass(frozen=True)
class Coverage:
    items: list[ItemCoverage]
    overdue: list[str]  # assessments whose review_by has passed and that are still relied on


def covering(site: SiteConfig, item: str) -> list[str]:
    """The assessments whose scope names the item, newest first."""
    found = [(a.date, aid) for aid, a in site.assessments.items() if item in a.scope.separate]
    return [aid for _, aid in sorted(found, reverse=True)]


def _relied_on(site: SiteConfig) -> set[str]:
    """Assessments that are the newest for one of their items, or cover no item (recipients
    only): an older one superseded for every item it covers is history, not a duty."""
    newest = {ids[0] for sid in site.separate if (ids := covering(site, sid))}
    return newest | {aid for aid, a in site.assessments.items() if not a.scope.separate}


def coverage(site: SiteConfig, today: date) -> Coverage:
    relied = _relied_on(site)
    overdue = [aid for aid, a in site.assessments.items()
               if aid in relied and a.review_by < today]
    items = []
    for sid, s in site.separate.items():
        if s.kind not in NEEDS_ASSESSMENT:
            continue
        ids = covering(site, sid)
        newest = ids[0] if ids else None
        if newest is None:
            state = "missing"
        elif expires(site.assessments[newest].date) <= today:
            state = "expired"
        elif newest in overdue:
            state = "review_due"
        else:
            state = "ok"
        items.append(ItemCoverage(sid, str(s.kind), newest, state))
    return Coverage(items, overdue)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def matching(site: SiteConfig, digest: str) -> dict[str, Assessment]:
    """The assessments whose recorded report hash is `digest`."""
    return {aid: a for aid, a in site.assessments.items() if a.report_sha256 == digest}
