"""`consentry email prepare` and `consentry email import` (wired into consentry.cli)."""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cmp.errors import FieldError
from cmp.ledger import iso, utc_now
from pixel.email.recipients import AddressError

Runner = Callable[[argparse.Namespace, Callable[[Any], Awaitable[int]]], int]

TRUE = {"1", "true", "yes", "y", "on"}
FALSE = {"0", "false", "no", "n", "off", ""}


class Unreadable(Exception):
    """An input file the command cannot use; one line for the person who named it."""


def read_input(option: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise Unreadable(f"{option}: no such file: {path}") from None
    except IsADirectoryError:
        raise Unreadable(f"{option}: {path} is a folder, not a file") from None
    except OSError as exc:
        raise Unreadable(f"{option}: cannot read {path}: {exc.strerror or exc}") from None


def decode_utf8(option: str, path: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"{option}: {path} is not UTF-8 text (byte {exc.start})") from None


def cmd_prepare(args: argparse.Namespace, with_services: Runner) -> int:
    from pixel.email.prepare import DkimKey
    from pixel.email.service import EmailService

    # Every input is read and checked before anything is recorded: a send is counted when the
    # message is prepared, so a failure after that would leave a phantom send behind.
    try:
        html = decode_utf8("--html", args.html, read_input("--html", args.html))
        key = None
        if args.dkim_key:
            if not (args.dkim_selector and args.dkim_domain):
                print("--dkim-key needs --dkim-selector and --dkim-domain", file=sys.stderr)
                return 2
            try:
                key = DkimKey(args.dkim_selector, args.dkim_domain,
                              read_input("--dkim-key", args.dkim_key))
            except FieldError as exc:
                raise Unreadable(f"--dkim-key: {args.dkim_key}: {exc.message}") from None
        if args.out:
            folder = Path(args.out).parent
            if not folder.is_dir():
                raise Unreadable(f"--out: no such folder: {folder}")
            if Path(args.out).is_dir():
                raise Unreadable(f"--out: {args.out} is a folder, not a file")
    except Unreadable as exc:
        print(exc, file=sys.stderr)
        return 1

    async def work(svc: Any) -> int:
        email = EmailService.build(svc)
        try:
            prep = await email.preparer.prepare(args.site, campaign=args.campaign,
                                                list_id=args.list, to=args.to, html_body=html)
            _, cfg = email.consents.site(args.site)
        except FieldError as exc:
            print(f"{exc.field}: {exc.message}", file=sys.stderr)
            return 1
        raw = prep.message(to=args.to, sender=args.sender or cfg.sender, subject=args.subject,
                           dkim_key=key)
        if args.out:
            Path(args.out).write_bytes(raw)
            print(f"wrote {args.out} (recipient {prep.recipient}, tracked={prep.tracked}, "
                  f"{prep.links} link(s) rewritten)", file=sys.stderr)
        else:
            sys.stdout.buffer.write(raw)
        return 0

    return with_services(args, work)


def cmd_import(args: argparse.Namespace, with_services: Runner) -> int:
    """Columns: email, lists (';'-separated), tracking, country, language, consented_at, source."""
    from pixel.email.service import EmailService

    try:
        data = read_input("file", args.file)
        text = decode_utf8("file", args.file, data)
    except Unreadable as exc:
        print(exc, file=sys.stderr)
        return 1
    digest = hashlib.sha256(data).hexdigest()  # of the file as given: the evidence
    rows = list(csv.DictReader(text.splitlines()))

    async def work(svc: Any) -> int:
        email = EmailService.build(svc)
        recorded = unchanged = 0
        problems: list[str] = []
        for n, row in enumerate(rows, start=2):  # line 1 is the header
            where = f"{args.file}:{n}"
            address = (row.get("email") or "").strip()
            lists = [x.strip() for x in (row.get("lists") or args.list or "").split(";") if x.strip()]
            tracking_raw = (row.get("tracking") or "").strip().lower()
            if tracking_raw not in TRUE | FALSE:
                problems.append(f"{where}: tracking: {tracking_raw!r} is not yes/no")
                continue
            tracking = None if tracking_raw == "" else tracking_raw in TRUE
            if not lists:
                problems.append(f"{where}: lists: empty")
                continue
            try:
                ev = await email.consents.import_consent(
                    args.site, address, lists, tracking=tracking,
                    country=(row.get("country") or "").strip().upper() or None,
                    language=(row.get("language") or "").strip() or None,
                    evidence={"consented_at": (row.get("consented_at") or "").strip() or None,
                              "source": (row.get("source") or args.source or "").strip() or None,
                              "file_sha256": digest, "line": n, "imported_at": iso(utc_now())})
            except AddressError as exc:
                problems.append(f"{where}: email: {exc}")
                continue
            except FieldError as exc:
                problems.append(f"{where}: {exc.field}: {exc.message}")
                if exc.field == "site":
                    break
                continue
            if ev is None:
                unchanged += 1
            else:
                recorded += 1
        for p in problems:
            print(p, file=sys.stderr)
        print(f"{recorded} consent event(s) recorded, {unchanged} unchanged, "
              f"{len(problems)} row(s) refused")
        return 1 if problems else 0

    return with_services(args, work)


def add_email_parser(sub: Any, with_config: Callable[[argparse.ArgumentParser], None],
                     with_services: Runner) -> None:
    s = sub.add_parser("email", help="e-mail: prepare tracked messages, import consents")
    esub = s.add_subparsers(dest="email_command", required=True)

    p = esub.add_parser("prepare", help="turn an HTML e-mail into the tracked one plus headers")
    with_config(p)
    p.add_argument("--site", required=True, help="the site (a key of [sites] in the config)")
    p.add_argument("--campaign", required=True,
                   help="campaign id the send, opens and clicks are counted under")
    p.add_argument("--list", required=True, help="the marketing list this mail is for")
    p.add_argument("--to", required=True, help="recipient address (hashed, never stored)")
    p.add_argument("--subject", required=True, help="Subject: of the message")
    p.add_argument("--html", required=True, help="HTML body file")
    p.add_argument("--sender", help="From: (default: the site's email.sender)")
    p.add_argument("--out", help="write the message here (default: standard output)")
    p.add_argument("--dkim-key", help="PEM private key: sign with DKIM (h= covers "
                   "List-Unsubscribe and List-Unsubscribe-Post)")
    p.add_argument("--dkim-selector", help="DKIM selector (s=), with --dkim-key")
    p.add_argument("--dkim-domain", help="DKIM signing domain (d=), with --dkim-key")
    p.set_defaults(func=lambda a: cmd_prepare(a, with_services))

    i = esub.add_parser("import", help="record consents collected elsewhere, from a CSV file")
    with_config(i)
    i.add_argument("--site", required=True, help="the site (a key of [sites] in the config)")
    i.add_argument("--list", help="list for rows without a lists column")
    i.add_argument("--source", help="where the consents were collected (evidence)")
    i.add_argument("file", help="CSV: email, lists, tracking, country, language, consented_at, source")
    i.set_defaults(func=lambda a: cmd_import(a, with_services))
