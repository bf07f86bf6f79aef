"""`GET /v1/sites/{site}/may-contact` against a bare Starlette JSON GET route, same run.

    python bench/may_contact.py [--people 10000] [--backends sqlite,postgresql] [--duration 10]
                                [--rounds 3] [--warmup 1] [--threads 2] [--connections 64]
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

The bare route (bench/beacon.py's baseline app, the same Lua, the same paths) and each
Consentry server stay up together and are loaded one after another in --rounds rounds (the
order turned each round); a ratio is to the bare route's run of the same round, and the
median over the rounds is reported: on a machine shared with other work, adjacent runs drift
alike. --compare puts another checkout's server (the commit before a change) in the same
rounds, on the same seeded database. Every server runs under uvicorn (uvloop, httptools, no
access log, one worker) on 127.0.0.1, started as a subprocess and stopped by its PID.
PostgreSQL: a fresh database per run on the server of --postgres, dropped afterwards.
Target: ratio >= 0.5.
"""

from __future__ import annotations

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
from pathlib import Path
from statistics import median
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


def commit(tree: Path = REPO) -> str:
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True, cwd=tree).stdout.strip() or tree.name
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, cwd=tree).stdout.strip()
    return rev + ("+changes" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    p = load_parser(__doc__.split("\n\n")[0])
    p.add_argument("--people", type=int, default=10_000, help="people seeded (10000)")
    p.add_argument("--rounds", type=int, default=3,
                   help="measured runs of each server, interleaved (3); ratios are per round, "
                        "against the bare route's run of the same round")
    p.add_argument("--backends", default="sqlite", help="sqlite, postgresql or both (sqlite)")
    p.add_argument("--postgres", default=os.environ.get(
        "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="an existing database on the server where the bench database is created")
    p.add_argument("--compare", type=Path, default=None, metavar="CHECKOUT",
                   help="also measure the server of another checkout (e.g. the commit before "
                        "a change) on the same seeded database, in the same rounds")
    p.add_argument("--profile", type=Path, default=None,
                   help="record this checkout's SQLite server with py-spy into this file (raw "
                        "format) during its warm-up, lengthened to --duration")
    args = p.parse_args(argv)
    require_wrk()
    from cmp.adminkeys import generate_admin_key

    failed = False
    tables: list[tuple[str, list[tuple[str, list[WrkResult], list[float]]]]] = []
    notes: list[str] = []
    url = f"/v1/sites/{SITE}/may-contact"
    with Servers() as servers:
        work = servers.workdir
        key, key_hash = generate_admin_key()
        config = work / "bench.toml"
        config.write_text(EMAIL_SITE + people_site(key_hash), "utf-8")
        secret_file = work / "consentry.secret"
        secret_file.write_text(secrets.token_hex(32), "utf-8")
        lua = may_contact_lua(work, key, args.people)
        port = free_port()
        bare = servers.start("baseline", baseline_command(port), port=port, ready_path="/gif")

        def once(base: str, seconds: float) -> WrkResult:
            return run_wrk(base + url, duration=seconds, threads=args.threads,
                           connections=args.connections, lua=lua)

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
                started = []
                for tree, rev in trees:
                    cport = free_port()
                    env = clean_env(CONSENTRY_DATABASE=database,
                                    CONSENTRY_SECRET_FILE=str(secret_file),
                                    CONSENTRY_PUBLIC_URL=f"http://127.0.0.1:{cport}",
                                    PYTHONPATH=str(tree))
                    argv_c = [sys.executable, "-m", "consentry", "serve", "--config",
                              str(config), "--host", "127.0.0.1", "--port", str(cport),
                              "--workers", "1"]
                    srv = servers.start(f"consentry-{backend}-{rev}", argv_c, port=cport,
                                        env=env, ready_path="/healthz")
                    started.append((rev, srv, check_answers(srv.base, key, args.people)))
                # Warm-up (and the profile, if asked): not measured.
                for i, (_rev, srv, _) in enumerate(started):
                    spy = None
                    if args.profile is not None and backend == "sqlite" and i == 0:
                        spy = subprocess.Popen(
                            ["py-spy", "record", "--nonblocking", "--format", "raw",
                             "--rate", "200", "--pid", str(srv.proc.pid), "--output",
                             str(args.profile), "--duration", str(round(args.duration))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    if spy is not None or args.warmup > 0:
                        once(srv.base, args.duration if spy else args.warmup)
                    if spy is not None:
                        spy.wait(60)
                if args.warmup > 0:
                    once(bare.base, args.warmup)
                # Rounds: the bare route and each server one after another, the order turned
                # each round, so drift from other load on the machine hits them alike.
                names = ["bare Starlette JSON GET (baseline)",
                         *(f"`GET /v1/sites/{{site}}/may-contact` ({backend}, {rev})"
                           for rev, _, _ in started)]
                bases = [bare.base, *(srv.base for _, srv, _ in started)]
                results: list[list[WrkResult]] = [[] for _ in bases]
                for rnd in range(args.rounds):
                    order = list(range(len(bases)))
                    order = order[rnd % len(order):] + order[:rnd % len(order)]
                    for j in order:
                        results[j].append(once(bases[j], args.duration))
                ratios = [[r.rps / b.rps for r, b in zip(results[j], results[0], strict=True)]
                          for j in range(len(bases))]
                tables.append((backend, list(zip(names, results, ratios, strict=True))))
                for j, (rev, srv, wrong) in enumerate(started, start=1):
                    wrong += check_answers(srv.base, key, args.people, sample=100)
                    servers.stop(srv)
                    bad = sum(x.non_2xx for x in results[j])
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

    print(f"# may-contact bench — {now_utc()}\n{machine()}\n"
          f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s --latency, "
          f"{args.rounds} interleaved rounds after a warm-up, 127.0.0.1; uvicorn "
          f"{' '.join(UVICORN_FAST)}; {args.people:,} people, each request another of "
          f"{span(args.people):,} numbers\n")
    print("| server | req/s (median) | ratio (median) | ratio per round | p50 (median) | "
          "p99 (median) | non-2xx |\n|---|---|---|---|---|---|---|")
    for _backend, rows in tables:
        for name, runs, ratios in rows:
            print(f"| {name} | {median([r.rps for r in runs]):,.0f} | "
                  f"**{median(ratios):.2f}** | {' '.join(f'{x:.2f}' for x in ratios)} | "
                  f"{fmt_ms(median([r.p50 for r in runs]))} | "
                  f"{fmt_ms(median([r.p99 for r in runs]))} | {sum(r.non_2xx for r in runs)} |")
    print("\nratio = req/s ÷ the bare route's req/s in the same round (target >= 0.5)")
    for n in notes:
        print(n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
