"""pixel.outcomes: the one GIF, drop vocabulary and outcome counter both sides of pixel/ share.

The drop values are read by /metrics, the campaign stats, dashboards and bench scripts, so
they are pinned here; the GIF is checked as both sides serve it over HTTP."""

from __future__ import annotations

from pathlib import Path

from pixel.outcomes import (
    BEACON_KIND,
    GIF,
    GIF_HEADERS,
    GIF_TYPE,
    GIF_UNAVAILABLE_HEADERS,
    STORED,
    Counters,
    Drop,
)
from tests.conftest import build_services, running

EMAIL_DROPS = {"bad_token", "unknown_site", "no_consent", "suppressed", "machine_open",
               "bad_destination"}
BEACON_DROPS = {"oversize", "malformed", "unknown_site", "bad_origin", "bot", "bad_token",
                "no_consent", "gpc", "disabled", "rate_limited"}


def test_one_drop_vocabulary_holds_both_sides() -> None:
    assert {str(d) for d in Drop} == EMAIL_DROPS | BEACON_DROPS
    assert len(Drop) == 13 and STORED not in {str(d) for d in Drop}
    assert Drop("rate_limited") is Drop.RATE_LIMITED and f"{Drop.BAD_TOKEN}" == "bad_token"


def test_gif_is_the_43_byte_transparent_pixel() -> None:
    assert len(GIF) == 43 and GIF.startswith(b"GIF89a\x01\x00\x01\x00") and GIF.endswith(b";")
    assert GIF_TYPE == "image/gif"
    assert "no-store" in GIF_HEADERS["Cache-Control"]
    assert GIF_UNAVAILABLE_HEADERS == {**GIF_HEADERS, "Retry-After": "1"}


def test_counters_answer_each_reader() -> None:
    c = Counters()
    c.add("shop", "open", STORED, "spring")
    c.add("shop", "open", STORED, "spring")
    c.add("shop", "click", Drop.SUPPRESSED, "spring")
    c.add("shop", "open", Drop.MACHINE_OPEN, "autumn")
    c.add("", "open", Drop.BAD_TOKEN)
    c.add("demo", BEACON_KIND, STORED)
    c.add("demo", BEACON_KIND, Drop.BOT)
    c.add("", BEACON_KIND, Drop.MALFORMED)
    assert c.for_campaign("shop", "spring") == {"open": {"stored": 2}, "click": {"suppressed": 1}}
    assert c.for_campaign("shop", "winter") == {}
    assert c.by_site(BEACON_KIND) == {("demo", "stored"): 1, ("demo", "bot"): 1,
                                      ("", "malformed"): 1}
    assert c.by_site("open") == {("shop", "stored"): 2, ("shop", "machine_open"): 1,
                                 ("", "bad_token"): 1}
    assert c.totals() == {("open", "stored"): 2, ("click", "suppressed"): 1,
                          ("open", "machine_open"): 1, ("open", "bad_token"): 1,
                          ("beacon", "stored"): 1, ("beacon", "bot"): 1,
                          ("beacon", "malformed"): 1}


async def test_both_sides_answer_the_same_gif(tmp_path: Path) -> None:
    async with running(build_services(tmp_path / "o.db")) as client:
        email = await client.get("/e/o/not-a-token.gif")  # the fast path, a bad token
        web = await client.get("/b", params={"s": "demo", "e": "pageview"})  # no consent
        metrics = (await client.get("/metrics")).text
    for r in (email, web):
        assert r.status_code == 200 and r.content == GIF
        assert r.headers["content-type"] == GIF_TYPE
        assert {k: r.headers[k] for k in GIF_HEADERS} == GIF_HEADERS
    # /metrics shows the beacon's outcomes only, as before the counters were shared
    beacon_lines = [ln for ln in metrics.splitlines() if ln.startswith("consentry_beacon_events")]
    assert beacon_lines == ['consentry_beacon_events_total{site="demo",outcome="no_consent"} 1']
