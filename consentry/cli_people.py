"""`consentry keys …` and `consentry people …`: API keys with scopes, the secrets a customer's
backend shares with Consentry, and a person's export and erasure."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from cmp.adminkeys import generate_admin_key
from cmp.config import API_SCOPES, ID_RE, load_config
from cmp.keys import Keyring, b64u, load_master_secret
from cmp.settings import Settings

WithConfig = Callable[..., None]
WithServices = Callable[[argparse.Namespace, Callable[[Any], Awaitable[int]]], int]


class KeysError(Exception):
    pass


def _config_path(args: argparse.Namespace) -> str:
    import os

    return str(args.config or os.environ.get("CONSENTRY_CONFIG") or "consentry.toml")


def cmd_keys_new(args: argparse.Namespace) -> int:
    import re

    config = load_config(_config_path(args))
    if args.site not in config.sites:
        raise KeysError(f"--site: no site {args.site!r} in the config "
                        f"(sites: {', '.join(sorted(config.sites))})")
    for scope in args.scope:
        if scope not in API_SCOPES:
            raise KeysError(f"--scope: unknown scope {scope!r}; one of {', '.join(API_SCOPES)}")
    if not re.match(ID_RE, args.name):
        raise KeysError("--name: lower-case letters, digits, '_' and '-', e.g. crm")
    if any(k.name == args.name for k in config.sites[args.site].api_keys):
        raise KeysError(f"--name: site {args.site!r} already has a key named {args.name!r}")
    key, key_hash = generate_admin_key()
    scopes = ", ".join(json.dumps(s) for s in dict.fromkeys(args.scope))
    print(f"""API key (shown once; give it to the backend, keep it out of the config):

    {key}

Add to the config and reload:

[[sites.{args.site}.api_keys]]
name = "{args.name}"
hash = "{key_hash}"
scopes = [{scopes}]""")
    return 0


def cmd_keys_secrets(args: argparse.Namespace) -> int:
    path = _config_path(args)
    config = load_config(path)
    if args.site not in config.sites:
        raise KeysError(f"--site: no site {args.site!r} in the config")
    keys = Keyring(load_master_secret(Settings.load(path).secret_file)).site(args.site)
    print(f"""Secrets of site {args.site} (derived from the deployment's secret; keep them on servers):

hint_secret     {b64u(keys.hint_key)}
    signs person hints (cmp.hints.make_hint(base64url-decoded secret, site, ref))
webhook_secret  {b64u(keys.webhook_key)}
    signs SMS webhook calls: X-Consentry-Signature: sha256=<hex HMAC-SHA256, keyed with
    this text, of "<X-Consentry-Timestamp>.<raw body>"> (pixel.sms.signature.sign)""")
    return 0


def add_people_parser(sub: Any, with_config: WithConfig, with_services: WithServices) -> None:
    s = sub.add_parser("keys", help="API keys with scopes, and the secrets backends share")
    ksub = s.add_subparsers(dest="keys_command", required=True)
    n = ksub.add_parser("new", help="make an API key for a site's backend; prints it and the "
                                    "config lines with its hash")
    with_config(n, database=False)
    n.add_argument("--site", required=True, help="the site the key acts on")
    n.add_argument("--scope", action="append", required=True, metavar="SCOPE",
                   help=f"what it may do (repeat): {', '.join(API_SCOPES)}")
    n.add_argument("--name", default="backend", help="a name for the key (default backend)")
    n.set_defaults(func=_guard(cmd_keys_new))
    sec = ksub.add_parser("secrets", help="print the site's hint and webhook secrets")
    with_config(sec, database=False)
    sec.add_argument("--site", required=True, help="the site whose secrets to print")
    sec.set_defaults(func=_guard(cmd_keys_secrets))

    p = sub.add_parser("people", help="a person's records across identifiers")
    psub = p.add_subparsers(dest="people_command", required=True)
    for name, helptext in (("show", "print a person's current state as JSON"),
                           ("export", "print everything held about a person as JSON"),
                           ("erase", "erase a person and every linked identifier")):
        c = psub.add_parser(name, help=helptext)
        with_config(c)
        c.add_argument("--site", required=True, help="the site (a key of [sites] in the config)")
        c.add_argument("--ref", required=True, help="the customer's account reference")
        if name == "erase":
            c.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        c.set_defaults(func=_people(name, with_services))


def _guard(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except KeysError as exc:
            print(exc, file=sys.stderr)
            return 1
    return run


def _people(name: str, with_services: WithServices) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        async def work(svc: Any) -> int:
            if name == "erase":
                if not args.yes:
                    if not sys.stdin.isatty():
                        print("standard input is not a terminal: add --yes to erase without "
                              "asking", file=sys.stderr)
                        return 1
                    print(f"Erase person {args.ref!r} of site {args.site} and every linked "
                          "identifier? This cannot be undone. [y/N] ", end="", file=sys.stderr,
                          flush=True)
                    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
                        print("not erased", file=sys.stderr)
                        return 1
                done = await svc.people.erase(args.site, args.ref)
            elif name == "export":
                done = await svc.people.export(args.site, args.ref)
            else:
                done = await svc.people.state(args.site, args.ref)
            if done is None:
                print(f"no such person {args.ref!r} on site {args.site!r}", file=sys.stderr)
                return 1
            print(json.dumps(done, indent=2, ensure_ascii=False))
            return 0
        return with_services(args, work)
    return run
