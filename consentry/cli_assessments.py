"""`consentry assessments verify`: is this the report file an assessment record names?"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from cmp.assessments import file_sha256, matching
from cmp.config import load_config

WithConfig = Callable[..., None]


def cmd_assessments_verify(args: argparse.Namespace) -> int:
    config = load_config(args.config or os.environ.get("CONSENTRY_CONFIG") or "consentry.toml")
    site = config.sites.get(args.site)
    if site is None:
        print(f"--site: no site {args.site!r} in the config "
              f"(sites: {', '.join(sorted(config.sites))})")
        return 1
    if args.id is not None and args.id not in site.assessments:
        known = ", ".join(sorted(site.assessments)) or "none"
        print(f"--id: no assessment {args.id!r} in sites.{args.site}.assessments ({known})")
        return 1
    try:
        digest = file_sha256(args.file)
    except OSError as exc:
        print(f"{args.file}: cannot read ({exc.strerror})")
        return 1
    found = matching(site, digest)
    if args.id is not None:
        found = {k: v for k, v in found.items() if k == args.id}
    if not found:
        which = f"sites.{args.site}.assessments.{args.id}.report_sha256" if args.id else \
            f"any report_sha256 of sites.{args.site}.assessments"
        print(f"{args.file}: sha256 {digest} does not match {which}")
        return 1
    for aid, a in found.items():
        print(f"{args.file}: sha256 {digest} matches sites.{args.site}.assessments.{aid} "
              f"(assessed {a.date}, review by {a.review_by})")
    return 0


def add_assessments_parser(sub: Any, with_config: WithConfig) -> None:
    s = sub.add_parser("assessments", help="impact assessment records (PIPL Art. 55-56)")
    asub = s.add_subparsers(dest="assessments_command", required=True)
    v = asub.add_parser("verify", help="check a report file's sha256 against the config; "
                                       "exit 1 if no assessment names it")
    with_config(v, database=False)
    v.add_argument("--site", required=True, help="the site (a key of [sites] in the config)")
    v.add_argument("--id", help="only this assessment (default: any of the site's)")
    v.add_argument("file", help="the report file")
    v.set_defaults(func=cmd_assessments_verify)
