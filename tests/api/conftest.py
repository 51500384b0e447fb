"""API tests: the app on the test database (both), real tokens from the identity service."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from identity_helpers import as_user

from claims import services
from claims.api import create_app
from claims.api.guard import Limits
from claims.demo import signed_demo_case
from claims.services import Runtime
from claims.services.identity import issue_token_unchecked


@pytest.fixture
def loaded(rt: Runtime, tmp_path: Path) -> Runtime:
    """The EU drones case imported, not yet assessed."""
    services.import_case(rt, as_user(rt, "alice"), services.read_case_file(signed_demo_case(tmp_path / "demo")))
    return rt


@pytest.fixture
def token(rt: Runtime) -> Callable[[str], str]:
    def issue(name: str) -> str:
        return issue_token_unchecked(rt, name, reason="api test").token

    return issue


@pytest.fixture
def client(loaded: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(loaded, Limits()), raise_server_exceptions=False) as c:
        yield c
