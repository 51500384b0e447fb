"""Flow tests: one Prefect test harness for the whole session, the demo case loaded but not yet assessed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from identity_helpers import as_user
from prefect_support import start_harness, stop_harness

from claims import services
from claims.demo import signed_demo_case
from claims.services import Runtime
from flows.common import use_runtime


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect API for every flow test of the session, started once."""
    start_harness()
    yield
    stop_harness()


@pytest.fixture
def loaded(rt: Runtime, tmp_path: Path) -> Iterator[Runtime]:
    """The EU drones case imported (not assessed); flows called in the test run against this database."""
    services.import_case(rt, as_user(rt, "alice"), services.read_case_file(signed_demo_case(tmp_path / "demo")))
    with use_runtime(rt):
        yield rt
