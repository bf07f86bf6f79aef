"""A bounded schemathesis pass over /openapi.json against the real app (lifespan, group-commit
writer, a real SQLite file): every documented operation, with data generated from the schema
and data that breaks it. No answer may be a server error, and every answer must match what the
document says (status, content type, body schema); so the document has to describe what
validation really accepts."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from cmp.adminkeys import generate_admin_key
from consentry.app import create_app

from .conftest import build_services, site_toml

# Bounded: about a minute on the 2-core CI machine for every operation together.
MAX_EXAMPLES = 40


@pytest.fixture(scope="module")
def api_schema() -> Any:
    folder = Path(tempfile.mkdtemp(prefix="consentry-schemathesis-"))
    _, key_hash = generate_admin_key()
    config = folder / "site.toml"
    config.write_text(site_toml("demo", key_hash, origin="https://demo.example"), "utf-8")
    app = create_app(build_services(folder / "schemathesis.db", config))
    # A body over the size limit is refused with 413 before it is parsed: a rejection too.
    config = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {
        "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]}}})
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


# Where a schema-valid request may still be refused with a 400 because acceptance depends on
# what no schema can say: a signature (e-mail links), a configured site or purpose named in a
# body (the beacon's `s`, the consent's purposes), or how two parameters relate (a
# consistency proof needs first <= second <= the tree's size). Every other check still runs.
STATEFUL = {("POST", "/b"), ("POST", "/v1/sites/{site}/consent"),
            ("GET", "/v1/sites/{site}/checkpoints/consistency"),
            ("GET", "/e/c/{token}"), ("GET", "/e/u/{token}"), ("POST", "/e/u/{token}"),
            ("GET", "/e/s/{token}"), ("POST", "/e/s/{token}"),
            # ask tokens and self-service links are signed
            ("GET", "/v1/sites/{site}/asks/notice"),
            ("POST", "/v1/sites/{site}/asks/notice"), ("POST", "/v1/sites/{site}/asks/answer"),
            ("GET", "/p/{site}/me/{token}"), ("POST", "/p/{site}/me/{token}"),
            # the request page's form body is urlencoded, which the document does not model
            ("POST", "/p/{site}/request"),
            # a request's address must have a valid (IDNA) domain; a case's regime must be
            # configured and its received_at not later than the server's clock
            ("POST", "/v1/sites/{site}/requests"), ("POST", "/v1/sites/{site}/cases")}


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=2000, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_answers_as_documented(case: Any) -> None:
    if case.path_parameters and "site" in case.path_parameters:
        # The configured site, so requests reach validation instead of stopping at a 404.
        case.path_parameters["site"] = "demo"
    op = (case.operation.method.upper(), case.operation.path)
    case.call_and_validate(excluded_checks=[positive_data_acceptance] if op in STATEFUL else [])
