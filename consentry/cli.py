"""The `consentry` command: serve, demo, check, init, ledger verify, export, erase, purge, email
(prepare, import), keys (new, secrets), people (show, export, erase), assessments (verify), requests (list)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import secrets
import socket
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import cmp
from cmp.adminkeys import generate_admin_key
from cmp.config import Config, ConfigError, demo_config_path, load_config
from cmp.settings import SETTINGS, Settings

DEFAULT_CONFIG = "consentry.toml"
DEMO_OPERATOR = "agent"  # the demo's customer-service login (consentry.server adds it)


def _config_path(args: argparse.Namespace) -> str:
    return str(args.config or os.environ.get("CONSENTRY_CONFIG") or DEFAULT_CONFIG)


def _load(args: argparse.Namespace) -> tuple[Config, Settings]:
    path = _config_path(args)
    config = load_config(path)
    settings = Settings.load(path, database=getattr(args, "database", None))
    return config, settings


# --- serve / demo -----------------------------------------------------------------------------

class CliError(Exception):
    """A person's mistake the command explains in one line (exit status 1)."""


def _start(host: str, port: int, workers: int, banner: Callable[[], str]) -> int:
    """Serve, printing `banner()` only once serving can work.

    Everything a worker does at startup is done once here first (config, secret, database
    reachable and migrated) and the port is bound here: a mistake is one line and exit 1, and
    nothing is printed as if it had worked."""
    from consentry.server import app_from_env

    app = app_from_env()  # the very app a worker builds, from the same environment

    async def startup_and_shutdown(app: Any) -> None:
        async with app.router.lifespan_context(app):
            pass

    asyncio.run(startup_and_shutdown(app))
    # The checking app is done with: drop it before the serving one is built, or its objects
    # stay in the worker's heap for good (measured: consent POST 0.15 instead of 0.17 of a bare
    # route in bench/consent.py).
    del app
    gc.collect()
    sock = _listen(host, port)
    print(banner(), flush=True)
    _run_uvicorn(sock, workers)
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound as uvicorn would bind it (and handed to it)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CliError(f"--port: cannot listen on {host}:{port}: "
                       f"{exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def _run_uvicorn(sock: socket.socket, workers: int) -> None:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    # Workers re-create the app from the environment (consentry.server), so config and secrets
    # are shared by file/environment, never by memory.
    config = uvicorn.Config("consentry.server:worker_app", factory=True, workers=workers,
                            loop="uvloop", http="httptools", access_log=False,
                            log_level="warning",
                            # Client IPs come from the `client_ip_header` setting, not uvicorn's guess.
                            proxy_headers=False)
    server = uvicorn.Server(config)
    try:
        if workers > 1:
            Multiprocess(config, sockets=[sock]).run()
        else:
            server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass


def cmd_serve(args: argparse.Namespace) -> int:
    config, settings = _load(args)  # fail here, with key names, not inside a worker
    del config, settings
    os.environ["CONSENTRY_CONFIG"] = str(Path(_config_path(args)).resolve())
    if args.database:
        os.environ["CONSENTRY_DATABASE"] = args.database
    return _start(args.host, args.port, args.workers,
                  lambda: f"Consentry serving on http://{args.host}:{args.port} "
                          f"({args.workers} worker(s))")


def cmd_demo(args: argparse.Namespace) -> int:
    data = Path(args.dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    key, key_hash = generate_admin_key()
    # A customer-service login for the people view, new each run like the admin key.
    from dashboards.passwords import hash_password

    operator_password = secrets.token_urlsafe(12)
    base = f"http://{args.host}:{args.port}"
    os.environ.update({
        "CONSENTRY_CONFIG": str(demo_config_path()),
        "CONSENTRY_DATABASE": f"sqlite:///{data / 'consentry.db'}",
        "CONSENTRY_SECRET_FILE": str(data / "consentry.secret"),
        "CONSENTRY_PUBLIC_URL": base,
        "CONSENTRY_DEMO": "1",
        # Checkpoints every minute, so the demo shows a signed tree head soon after a consent.
        "CONSENTRY_CHECKPOINT_INTERVAL_MINUTES": os.environ.get(
            "CONSENTRY_CHECKPOINT_INTERVAL_MINUTES", "1"),
        "CONSENTRY_DEMO_ADMIN_HASH": key_hash,
        "CONSENTRY_DEMO_OPERATOR_HASH": f"{DEMO_OPERATOR}:{hash_password(operator_password)}",
        "CONSENTRY_DEMO_ORIGINS": " ".join([base, base.replace("127.0.0.1", "localhost"),
                                            *args.origin]),
    })
    # The page's ?region= links set these headers (consentry.demo.DemoRegion); a header the
    # person configured themselves is kept.
    os.environ.setdefault("CONSENTRY_COUNTRY_HEADER", "X-Demo-Country")
    os.environ.setdefault("CONSENTRY_SUBDIVISION_HEADER", "X-Demo-Subdivision")

    def banner() -> str:
        from cmp.app_state import Services
        from consentry.demo import MEMBER, MEMBER_PHONE, SAMPLE_TO, write_sample_email

        path = demo_config_path()
        svc = Services.build(load_config(path), Settings.load(path))
        sample = asyncio.run(write_sample_email(svc, data, base))
        return f"""Consentry demo (site "demo", data in {data})
  demo page       {base}/
  try a regime    {base}/?region=DE  ·  ?region=US-CA  ·  ?region=CN
  tag gate page   {base}/demo/tags
  signed in       {base}/demo/member?ref=M-1001   (two browsers: the choice follows the member)
  in-context ask  {base}/demo/inquiry   (reply to an overseas buyer; cloud exhibition camera)
  request page    {base}/p/demo/request   (a privacy request: a case with a due date in working days)
  what ran        {base}/demo/hits
  dashboard       {base}/dashboard/   (log in with the admin key)
  config API      {base}/v1/sites/demo/config
  OpenAPI         {base}/openapi.json
  checkpoints     {base}/v1/sites/demo/checkpoints/latest   (signed tree head, each minute)
  admin key       {key}   (valid while this demo runs)
  operator login  name {DEMO_OPERATOR}, password {operator_password}   (customer service: {base}/dashboard/sites/demo/people)
  sample e-mail   {sample.eml}   (HTML: {sample.html.name})
    open pixel    {sample.pixel}
    click         {sample.click}
    unsubscribe   {sample.unsubscribe}
  demo member     {MEMBER} (e-mail {SAMPLE_TO}, phone {MEMBER_PHONE}, SMS opt-in at sign-up)
  try             curl -H 'Authorization: Bearer {key}' {base}/v1/sites/demo/ledger/verify
    person        curl -H 'Authorization: Bearer {key}' {base}/v1/sites/demo/people/{MEMBER}
    may-contact   curl -H 'Authorization: Bearer {key}' '{base}/v1/sites/demo/may-contact?channel=sms&to={quote(MEMBER_PHONE)}'
Press Ctrl+C to stop."""

    return _start(args.host, args.port, 1, banner)


# --- check / init -----------------------------------------------------------------------------

def cmd_check(args: argparse.Namespace) -> int:
    from cmp.lint import lint

    path = _config_path(args)
    try:
        config = load_config(path)
        settings = Settings.load(path)
    except ConfigError as exc:
        for line in exc.problems:
            print(line)
        return 1
    problems = lint(config, settings)
    for line in problems:
        print(line)
    if problems:
        return 1
    print(f"{path}: ok ({len(config.sites)} site(s))")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    target = Path(args.dir) / DEFAULT_CONFIG
    if target.exists() and not args.force:
        print(f"{target} exists; use --force to overwrite", file=sys.stderr)
        return 1
    starter = (Path(cmp.__file__).parent / "data" / "starter.toml").read_text("utf-8")
    key, key_hash = generate_admin_key()
    if "PLACEHOLDER_HASH" in starter:
        starter = starter.replace("PLACEHOLDER_HASH", key_hash)
    else:
        # sha256 of the empty key stands in for the hash in the starter file
        from cmp.adminkeys import hash_admin_key
        starter = starter.replace(hash_admin_key(""), key_hash)
    # The example assessment is dated today, so the new config checks clean (cmp.lint).
    today = datetime.now(UTC).date()
    starter = starter.replace("date = 2026-11-20", f"date = {today}").replace(
        "review_by = 2027-11-20", f"review_by = {today + timedelta(days=365)}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(starter, "utf-8")
    print(f"wrote {target}\nadmin key for site 'example' (shown once, only its hash is stored):\n  {key}")
    return 0


# --- ledger and data-subject operations -------------------------------------------------------

def _with_services(args: argparse.Namespace,
                   work: Callable[[Any], Awaitable[int]]) -> int:
    from cmp.app_state import Services, open_checked

    config, settings = _load(args)
    svc = Services.build(config, settings)

    async def run() -> int:
        await open_checked(svc.storage, settings.database)
        try:
            return await work(svc)
        finally:
            await svc.storage.close()
            svc.policy.close()

    return asyncio.run(run())


def cmd_ledger_verify(args: argparse.Namespace) -> int:
    if args.checkpoint:
        return _verify_checkpoints(args)

    async def work(svc: Any) -> int:
        await _refuse_no_ledger(svc.storage, args.site, svc.settings.database)
        reports = await svc.consent.verify(args.site)
        for r in reports:
            print(r.line())
        return 0 if all(r.ok for r in reports) else 1

    without_config = args.config is None and args.database and not Path(DEFAULT_CONFIG).exists()
    settings = Settings.load(None, database=args.database) if without_config else _load(args)[1]
    if settings.database.startswith("sqlite:///"):
        # Opening would create an empty database (and verify it): a mistyped path is an error.
        db = Path(settings.database.removeprefix("sqlite:///"))
        if not db.is_file():
            raise CliError(f"no ledger: {db} does not exist")
    if without_config:
        return _verify_without_config(args)
    return _with_services(args, work)


def _verify_checkpoints(args: argparse.Namespace) -> int:
    """`ledger verify --checkpoint FILE…`: the chain, and the history up to each checkpoint."""
    from cmp.checkpoints import check_checkpoints, load_checkpoint_file

    docs: list[Any] = []
    for name in args.checkpoint:
        try:
            docs += load_checkpoint_file(Path(name).read_text("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            print(f"--checkpoint: cannot read {name}: {exc}", file=sys.stderr)
            return 1
    if args.config is None and not os.environ.get("CONSENTRY_CONFIG") \
            and not Path(DEFAULT_CONFIG).exists():
        # The signatures are checked with each site's receipt key, derived from the secret.
        print("--checkpoint: needs --config (the sites' keys check the signatures)",
              file=sys.stderr)
        return 1

    async def work(svc: Any) -> int:
        if args.site:
            kept = [d for d in docs if isinstance(d, dict)
                    and d.get("checkpoint", {}).get("site") == args.site]
        else:
            kept = docs
        lines, ok = await check_checkpoints(svc.storage, svc.keyring, kept)
        for line in lines:
            print(line)
        if not kept:
            print("no checkpoints to check")
            return 1
        return 0 if ok else 1

    return _with_services(args, work)


def cmd_ledger_checkpoint(args: argparse.Namespace) -> int:
    """Sign and store a tree head per site; print it (or write it to --out) for a witness."""
    from cmp.checkpoints import export_checkpoint

    async def work(svc: Any) -> int:
        sites = [args.site] if args.site else await svc.storage.sites()
        if not sites:
            print("no events: nothing to checkpoint", file=sys.stderr)
            return 1
        docs = []
        for site in sites:
            svc.consent.site(site)  # a site the config does not know: one-line error
            doc, new = await svc.checkpoints.make(site)
            docs.append(doc)
            if new:
                for problem in await export_checkpoint(doc, svc.settings.checkpoint_dir,
                                                       svc.settings.checkpoint_webhook):
                    print(problem, file=sys.stderr)
            head = doc["checkpoint"]
            print(f"{site}: checkpoint of {head['tree_size']} events, root {head['root_hash']}"
                  f"{'' if new else ' (already stored)'}", file=sys.stderr if not args.out
                  else sys.stdout)
        text = json.dumps(docs[0] if len(docs) == 1 else docs, indent=2) + "\n"
        if args.out:
            try:
                Path(args.out).write_text(text, "utf-8")
            except OSError as exc:
                print(f"--out: cannot write {args.out}: {exc}", file=sys.stderr)
                return 1
            print(f"wrote {args.out}: keep a copy outside this database")
        else:
            sys.stdout.write(text)
        return 0

    return _with_services(args, work)


async def _refuse_no_ledger(storage: Any, site: str | None, url: str) -> None:
    """Nothing to verify is not "ok": it is the wrong database, or the wrong site."""
    from cmp.app_state import redact_url

    sites = await storage.sites()
    if site is not None and site not in sites:
        raise CliError(f"--site: no ledger for site {site!r} in {redact_url(url)}")
    if not sites:
        raise CliError(f"no ledger in {redact_url(url)}: not one consent event "
                       f"(the wrong --database, or the wrong config?)")


def _verify_without_config(args: argparse.Namespace) -> int:
    """Verification needs no keys and no config: only the database."""
    from cmp.app_state import open_checked, storage_for
    from cmp.ledger import verify_site

    # CONSENTRY_* storage settings still apply (e.g. pg_statement_cache_size behind pgbouncer)
    settings = Settings.load(None, database=args.database)
    storage = storage_for(settings)

    async def run() -> int:
        await open_checked(storage, settings.database)
        try:
            await _refuse_no_ledger(storage, args.site, settings.database)
            sites = [args.site] if args.site else await storage.sites()
            ok = True
            for s in sites:
                r = await verify_site(storage, s)
                print(r.line())
                ok &= r.ok
            return 0 if ok else 1
        finally:
            await storage.close()

    return asyncio.run(run())


def cmd_export(args: argparse.Namespace) -> int:
    async def work(svc: Any) -> int:
        doc = await svc.consent.export(args.site, args.subject)
        if doc is None:
            print(f"no events for subject {args.subject!r} on site {args.site!r}", file=sys.stderr)
            return 1
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return 0

    return _with_services(args, work)


def _confirm(question: str) -> bool:
    """A person's y/N at a terminal. Without one (a pipe, cron) there is nobody to ask, and a
    "y" that happens to be in the input must not stand for them: --yes says it explicitly."""
    if not sys.stdin.isatty():
        raise CliError("standard input is not a terminal: add --yes to erase without asking")
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)  # stdout stays data
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def cmd_erase(args: argparse.Namespace) -> int:
    async def work(svc: Any) -> int:
        if not args.yes and not _confirm(
                f"Anonymise every event of subject {args.subject} on site {args.site}? "
                f"This cannot be undone."):
            print("not erased", file=sys.stderr)
            return 1
        n = await svc.consent.erase(args.site, args.subject)
        if n == 0:
            print(f"no events for subject {args.subject!r} on site {args.site!r}", file=sys.stderr)
            return 1
        print(f"anonymised {n} event(s) of {args.subject}; the chain still verifies")
        return 0

    return _with_services(args, work)


def cmd_purge(args: argparse.Namespace) -> int:
    async def work(svc: Any) -> int:
        for site, counts in (await svc.consent.purge()).items():
            print(f"{site}: {counts['expired']} consent(s) expired, "
                  f"{counts['anonymised']} ledger event(s) past retention anonymised, "
                  f"{counts['activity_deleted']} beacon/e-mail event(s) past retention deleted")
        for site, closed in (await svc.people.close_accounts()).items():
            if closed["anonymised"]:
                print(f"{site}: {closed['anonymised']} event(s) of closed accounts anonymised "
                      f"(retention after closure), {closed['people_erased']} person(s) erased")
        return 0

    return _with_services(args, work)


# --- parser -----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="consentry", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def with_config(sp: argparse.ArgumentParser, database: bool = True) -> None:
        sp.add_argument("--config", help=f"config file (default ${{CONSENTRY_CONFIG}} or {DEFAULT_CONFIG})")
        if database:
            sp.add_argument("--database", help="sqlite:///path or postgresql://…")

    s = sub.add_parser("serve", help="serve the API, banner and beacons")
    with_config(s)
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    s.add_argument("--workers", type=int, default=1,
                   help="worker processes sharing the port (default 1)")
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("demo", help="serve the demo site on a local SQLite file")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    s.add_argument("--dir", default="consentry-demo", help="where the demo keeps its data")
    s.add_argument("--origin", action="append", default=[],
                   help="another origin to trust, e.g. when reaching the demo by a host name")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("check", help="validate and lint a config; exit 1 on problems")
    with_config(s, database=False)
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("init", help="write a commented starter config")
    s.add_argument("dir", nargs="?", default=".",
                   help=f"folder to write {DEFAULT_CONFIG} into (default: the current one)")
    s.add_argument("--force", action="store_true",
                   help="overwrite an existing config (its admin key stops working)")
    s.set_defaults(func=cmd_init)

    s = sub.add_parser("ledger", help="ledger operations")
    lsub = s.add_subparsers(dest="ledger_command", required=True)
    v = lsub.add_parser("verify", help="verify each site's hash chain; exit 1 at a broken link")
    with_config(v)
    v.add_argument("--site", help="verify only this site (default: every site in the database)")
    v.add_argument("--checkpoint", nargs="+", metavar="FILE",
                   help="also prove the history up to each checkpoint in FILE is unchanged")
    v.set_defaults(func=cmd_ledger_verify)
    c = lsub.add_parser("checkpoint", help="sign and store a tree head of each site's ledger "
                                           "(a checkpoint for witnesses)")
    with_config(c)
    c.add_argument("--site", help="only this site")
    c.add_argument("--out", metavar="FILE", help="write the checkpoint(s) to FILE "
                                                 "(default: standard output)")
    c.set_defaults(func=cmd_ledger_checkpoint)

    for name, func, helptext in (("export", cmd_export, "print a subject's records as JSON"),
                                 ("erase", cmd_erase, "anonymise a subject's records")):
        s = sub.add_parser(name, help=helptext)
        with_config(s)
        s.add_argument("--site", required=True, help="the site (a key of [sites] in the config)")
        s.add_argument("--subject", required=True,
                       help="the subject id: a consent id (c_…) or an e-mail recipient id (r_…)")
        if name == "erase":
            s.add_argument("--yes", action="store_true",
                           help="do not ask for confirmation (needed without a terminal)")
        s.set_defaults(func=func)

    s = sub.add_parser("purge", help="expire lapsed consents, anonymise events past retention")
    with_config(s)
    s.set_defaults(func=cmd_purge)

    from pixel.email.cli import add_email_parser  # e-mail subcommands live with the e-mail code

    add_email_parser(sub, with_config, _with_services)
    from consentry.cli_people import add_people_parser

    add_people_parser(sub, with_config, _with_services)
    from consentry.cli_requests import add_requests_parser

    add_requests_parser(sub, with_config, _with_services)
    from consentry.cli_assessments import add_assessments_parser

    add_assessments_parser(sub, with_config)
    return p


def main(argv: list[str] | None = None) -> int:
    from cmp.errors import DomainError

    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 1
    except DomainError as exc:  # e.g. `export --site` naming a site the config does not have
        print(f"--{exc.field}: {exc.message}", file=sys.stderr)
        return 1
    except CliError as exc:
        print(exc, file=sys.stderr)
        return 1
    return code


def settings_names() -> list[str]:
    return [s.name for s in SETTINGS]


if __name__ == "__main__":
    sys.exit(main())
