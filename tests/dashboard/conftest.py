"""Fixtures for the dashboard: a seeded SQLite file the app finds through CLAIMS_DATABASE_URL."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator

import pytest
from dashboard_helpers import APP, seed_demo
from identity_helpers import as_user
from streamlit.testing.v1 import AppTest

from claims import services
from claims.demo import DEMO_USERS
from claims.services import Runtime


@pytest.fixture(autouse=True)
def _restore_main_module() -> Iterator[None]:
    """AppTest installs the page as sys.modules["__main__"] and leaves it there; a later test that
    spawns processes (Dask workers) would then re-run the dashboard in each child. Put it back."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture
def app_env(sqlite_url: str, point_settings_at: Callable[[str], None], signed_in: Callable[..., None]) -> Runtime:
    """An empty migrated SQLite file with the demo users, which the dashboard reads via CLAIMS_DATABASE_URL;
    each signed in, so a test's session holds a proven identity without a write during the test."""
    point_settings_at(sqlite_url)
    rt = Runtime(sqlite_url)
    services.ensure_users(rt, DEMO_USERS)
    signed_in(rt)
    return rt


@pytest.fixture
def demo_db(rt: Runtime) -> Runtime:
    """The demo case on each database (SQLite and PostgreSQL), assessed through the service."""
    return seed_demo(rt)


@pytest.fixture
def demo_app(app_env: Runtime) -> Runtime:
    """The EU drones case imported and assessed, for the dashboard."""
    return seed_demo(app_env)


def signed_in_as(at: AppTest, user: str) -> AppTest:
    """A session signed in as `user`, as dashboard/auth.py leaves it after a password check (its own tests
    sign in through the form and through OIDC): the proven Identity, re-read from the database on every run."""
    who = as_user(Runtime.from_settings(), user)
    at.session_state["signed_in"] = {"who": who, "name": user, "role": "?", "method": "test", "last": time.time()}
    return at


@pytest.fixture
def open_page() -> Callable[..., AppTest]:
    """Run the router once signed in (as mia, a manager, unless `user=`), then switch to a page and run it."""

    def _open(page: str | None = None, *, user: str | None = "mia", case: str | None = None, **query: str) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=60)
        if user:
            signed_in_as(at, user)
        if case:
            at.session_state["case"] = case
        at.run()
        if page:
            at.switch_page(f"views/{page}.py")
            for key, value in query.items():
                at.query_params[key] = value
            at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return _open
