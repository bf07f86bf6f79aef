"""The numbers the views show, computed from rollup rows (never from the event tables).

Definitions, decided once:
- A *decision* is a ledger event whose UI action is accept_all, reject_all or custom (a
  banner answer). Withdrawals and expiries are counted apart; e-mail consents are not here.
- The *consent rate* of a purpose is the share of decisions that granted it.
- A *machine* open or click is one the pipeline flagged `machine` (proxies that prefetch,
  scanners, bots); everything else is *human*.
- A *send* is a message prepared for one recipient (`consentry email prepare`, tracked or
  not); the open and click *rates* are human opens and human clicks per send (a person who
  opens twice counts twice), shown only where a campaign has sends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from cmp.storage.rollups import DECISIONS

OTHER_ACTIONS = ("withdraw", "expire")


@dataclass
class Slice:
    """Counts for one value of a dimension (one day, one regime, one language)."""

    key: str
    actions: dict[str, int] = field(default_factory=dict)
    granted: dict[str, int] = field(default_factory=dict)

    @property
    def decisions(self) -> int:
        return sum(self.actions.get(a, 0) for a in DECISIONS)

    def share(self, action: str) -> float | None:
        d = self.decisions
        return self.actions.get(action, 0) / d if d else None

    def rate(self, purpose: str) -> float | None:
        d = self.decisions
        return self.granted.get(purpose, 0) / d if d else None


@dataclass
class ConsentSummary:
    since: str
    purposes: list[str]
    total: Slice
    by_day: list[Slice]
    by_regime: list[Slice]
    by_language: list[Slice]

    @property
    def actions(self) -> tuple[str, ...]:
        return DECISIONS + OTHER_ACTIONS


def _slices(keys: dict[str, Slice]) -> list[Slice]:
    return sorted(keys.values(), key=lambda s: (-s.decisions, s.key))


def consent_summary(consent_rows: list[tuple[str, str, str, str, int]],
                    purpose_rows: list[tuple[str, str, str, str, int]], *,
                    since: str, until: str, purposes: list[str]) -> ConsentSummary:
    """Rows as `Storage.dash_consent_daily` / `dash_purpose_daily` return them."""
    total = Slice("all")
    days: dict[str, Slice] = {}
    d, end = date.fromisoformat(since), date.fromisoformat(until)
    while d <= end:  # every day of the window, so a quiet day shows as zero
        days[d.isoformat()] = Slice(d.isoformat())
        d += timedelta(days=1)
    regimes: dict[str, Slice] = {}
    langs: dict[str, Slice] = {}
    for day, regime, lang, action, n in consent_rows:
        for s in (total, days.setdefault(day, Slice(day)),
                  regimes.setdefault(regime, Slice(regime)), langs.setdefault(lang, Slice(lang))):
            s.actions[action] = s.actions.get(action, 0) + n
    seen = list(purposes)
    for day, regime, lang, purpose, n in purpose_rows:
        if purpose not in seen:
            seen.append(purpose)  # a purpose since removed from the config still shows
        for s in (total, days.setdefault(day, Slice(day)),
                  regimes.setdefault(regime, Slice(regime)), langs.setdefault(lang, Slice(lang))):
            s.granted[purpose] = s.granted.get(purpose, 0) + n
    return ConsentSummary(since, seen, total, [days[k] for k in sorted(days)],
                          _slices(regimes), _slices(langs))


@dataclass
class Campaign:
    name: str
    first_day: str = ""
    last_day: str = ""
    opens: dict[tuple[str, bool], int] = field(default_factory=dict)  # (class, machine) -> n
    clicks: dict[tuple[str, bool], int] = field(default_factory=dict)
    unsubscribes: dict[str, int] = field(default_factory=dict)  # by method
    sends: int = 0
    by_day: dict[str, dict[str, int]] = field(default_factory=dict)  # day -> series -> n

    @staticmethod
    def _sum(counts: dict[tuple[str, bool], int], machine: bool) -> int:
        return sum(n for (_, m), n in counts.items() if m == machine)

    @property
    def human_opens(self) -> int:
        return self._sum(self.opens, False)

    @property
    def machine_opens(self) -> int:
        return self._sum(self.opens, True)

    @property
    def human_clicks(self) -> int:
        return self._sum(self.clicks, False)

    @property
    def machine_clicks(self) -> int:
        return self._sum(self.clicks, True)

    @property
    def unsubscribed(self) -> int:
        return sum(self.unsubscribes.values())

    @property
    def open_rate(self) -> float | None:
        """Human opens per send; None without sends."""
        return self.human_opens / self.sends if self.sends else None

    @property
    def click_rate(self) -> float | None:
        """Human clicks per send; None without sends."""
        return self.human_clicks / self.sends if self.sends else None


def series_of(kind: str, machine: bool) -> str:
    if kind in ("unsubscribe", "send"):
        return kind + "s"
    return f"{'machine' if machine else 'human'} {kind}s"


def campaigns(rows: list[tuple[str, str, str, str, bool, int]]) -> list[Campaign]:
    """Rows as `Storage.dash_email_daily` returns them; newest campaign first."""
    out: dict[str, Campaign] = {}
    for name, day, kind, cls, machine, n in rows:
        c = out.setdefault(name, Campaign(name, day, day))
        c.first_day, c.last_day = min(c.first_day, day), max(c.last_day, day)
        if kind == "open":
            c.opens[(cls, machine)] = c.opens.get((cls, machine), 0) + n
        elif kind == "click":
            c.clicks[(cls, machine)] = c.clicks.get((cls, machine), 0) + n
        elif kind == "unsubscribe":
            c.unsubscribes[cls] = c.unsubscribes.get(cls, 0) + n
        elif kind == "send":
            c.sends += n
        per = c.by_day.setdefault(day, {})
        s = series_of(kind, machine)
        per[s] = per.get(s, 0) + n
    return sorted(out.values(), key=lambda c: (c.last_day, c.name), reverse=True)


def by_week(days: list[Slice]) -> list[Slice]:
    """Day slices merged per week (keyed by the Monday), for long windows."""
    weeks: dict[str, Slice] = {}
    for s in days:
        d = date.fromisoformat(s.key)
        monday = (d - timedelta(days=d.weekday())).isoformat()
        w = weeks.setdefault(monday, Slice(f"week of {monday}"))
        for k, n in s.actions.items():
            w.actions[k] = w.actions.get(k, 0) + n
        for k, n in s.granted.items():
            w.granted[k] = w.granted.get(k, 0) + n
    return [weeks[k] for k in sorted(weeks)]
