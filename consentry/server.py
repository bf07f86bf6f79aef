"""The app as uvicorn workers build it: everything from files and the environment."""

from __future__ import annotations

import os

from starlette.applications import Starlette

from cmp.app_state import Services
from cmp.config import Config, load_config
from cmp.settings import Settings
from consentry.app import create_app


def worker_app() -> Starlette:
    """The factory uvicorn's workers call: `app_from_env` for a process that serves for good."""
    return app_from_env(worker=True)


def app_from_env(*, worker: bool = False) -> Starlette:
    path = os.environ.get("CONSENTRY_CONFIG", "consentry.toml")
    config = load_config(path)
    settings = Settings.load(path)
    extra: dict[str, list[str]] = {}
    demo_hash = os.environ.get("CONSENTRY_DEMO_ADMIN_HASH")
    if demo_hash:
        extra = {site: [demo_hash] for site in config.sites}
    demo_origins = os.environ.get("CONSENTRY_DEMO_ORIGINS")
    if demo_origins:
        # The demo serves the customer's page from Consentry itself on whatever port it was
        # given: trust that origin (and any given with --origin) for the demo config's sites.
        config = with_extra_origins(config, demo_origins.split())
    demo_operator = os.environ.get("CONSENTRY_DEMO_OPERATOR_HASH")
    if demo_operator:
        # "name:scrypt$…": the demo's customer-service login, on each of its sites.
        name, _, pw_hash = demo_operator.partition(":")
        config = with_extra_operator(config, name, pw_hash)
    svc = Services.build(config, settings, extra_admin_hashes=extra)
    if os.environ.get("CONSENTRY_DEMO") != "1":
        return create_app(svc, worker=worker)
    from consentry.demo import DemoRegion, demo_routes

    app = create_app(svc, extra_routes=demo_routes(), worker=worker)
    # Demo mode only: the page's ?region= links run requests as if from that place.
    app.add_middleware(DemoRegion, country_header=settings.country_header,
                       subdivision_header=settings.subdivision_header)
    return app


def with_extra_origins(config: Config, origins: list[str]) -> Config:
    sites = {sid: site.model_copy(update={"origins": list(dict.fromkeys([*site.origins, *origins]))})
             for sid, site in config.sites.items()}
    return config.model_copy(update={"sites": sites})


def with_extra_operator(config: Config, name: str, pw_hash: str) -> Config:
    sites = {sid: site.model_copy(update={"operators": {**site.operators, name: pw_hash}})
             for sid, site in config.sites.items()}
    return config.model_copy(update={"sites": sites})
