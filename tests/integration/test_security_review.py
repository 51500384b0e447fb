"""Issue 21, points 5, 10 and 11: the holes a security review found, each reproduced.

On SQLite and PostgreSQL (`db_url`) where a database is involved; the CLI in-process.
"""

from __future__ import annotations

import pytest
from integration_helpers import error_line
from sqlalchemy import create_engine, text

from claims import services
from claims.domain import Stage
from claims.services import Runtime
from claims.services import identity as ident
from claims.services.errors import RuleViolation
from claims.services.transitions import now
from claims.store.models import User

PASSWORD = "correct horse battery"


# --- point 5: look-alike people ---------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["Bob", "BOB", "ｂｏｂ", "bob"])
def test_a_name_that_folds_to_an_existing_user_is_refused_in_one_line(rt: Runtime, cli, db_snapshot, spelling):
    before = db_snapshot(rt.database_url)
    result = cli(
        "user", "add", spelling, "--role", "reviewer", "--as", "admin", "--password-stdin", input=PASSWORD + "\n"
    )
    assert result.exit_code == 1, result.stderr
    line = error_line(result)
    assert line.startswith("error: name: ") and repr(spelling) in line and "'bob'" in line
    assert db_snapshot(rt.database_url) == before


def test_names_are_stored_folded_and_sign_in_ignores_case(rt: Runtime):
    services.add_user(rt, "admin", "Dana", "reviewer", password=PASSWORD)
    assert [u.name for u in services.list_users(rt) if u.name.lower() == "dana"] == ["dana"]
    assert ident.login(rt, "DANA", PASSWORD).identity.name == "dana"


def test_four_eyes_bob_requests_and_bob_cannot_approve(three_lines: Runtime):
    rt = three_lines
    services.add_user(rt, "admin", "Rae", "reviewer")
    with pytest.raises(RuleViolation, match="'rae'"):
        services.add_user(rt, "admin", "rae", "reviewer")
    services.advance(rt, "Rae", "strong", Stage.CORROBORATED)
    review = services.advance(rt, "Rae", "strong", Stage.CONFIRMED).review_id
    with pytest.raises(RuleViolation, match="four eyes"):
        services.approve(rt, "RAE", review, "it is me, but louder")
    with pytest.raises(RuleViolation, match="four eyes"):
        services.approve(rt, "rae", review, "it is me")


def test_the_migration_refuses_a_database_with_two_spellings_of_one_name(db_url: str, cli):
    """Step back to 0008 (no folded index), put `Carl` beside `carl`, and `db upgrade` says who, in one line."""
    assert cli("db", "downgrade", "0008").exit_code == 0
    engine = create_engine(db_url)
    with engine.begin() as conn:
        for name in ("Carl", "carl"):
            conn.execute(
                text("INSERT INTO users (name, role, created_at, failed_sign_ins) VALUES (:n, 'analyst', :t, 0)"),
                {"n": name, "t": "2026-01-01 00:00:00"},
            )
    result = cli("db", "upgrade")
    assert result.exit_code == 1
    assert "Carl = carl" in error_line(result)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0008"
    engine.dispose()


def test_a_legacy_capitalised_name_is_found_by_any_spelling(rt: Runtime):
    """Rows made before names were folded keep their spelling; look-ups still find them."""
    with rt.uow() as uow:
        uow.users.add(User(name="Zoe", role="reviewer", created_at=now()))
        uow.commit()
    assert ident.current_identity(rt, "zoe").name == "Zoe"
    with pytest.raises(RuleViolation, match="'Zoe'"):
        services.add_user(rt, "admin", "zoe", "reviewer")
