"""`consentry requests list`: a site's data-subject request cases by due date, overdue first."""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import Any

from cmp.cases import row_doc

WithConfig = Callable[..., None]
WithServices = Callable[[argparse.Namespace, Callable[[Any], Awaitable[int]]], int]


def add_requests_parser(sub: Any, with_config: WithConfig, with_services: WithServices) -> None:
    s = sub.add_parser("requests", help="data-subject request cases")
    rsub = s.add_subparsers(dest="requests_command", required=True)
    ls = rsub.add_parser("list", help="a site's open cases by due date, overdue first")
    with_config(ls)
    ls.add_argument("--site", required=True, help="the site (a key of [sites] in the config)")
    ls.add_argument("--overdue", action="store_true", help="only cases past their due date")
    ls.add_argument("--all", action="store_true", help="closed cases too")
    ls.add_argument("--json", action="store_true", help="one JSON object a line")

    def run(args: argparse.Namespace) -> int:
        async def work(svc: Any) -> int:
            rows = await svc.cases.cases(args.site, open_only=not args.all,
                                         overdue=args.overdue)
            today = svc.cases.today(args.site)
            for r in rows:
                doc = row_doc(r, today)
                if args.json:
                    print(json.dumps(doc, ensure_ascii=False))
                else:
                    late = "OVERDUE" if doc["overdue"] else ""
                    print(f"{r.due}  {r.case_id}  {r.type:<16} {r.state:<11} {r.regime:<9} "
                          f"{late}".rstrip())
            if not args.json:
                n_late = sum(1 for r in rows if row_doc(r, today)["overdue"])
                print(f"{len(rows)} case(s), {n_late} overdue (today {today.isoformat()})")
            return 0
        return with_services(args, work)
    ls.set_defaults(func=run)
