"""Working-day and calendar-day deadlines for data-subject requests. No HTTP here.

A `Calendar` is one jurisdiction's public holidays from the `holidays` package, plus the site's
own `extra_holidays` (a company closure) and `extra_workdays`. For China the package also
carries the make-up working days (调休: a Saturday or Sunday worked in exchange for a longer
holiday) that the State Council's yearly notice on holiday arrangements (国务院办公厅关于…部分
节假日安排的通知) announces; `holidays` exposes them as `weekend_workdays` (2025 and 2026 are
in the installed release; a year whose notice the package does not carry yet has none, so a
site lists them in `extra_workdays` until the package is upgraded).

A working day is a day that is not a weekend (Saturday, Sunday) and not a holiday, or is a
make-up working day. `add_working_days(start, n, cal)` is the date of the n-th working day after
`start` (the day received does not count: PIPL's "within 15 working days" of a request made
on a Monday is due on the Friday of the third week). Calendar-day deadlines: `add_days` and
`add_months` (GDPR Art. 12(3): one month, extendable by two; a day missing in the target
month becomes its last day).
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

import holidays


@lru_cache(maxsize=64)
def _public(country: str, year: int) -> tuple[frozenset[date], frozenset[date]]:
    """(holidays, make-up working days) of a country in a year."""
    try:
        h = holidays.country_holidays(country, years=[year])
    except NotImplementedError:
        raise ValueError(f"no holiday calendar for {country!r}") from None
    workdays = frozenset(d for d in getattr(h, "weekend_workdays", ()) if d.year == year)
    return frozenset(h.keys()), workdays


def known_country(country: str) -> bool:
    try:
        _public(country, 2026)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Calendar:
    country: str
    extra_holidays: frozenset[date] = field(default_factory=frozenset)
    extra_workdays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def of(cls, country: str, extra_holidays: Iterable[date] = (),
           extra_workdays: Iterable[date] = ()) -> Calendar:
        _public(country, 2026)  # ValueError now, not at the first due date
        return cls(country, frozenset(extra_holidays), frozenset(extra_workdays))

    def is_working_day(self, d: date) -> bool:
        if d in self.extra_workdays:
            return True
        if d in self.extra_holidays:
            return False
        hols, makeup = _public(self.country, d.year)
        if d in makeup:
            return True
        return d.weekday() < 5 and d not in hols


def add_working_days(start: date, n: int, cal: Calendar) -> date:
    """The n-th working day after `start` (n >= 1); `start` itself never counts."""
    if n < 1:
        raise ValueError("n must be at least 1")
    d, left = start, n
    while left:
        d += timedelta(days=1)
        if cal.is_working_day(d):
            left -= 1
    return d


def add_days(start: date, n: int) -> date:
    return start + timedelta(days=n)


def add_months(start: date, n: int) -> date:
    """The same day n months later, or that month's last day (31 January + 1 month = 28 or 29
    February), as the EU's rule on periods (Regulation 1182/71 Art. 3(2)(c)) reads."""
    m = start.month - 1 + n
    y, m = start.year + m // 12, m % 12 + 1
    return date(y, m, min(start.day, _calendar.monthrange(y, m)[1]))
