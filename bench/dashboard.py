"""Dashboard view time at size: 1,000,000 consent events, p95 per view.

    python bench/dashboard.py [--events 1000000] [--requests 30] [--dir DIR] [--verify]

1. Builds a SQLite ledger through the storage's own migrations, then bulk-inserts N consent
   events in the ledger's exact format (canonical payload JSON, salted personal digest, seq and
   hash chain per site: `ledger verify` passes) plus e-mail engagement rows, feeding every batch
   through the same rollup functions the writers call (cmp.storage.sqlite.rollups), in the same
   transaction as the rows. Events are spread over the last 365 days, four regimes, three
   languages, the three banner actions and some withdrawals.
2. Serves the real app in-process (httpx ASGI transport: view time without the network),
   logs in with an admin key and requests each view `--requests` times; prints p50/p95.
3. Baseline measured in the same run: the consent view's numbers computed the way a view
   without rollups would, one GROUP BY over the event table for the same window. The ratio is
   what the rollups save; absolute figures drift with the load on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from cmp.adminkeys import generate_admin_key  # noqa: E402
from cmp.app_state import Services  # noqa: E402
from cmp.config import canonical_json, load_config  # noqa: E402
from cmp.ledger import GENESIS, StoredEvent, link_hash_json  # noqa: E402
from cmp.settings import Settings  # noqa: E402
from cmp.storage.sqlite import (
    SQLiteStorage,  # noqa: E402
    rollups,  # noqa: E402
)
from consentry.app import create_app  # noqa: E402

SITE = "shop"
SECRET = b"dashboard-bench-master-secret-" + b"b" * 32
REGIMES = [("gdpr", "DE", 0.55), ("us_optout", "US", 0.2), ("pipl", "CN", 0.15),
           ("lgpd", "BR", 0.10)]
LANGS = [("en", 0.6), ("de", 0.25), ("zh-CN", 0.15)]
ACTIONS = [("accept_all", 0.58), ("reject_all", 0.30), ("custom", 0.10), ("withdraw", 0.02)]
PURPOSES = ["necessary", "analytics", "marketing", "personalisation"]
CAMPAIGNS = 40
ENGAGEMENT = 200_000

CONFIG = """
[sites.shop]
name = "Bench Shop"
origins = ["https://shop.example"]
languages = ["en", "de", "zh-CN"]
admin_key_hashes = ["{admin_hash}"]

[sites.shop.texts]
title.en = "Privacy"
title.de = "Datenschutz"
title.zh-CN = "隐私"
description.en = "We use cookies."
description.de = "Wir verwenden Cookies."
description.zh-CN = "我们使用 Cookie。"
accept_all.en = "Accept all"
reject_all.en = "Reject all"
customise.en = "Customise"
save.en = "Save"
preferences.en = "Preferences"
close.en = "Close"

[sites.shop.purposes.necessary]
necessary = true
title.en = "Necessary"

[sites.shop.purposes.analytics]
title.en = "Analytics"

[sites.shop.purposes.marketing]
title.en = "Marketing"

[sites.shop.purposes.personalisation]
title.en = "Personalisation"

[sites.shop.regions]
default = "gdpr"

[sites.shop.email]
sender = "Shop <news@shop.example>"
base_url = "https://cmp.shop.example"
unsubscribe_mailto = "unsubscribe@shop.example"
tracking_text.en = "Measure opens and clicks."

[sites.shop.email.lists.news]
title.en = "News"
"""


def pick(rng: random.Random, table: list[tuple[str, float]]) -> str:
    return rng.choices([t[0] for t in table], weights=[t[1] for t in table])[0]


def payloads(texts_hash: str) -> dict[tuple[str, str, str, int], bytes]:
    """Canonical payload JSON per (regime, language, action, custom variant), built once."""
    out = {}
    for regime, country, _ in REGIMES:
        for lang, _ in LANGS:
            for action, _ in ACTIONS:
                for variant in range(4):
                    if action == "accept_all":
                        granted = dict.fromkeys(PURPOSES, True)
                    elif action == "custom":
                        granted = {p: (i == 0 or bool(variant >> (i - 1) & 1))
                                   for i, p in enumerate(PURPOSES)}
                    else:
                        granted = {p: p == "necessary" for p in PURPOSES}
                    out[(regime, lang, action, variant)] = canonical_json({
                        "regime": regime, "country": country, "subdivision": None,
                        "revision": 1, "texts_hash": texts_hash, "language": lang,
                        "action": action,
                        "choices": {"purposes": granted, "vendors": {}, "separate": {}},
                        "gpc": False, "ua_class": "desktop", "method": "banner",
                        "origin": "https://shop.example", "cmp": "consentry/bench",
                        "expires_at": "2030-01-01T00:00:00.000Z"})
    return out


def load(db_path: Path, n: int, seed: int = 7) -> tuple[str, list[str]]:
    """Bulk-load n consent events and the e-mail engagement; returns (a subject, campaigns)."""
    rng = random.Random(seed)
    cfg = load_config(db_path.parent / "bench.toml")
    site = cfg.sites[SITE]
    texts_hash = site.texts_hash("en")
    pl = payloads(texts_hash)
    parsed = {k: json.loads(v) for k, v in pl.items()}
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    db.execute("INSERT INTO notices (hash, site, revision, language, texts, first_ts) "
               "VALUES (?,?,?,?,?,?)", (texts_hash, SITE, 1, "en",
                                        canonical_json(site.texts_for("en")).decode(),
                                        "2024-01-01T00:00:00.000Z"))
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=365)
    span_ms = int((now - start).total_seconds() * 1000)
    # Timestamps ascend with seq, as the writer produces them.
    stamps = sorted(rng.randrange(span_ms) for _ in range(n))
    prev, seq = GENESIS, 0
    sample = ""
    batch: list[StoredEvent] = []
    rows: list[tuple[object, ...]] = []
    t0 = time.perf_counter()
    for ms in stamps:
        seq += 1
        ts = (start + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")
        ts = ts.replace("+00:00", "Z")
        regime = rng.choices([r[0] for r in REGIMES], weights=[r[2] for r in REGIMES])[0]
        key = (regime, pick(rng, LANGS), pick(rng, ACTIONS), rng.randrange(4))
        payload_json = pl[key]
        event_id = uuid.UUID(int=rng.getrandbits(128)).hex
        subject = f"c_{event_id[:22]}"
        personal = f'{{"ip":"203.0.113.0","salt":"{event_id[8:]}","subject":"{subject}"}}'
        digest = hashlib.sha256(personal.encode()).hexdigest()
        kind = "withdraw" if key[2] == "withdraw" else "grant"
        h = link_hash_json(SITE, seq, event_id, kind, ts, payload_json, digest, prev)
        rows.append((SITE, seq, event_id, subject, kind, ts, payload_json.decode(), personal,
                     digest, prev, h))
        batch.append(StoredEvent(SITE, seq, event_id, subject, kind, ts, parsed[key], None,
                                 digest, prev, h))
        prev = h
        if seq == n // 2:
            sample = subject
        if len(rows) == 20_000:
            _flush(db, rows, batch)
            rows, batch = [], []
    _flush(db, rows, batch)
    db.execute("INSERT INTO chain_heads (site, seq, hash) VALUES (?, ?, ?)", (SITE, seq, prev))
    print(f"  {n:,} consent events in {time.perf_counter() - t0:.0f} s", flush=True)

    t0 = time.perf_counter()
    classes = [("human", 0, 0.45), ("apple_mpp", 1, 0.35), ("gmail_proxy", 0, 0.1),
               ("bot", 1, 0.1)]
    campaigns = [f"campaign-{i:02d}" for i in range(CAMPAIGNS)]
    erows = []
    for i in range(ENGAGEMENT):
        c = rng.randrange(CAMPAIGNS)
        day0 = start + timedelta(days=9 * c)
        when = day0 + timedelta(seconds=rng.randrange(5 * 86400))
        r = rng.random()
        if r < 0.75:
            cls, machine, _ = rng.choices(classes, weights=[x[2] for x in classes])[0]
            kind, link, reason = "open", None, None
        elif r < 0.98:
            scanner = rng.random() < 0.3
            kind, cls, machine = "click", "scanner" if scanner else "human", int(scanner)
            link, reason = rng.randrange(3), "too_soon" if scanner else None
        else:
            kind, cls, machine, link, reason = "unsubscribe", "one_click", 0, None, None
        ts = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        erows.append((SITE, campaigns[c], f"m{c}-{i % 5000}", f"r_{i % 50_000:032d}", "news",
                      kind, link, cls, machine, reason, ts, int(when.timestamp() * 1000)))
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO email_engagement (site, campaign, message, recipient, list, kind, link, "
        "class, machine, reason, ts, ts_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", erows)
    rollups.apply_engagement(db, erows, [])
    db.execute("COMMIT")
    print(f"  {ENGAGEMENT:,} e-mail engagement rows in {time.perf_counter() - t0:.0f} s",
          flush=True)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("ANALYZE")
    db.close()
    return sample, campaigns


def _flush(db: sqlite3.Connection, rows: list[tuple[object, ...]],
           batch: list[StoredEvent]) -> None:
    if not rows:
        return
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO consent_events (site, seq, event_id, subject, kind, ts, payload, personal, "
        "personal_digest, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    rollups.apply_consent(db, batch)  # the writers' rollup code, same transaction
    db.execute("COMMIT")


def p(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


async def measure(svc: Services, key: str, subject: str, campaigns: list[str], n: int,
                  verify: bool) -> dict[str, list[float]]:
    app = create_app(svc)
    out: dict[str, list[float]] = {}
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://bench") as c:
            page = await c.get("/dashboard/login")
            token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            r = await c.post("/dashboard/login", data={"csrf": token, "password": key})
            assert r.status_code == 303, r.text
            views = {
                "consent, last 30 days": f"/dashboard/sites/{SITE}/consent?days=30",
                "consent, last 365 days": f"/dashboard/sites/{SITE}/consent?days=365",
                "e-mail, newest campaign": f"/dashboard/sites/{SITE}/email",
                "e-mail, one campaign": f"/dashboard/sites/{SITE}/email?campaign={campaigns[3]}",
                "ledger lookup (consent id)": f"/dashboard/sites/{SITE}/ledger?subject={subject}",
            }
            for name, url in views.items():
                r = await c.get(url)  # warm
                assert r.status_code == 200, (name, r.status_code)
                times = []
                for _ in range(n):
                    t0 = time.perf_counter()
                    r = await c.get(url)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200
                out[name] = times
            lp = await c.get(f"/dashboard/sites/{SITE}/ledger")
            csrf = re.search(r'name="csrf" value="([^"]+)"', lp.text).group(1)  # type: ignore[union-attr]
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                r = await c.post(f"/dashboard/sites/{SITE}/ledger/search",
                                 data={"csrf": csrf, "q": "someone@example.com"})
                r2 = await c.get(r.headers["location"])
                times.append((time.perf_counter() - t0) * 1000)
                assert r2.status_code == 200
            out["ledger lookup (e-mail address)"] = times
            if verify:
                t0 = time.perf_counter()
                r = await c.post(f"/dashboard/sites/{SITE}/ledger/verify", data={"csrf": csrf})
                out["verify whole chain (once)"] = [(time.perf_counter() - t0) * 1000]
                assert "Chain intact" in r.text, r.text[-2000:]
    return out


def baseline(db_path: Path, days: int, repeat: int = 3) -> list[float]:
    """The consent view's counts by a scan of the event table (what rollups replace)."""
    since = (datetime.now(UTC).date() - timedelta(days=days - 1)).isoformat()
    db = sqlite3.connect(db_path)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        db.execute(
            "SELECT substr(ts, 1, 10), json_extract(payload, '$.regime'), "
            "json_extract(payload, '$.language'), json_extract(payload, '$.action'), COUNT(*), "
            "SUM(json_extract(payload, '$.choices.purposes.analytics')) "
            "FROM consent_events WHERE site = ? AND ts >= ? GROUP BY 1, 2, 3, 4",
            (SITE, since)).fetchall()
        times.append((time.perf_counter() - t0) * 1000)
    db.close()
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--dir", type=Path, default=None, help="keep the database here")
    ap.add_argument("--verify", action="store_true", help="also time a whole-chain verify")
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="consentry-dash-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    key, key_hash = generate_admin_key()
    (work / "bench.toml").write_text(CONFIG.format(admin_hash=key_hash), "utf-8")
    db_path = work / "bench.db"
    for f in work.glob("bench.db*"):
        f.unlink()
    t_all = time.perf_counter()
    print(f"dashboard bench: {args.events:,} consent events, {args.requests} requests per view")

    async def migrate() -> None:
        st = SQLiteStorage(db_path)
        await st.open()
        await st.close()

    asyncio.run(migrate())
    subject, campaigns = load(db_path, args.events)
    cfg = load_config(work / "bench.toml")
    settings = Settings.load(work / "bench.toml", database=f"sqlite:///{db_path}",
                             secret_file=str(work / "secret"), public_url="https://cmp.example")
    svc = Services.build(cfg, settings, master_secret=SECRET)
    results = asyncio.run(measure(svc, key, subject, campaigns, args.requests, args.verify))
    base30, base365 = baseline(db_path, 30), baseline(db_path, 365)

    print(f"\n{'view':36} {'p50 ms':>8} {'p95 ms':>8}   target p95 < 300 ms")
    for name, times in results.items():
        ok = "" if "verify" in name else ("ok" if p(times, 0.95) < 300 else "SLOW")
        print(f"{name:36} {statistics.median(times):8.1f} {p(times, 0.95):8.1f}   {ok}")
    c30 = statistics.median(results["consent, last 30 days"])
    c365 = statistics.median(results["consent, last 365 days"])
    print("\nbaseline (same run): the consent counts by scanning consent_events")
    print(f"  30 days: {statistics.median(base30):8.1f} ms scan vs {c30:.1f} ms whole view "
          f"({statistics.median(base30) / c30:.1f}x)")
    print(f"  365 days: {statistics.median(base365):7.1f} ms scan vs {c365:.1f} ms whole view "
          f"({statistics.median(base365) / c365:.1f}x)")
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s; database {db_path} "
          f"({db_path.stat().st_size / 1e6:.0f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
