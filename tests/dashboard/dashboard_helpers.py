"""Helpers shared by the dashboard tests (a module, since tests/ is not a package)."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from identity_helpers import as_user, system_identity
from sqlalchemy import create_engine, func, select, text
from streamlit.testing.v1 import AppTest

from claims import services
from claims.demo import DEMO_USERS, signed_demo_case
from claims.services import Runtime
from claims.store.models import Base

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def assess_all(rt: Runtime) -> None:
    """One assessment pass over every claim, straight through the service (no flow engine needed here)."""
    services.assess_claims(rt, system_identity(), services.open_claim_keys(rt))


def seed_demo(rt: Runtime) -> Runtime:
    """The EU drones case imported and assessed, with the demo users."""
    services.ensure_users(rt, DEMO_USERS)
    folder = Path(tempfile.mkdtemp(prefix="claims-demo-"))
    services.import_case(rt, as_user(rt, "alice"), services.read_case_file(signed_demo_case(folder)))
    assess_all(rt)
    return rt


def make_confirmable(rt: Runtime) -> None:
    """A third independent line (US Treasury, B2) for factory-exists, then assess: a review is requested by system."""
    add_third_line(rt)
    assess_all(rt)


def add_third_line(rt: Runtime) -> None:
    """A third independent line (US Treasury, B2) for factory-exists: it meets the confirm criteria."""
    services.add_evidence(
        rt,
        as_user(rt, "alice"),
        "factory-exists",
        "us-treasury",
        "supports",
        credibility=2,
        summary="OFAC designates the entities operating the drone assembly site in Xinjiang.",
        observed_at=date(2024, 12, 1),
    )


def row_counts(url: str) -> dict[str, int]:
    """Rows per table: proves a read-only feature wrote nothing."""
    engine = create_engine(url)
    with engine.connect() as conn:
        counts = {t.name: conn.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}
        counts["events.max_id"] = conn.scalar(text("SELECT max(id) FROM events"))
    engine.dispose()
    return counts


def texts(at: AppTest) -> str:
    """Everything the page shows as plain text, markdown, alerts, captions and headings, joined."""
    parts = [e.value for e in at.text]
    for kind in (at.markdown, at.caption, at.title, at.header, at.subheader, at.success, at.info, at.warning, at.error):
        parts.extend(str(e.value) for e in kind)
    return "\n".join(parts)


def unescape(markdown: str) -> str:
    """Undo dashboard.ui.esc() for assertions on alert text."""
    import re

    return re.sub(r"\\(.)", r"\1", markdown)


class _AsTheSystem:
    """`claims.store.queries` with every read taking the system's reach (every case, the top marking):
    these tests check the queries' sums, orders and statements, not who reads them (tests/integration/
    test_need_to_know.py does that)."""

    def __getattr__(self, name: str) -> Any:
        import functools
        import inspect

        from claims.domain.markings import Scale
        from claims.services.access import system_reader
        from claims.store import queries

        found = getattr(queries, name)
        if callable(found) and "reach" in getattr(inspect.signature(found), "parameters", {}):
            return functools.partial(found, reach=system_reader(Scale()))
        return found


system_queries = _AsTheSystem()
