"""Working-day calendars: China's holidays and make-up working days (调休) from the `holidays`
package, a site's own extra days, and the calendar-day deadlines of GDPR and CCPA."""

from __future__ import annotations

from datetime import date

import pytest

from cmp.config import RequestsConfig
from cmp.workdays import Calendar, add_days, add_months, add_working_days

CN = Calendar.of("CN")


def test_chinese_make_up_days_are_working_days() -> None:
    # State Council notice on the 2026 holidays: National Day and Mid-Autumn 1-7 October,
    # worked on Sunday 20 September and Saturday 10 October instead.
    assert CN.is_working_day(date(2026, 9, 20))  # a Sunday
    assert CN.is_working_day(date(2026, 10, 10))  # a Saturday
    assert not CN.is_working_day(date(2026, 9, 27))  # an ordinary Sunday
    for day in range(1, 8):
        assert not CN.is_working_day(date(2026, 10, day)), day
    # 2025: Spring Festival worked on Sunday 26 January and Saturday 8 February
    assert CN.is_working_day(date(2025, 1, 26)) and CN.is_working_day(date(2025, 2, 8))
    assert not CN.is_working_day(date(2025, 1, 29))


def test_seven_working_days_over_national_day() -> None:
    # Received Tuesday 29 September 2026: 30 Sep (1), the holiday week, 8 Oct (2), 9 Oct (3),
    # the make-up Saturday 10 Oct (4), 12 (5), 13 (6), 14 October (7).
    assert add_working_days(date(2026, 9, 29), 7, CN) == date(2026, 10, 14)
    # Without the make-up Saturday it would be the 15th: the make-up day counts.
    de = Calendar.of("DE")
    assert not de.is_working_day(date(2026, 10, 10))
    assert add_working_days(date(2026, 9, 29), 15, CN) == date(2026, 10, 26)


def test_extra_holidays_and_workdays() -> None:
    closed = Calendar.of("CN", extra_holidays=[date(2026, 10, 8)])
    assert add_working_days(date(2026, 9, 29), 7, closed) == date(2026, 10, 15)
    opened = Calendar.of("CN", extra_workdays=[date(2026, 10, 11)])  # a Sunday worked
    assert add_working_days(date(2026, 9, 29), 7, opened) == date(2026, 10, 13)
    with pytest.raises(ValueError):
        add_working_days(date(2026, 9, 29), 0, CN)


def test_calendar_day_deadlines() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 11, 15), 2) == date(2027, 1, 15)
    assert add_days(date(2026, 11, 20), 45) == date(2027, 1, 4)


def test_config_defaults_and_calendars() -> None:
    r = RequestsConfig()
    assert r.deadlines_for("pipl").reply.n == 7 and r.deadlines_for("pipl").reply.unit == \
        "working_days"
    cancel = r.deadlines_for("pipl").cancel_account
    assert cancel is not None and cancel.n == 15
    assert r.deadlines_for("gdpr").reply.unit == "months"
    assert r.deadlines_for("us_optout").reply.n == 45
    assert r.deadlines_for("custom").reply.unit == "months"  # others: gdpr's
    assert r.calendar_for("pipl") == "CN" and r.calendar_for("gdpr") == "DE"
    assert RequestsConfig(calendar="FR").calendar_for("gdpr") == "FR"
    assert "national_security" in r.refusal_grounds
    with pytest.raises(ValueError, match="no holiday calendar"):
        RequestsConfig(calendar="ZZ")


def test_requests_naming_an_unknown_regime_is_a_config_error(tmp_path: object) -> None:
    from pathlib import Path

    from cmp.adminkeys import generate_admin_key
    from cmp.config import ConfigError, load_config
    from tests.conftest import site_toml

    assert isinstance(tmp_path, Path)
    _, h = generate_admin_key()
    path = tmp_path / "c.toml"
    path.write_text(site_toml("alpha", h, origin="https://alpha.example")
                    + '\n[sites.alpha.requests]\ndefault_regime = "nowhere"\n', "utf-8")
    with pytest.raises(ConfigError) as got:
        load_config(path)
    assert any("sites.alpha.requests" in p for p in got.value.problems)
