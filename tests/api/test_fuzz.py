"""Schemathesis fuzzes the API from its own OpenAPI document, on both databases: no 5xx, and every
answer (status, content type, body, headers) as the document says. Bounded: a fixed number of
examples per operation, so one database takes well under two minutes here.

The assessment runs a real Prefect flow per call; it is fuzzed with fewer examples, on the flow
tests' Prefect harness.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from api_helpers import auth
from hypothesis import HealthCheck, settings
from prefect_support import start_harness
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from claims.api import create_app
from claims.api.guard import Limits
from claims.services import Runtime
from claims.services.identity import issue_token_unchecked

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
CASES: dict[str, int] = {}  # cases run per database, said at the end of the module (the report's figure)


def count(rt: Runtime) -> None:
    db = rt.database_url.split(":", 1)[0].split("+")[0]
    CASES[db] = CASES.get(db, 0) + 1


@pytest.fixture(scope="module", autouse=True)
def say_cases() -> Iterator[None]:
    yield
    print(f"\nschemathesis cases per database: {CASES}")


@pytest.fixture
def api_schema(loaded: Runtime) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(loaded, Limits()))


@pytest.fixture
def admin(loaded: Runtime) -> dict[str, str]:
    """An admin's real token: every operation is allowed, so the fuzzing reaches the use cases."""
    return auth(issue_token_unchecked(loaded, "admin", reason="fuzz").token)


@pytest.fixture(scope="module")
def harness() -> Iterator[None]:
    start_harness()
    yield


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.exclude(path="/assessments").parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_keeps_its_document(case: schemathesis.Case, admin: dict[str, str], loaded: Runtime):
    case.call_and_validate(headers=admin, checks=CHECKS)
    count(loaded)


@schema.include(path="/assessments").parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_the_assessment_keeps_its_document(
    case: schemathesis.Case, admin: dict[str, str], harness: None, loaded: Runtime
):
    # A flow run on the test harness: a loaded 2-core machine can take well over the default 10 s.
    case.call_and_validate(headers=admin, checks=CHECKS, timeout=180)
    count(loaded)
