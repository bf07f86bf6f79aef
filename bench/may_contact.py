"""`GET /v1/sites/{site}/may-contact` against a bare Starlette JSON GET route, same run.

    python bench/may_contact.py [--people 10000] [--backends sqlite,postgresql] [--duration 10]
                                [--warmup 1] [--threads 2] [--connections 64]
                                [--postgres postgresql://postgres@127.0.0.1:5432/test]
                                [--compare OTHER_CHECKOUT] [--profile FILE]

may-contact is the call a sender makes before every message, so it is measured as a sender
uses it: an API key with the scope contact:read in the Authorization header, and each request
asks about another phone number (wrk's Lua builds the path per request) of N seeded people.
Before the load, N people are seeded through PeopleService (the code the people API runs):
each gets a linked phone number; a quarter never answered (no_consent), a quarter opted in to
the SMS list (allowed), a quarter opted in and then opted out of SMS (opted_out), a quarter
opted in to every SMS list (allowed); one number in eleven asked about was never seeded
(unknown). Afterwards a sample of answers must match what was seeded, and wrk must have seen
no non-2xx answer (a refused key would be a 401). Exit 1 if not.

The bare route (bench/beacon.py's baseline app, the same Lua, the same paths) is measured
before and after the Consentry runs; ratios are to the mean of the two. Every server runs
under uvicorn (uvloop, httptools, no access log, one worker) on 127.0.0.1, started as a
subprocess and stopped by its PID. PostgreSQL: a fresh database per run on the server of
--postgres, dropped afterwards. Target: ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# bench/pixel.py would shadow the `pixel` package (as in run.py): the checkout first, bench last.
BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
sys.path.insert(0, str(REPO))
sys.path.append(str(BENCH))
sys.modules.pop("pixel", None)

from _harness import (  # noqa: E402
    EMAIL_SITE,
    UVICORN_FAST,
    Servers,
    WrkResult,
    clean_env,
    create_pg_database,
    drop_pg_database,
    fmt_ms,
    free_port,
    load_parser,
    machine,
    now_utc,
    require_wrk,
    run_wrk,
)
from beacon import baseline_command  # noqa: E402

SITE = "bench"
LIST = "promotions"
# Seeded person i answers like this (i % 4); numbers past the seeded ones are unknown.
EXPECTED = ("no_consent", "allowed", "opted_out", "allowed")


def people_site(key_hash: str) -> str:
    """What bench/_harness.py's EMAIL_SITE needs besides for may-contact: an SMS list and a
    sender's key that may only ask may-contact."""
    return f"""
[[sites.{SITE}.api_keys]]
name = "sender"
hash = "{key_hash}"
scopes = ["contact:read"]

[sites.{SITE}.channels.sms.lists.{LIST}]
title.en = "Promotions by SMS"
"""


def phone(i: int) -> str:
    return f"+86139{i:08d}"


def expected(i: int, people: int) -> str:
    return EXPECTED[i % 4] if i < people else "unknown"


def span(people: int) -> int:
    """How many numbers the load asks about: the seeded ones and a tenth more never seen."""
    return people + people // 10


def seed_people(config: Path, database: str, secret_file: Path, people: int,
                concurrency: int = 200) -> tuple[int, float]:
    """Seed `people` members through PeopleService; (ledger events written, seconds)."""
    from cmp.app_state import Services, open_checked
    from cmp.config import load_config
    from cmp.people import parse_link, parse_person_event
    from cmp.settings import Settings

    settings = Settings.load(config, database=database, secret_file=str(secret_file))
    svc = Services.build(load_config(config), settings)

    def sms(allowed: bool, list_id: str, method: str) -> Any:
        return parse_person_event({"method": method, "channels": [
            {"channel": "sms", "list": list_id, "allowed": allowed}]})

    async def one(i: int) -> int:
        ref = f"M-{i}"
        _, link = await svc.people.link(SITE, ref, parse_link({"phone": [phone(i)],
                                                               "method": "signup_form"}))
        n = 1 if link else 0
        kind = i % 4
        if kind in (1, 2):
            await svc.people.record(SITE, ref, sms(True, LIST, "signup_form"))
            n += 1
        if kind == 2:
            await svc.people.record(SITE, ref, sms(False, "*", "sms_reply"))
            n += 1
        if kind == 3:
            await svc.people.record(SITE, ref, sms(True, "*", "app_settings"))
            n += 1
        return n

    async def run() -> int:
        await open_checked(svc.storage, database)
        written = 0
        try:
            # Concurrent people share the writer's group commits.
            for start in range(0, people, concurrency):
                done = await asyncio.gather(*(one(i) for i in range(
                    start, min(people, start + concurrency))))
                written += sum(done)
        finally:
            await svc.storage.close_engagement()
            await svc.storage.close_beacon()
            await svc.storage.close()
            await svc.windows.close()
            svc.policy.close()
        return written

    t0 = time.monotonic()
    written = asyncio.run(run())
    return written, time.monotonic() - t0


def may_contact_lua(directory: Path, key: str, people: int) -> Path:
    """Each request asks about a random number of the span (seeded per wrk thread)."""
    path = (f"/v1/sites/{SITE}/may-contact?channel=sms&to=%%2B86139%08d&list={LIST}")
    script = directory / "may_contact.lua"
    script.write_text(f"""wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer {key}"
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  math.randomseed(os.time() * 31 + (tid or 0))
end
request = function()
  return wrk.format(nil, string.format("{path}", math.random(0, {span(people) - 1})))
end
""", "utf-8")
    return script


def ask(base: str, key: str, i: int) -> dict[str, Any]:
    q = urllib.parse.urlencode({"channel": "sms", "to": phone(i), "list": LIST})
    req = urllib.request.Request(f"{base}/v1/sites/{SITE}/may-contact?{q}",
                                 headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return dict(json.load(r))


def check_answers(base: str, key: str, people: int, sample: int = 400) -> list[str]:
    """Mismatches between the server's answers and what was seeded, over a random sample that
    always holds each kind and an unknown number."""
    rng = random.Random(13)
    picks = sorted({0, 1, 2, 3, people, span(people) - 1,
                    *(rng.randrange(span(people)) for _ in range(sample))})
    wrong = []
    for i in picks:
        got = ask(base, key, i)
        want = expected(i, people)
        if got.get("reason") != want or got.get("allowed") != (want == "allowed"):
            wrong.append(f"{phone(i)}: expected {want}, got {got}")
    return wrong


@dataclass
class Row:
    label: str
    result: WrkResult


def load(url: str, lua: Path, args: argparse.Namespace) -> list[WrkResult]:
    runs = []
    if args.warmup > 0:
        runs.append(run_wrk(url, duration=args.warmup, threads=args.threads,
                            connections=args.connections, lua=lua))
    runs.append(run_wrk(url, duration=args.duration, threads=args.threads,
                        connections=args.connections, lua=lua))
    return runs


def commit(tree: Path = REPO) -> str:
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True, cwd=tree).stdout.strip() or tree.name
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, cwd=tree).stdout.strip()
    return rev + ("+changes" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    p = load_parser(__doc__.split("\n\n")[0])
    p.add_argument("--people", type=int, default=10_000, help="people seeded (10000)")
    p.add_argument("--backends", default="sqlite", help="sqlite, postgresql or both (sqlite)")
    p.add_argument("--postgres", default=os.environ.get(
        "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="an existing database on the server where the bench database is created")
    p.add_argument("--compare", type=Path, default=None, metavar="CHECKOUT",
                   help="also measure the server of another checkout (e.g. the commit before "
                        "a change) on the same seeded database, right after this one's")
    p.add_argument("--profile", type=Path, default=None,
                   help="also record the SQLite server with py-spy into this file (raw "
                        "format); py-spy takes CPU from the server: not a run to quote")
    args = p.parse_args(argv)
    require_wrk()
    from cmp.adminkeys import generate_admin_key

    failed = False
    rows: list[Row] = []
    notes: list[str] = []
    with Servers() as servers:
        work = servers.workdir
        key, key_hash = generate_admin_key()
        config = work / "bench.toml"
        config.write_text(EMAIL_SITE + people_site(key_hash), "utf-8")
        secret_file = work / "consentry.secret"
        secret_file.write_text(secrets.token_hex(32), "utf-8")
        lua = may_contact_lua(work, key, args.people)

        def baseline() -> WrkResult:
            port = free_port()
            srv = servers.start("baseline", baseline_command(port), port=port, ready_path="/gif")
            r = load(srv.base + f"/v1/sites/{SITE}/may-contact", lua, args)[-1]
            servers.stop(srv)
            return r

        before = baseline()
        for backend in args.backends.split(","):
            database = (f"sqlite:///{work / 'bench.db'}" if backend == "sqlite"
                        else create_pg_database(args.postgres))
            try:
                written, took = seed_people(config, database, secret_file, args.people)
                notes.append(f"{backend}: seeded {args.people:,} people ({written:,} ledger "
                             f"events) through PeopleService in {took:.1f} s")
                trees = [(REPO, commit(REPO))]
                if args.compare is not None:
                    trees.append((args.compare.resolve(), commit(args.compare)))
                for tree, rev in trees:
                    port = free_port()
                    env = clean_env(CONSENTRY_DATABASE=database,
                                    CONSENTRY_SECRET_FILE=str(secret_file),
                                    CONSENTRY_PUBLIC_URL=f"http://127.0.0.1:{port}",
                                    PYTHONPATH=str(tree))
                    argv_c = [sys.executable, "-m", "consentry", "serve", "--config",
                              str(config), "--host", "127.0.0.1", "--port", str(port),
                              "--workers", "1"]
                    srv = servers.start(f"consentry-{backend}-{rev}", argv_c, port=port,
                                        env=env, ready_path="/healthz")
                    wrong = check_answers(srv.base, key, args.people)
                    spy = None
                    if args.profile is not None and backend == "sqlite" and tree == REPO:
                        spy = subprocess.Popen(
                            ["py-spy", "record", "--nonblocking", "--format", "raw", "--rate", "200",
                             "--pid",
                             str(srv.proc.pid), "--output", str(args.profile), "--duration",
                             str(round(args.warmup + args.duration))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    runs = load(srv.base + f"/v1/sites/{SITE}/may-contact", lua, args)
                    if spy is not None:
                        spy.wait(60)
                    wrong += check_answers(srv.base, key, args.people, sample=100)
                    servers.stop(srv)
                    rows.append(Row(f"`GET /v1/sites/{{site}}/may-contact` ({backend}, {rev})",
                                    runs[-1]))
                    bad = sum(x.non_2xx for x in runs)
                    if wrong or bad:
                        failed = True
                        notes.append(f"{backend} {rev}: FAIL: {bad} non-2xx answers under load; "
                                     f"{len(wrong)} wrong answers" + "".join(
                                         f"\n  {w}" for w in wrong[:10]))
                    else:
                        notes.append(f"{backend} {rev}: answers OK (a sample of ~500 numbers "
                                     "matches what was seeded: allowed, no_consent, opted_out, "
                                     "unknown; 0 non-2xx under load)")
            finally:
                if backend != "sqlite":
                    drop_pg_database(args.postgres, database)
        after = baseline()

    base_rps = (before.rps + after.rps) / 2
    print(f"# may-contact bench — {now_utc()}\n{machine()}\n"
          f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s --latency after "
          f"{args.warmup:g} s warm-up, 127.0.0.1; uvicorn {' '.join(UVICORN_FAST)}; "
          f"{args.people:,} people, each request another of {span(args.people):,} numbers\n")
    print("| server | req/s | ratio | p50 | p99 | non-2xx |\n|---|---|---|---|---|---|")
    for label, r in (("bare Starlette JSON GET (baseline, before)", before),
                     ("bare Starlette JSON GET (baseline, after)", after)):
        print(f"| {label} | {r.rps:,.0f} | {r.rps / base_rps:.2f} | {fmt_ms(r.p50)} | "
              f"{fmt_ms(r.p99)} | {r.non_2xx} |")
    for row in rows:
        r = row.result
        print(f"| {row.label} | {r.rps:,.0f} | **{r.rps / base_rps:.2f}** | {fmt_ms(r.p50)} | "
              f"{fmt_ms(r.p99)} | {r.non_2xx} |")
    print("\nratio = req/s ÷ the mean of the two baseline runs (target >= 0.5)")
    for n in notes:
        print(n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
