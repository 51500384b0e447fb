"""Issue 21, points 5, 10 and 11: the holes a security review found, each reproduced.

On SQLite and PostgreSQL (`db_url`) where a database is involved; the CLI in-process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from pathlib import Path

import pytest
from integration_helpers import error_line
from sqlalchemy import create_engine, text

from claims import services
from claims.domain import Stage
from claims.services import Runtime
from claims.services import identity as ident
from claims.services.errors import ConcurrencyConflict, RuleViolation
from claims.services.exports.brief import Block, to_markdown
from claims.services.exports.spreadsheet import neutral
from claims.services.transitions import now
from claims.store.models import User

PASSWORD = "correct horse battery"
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


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
    """Step back to the revision before 0012 (no folded index), put `Carl` beside `carl`, and `db upgrade`
    says who, in one line, and stays there."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    before = ScriptDirectory.from_config(Config("alembic.ini")).get_revision("0012").down_revision
    assert cli("db", "downgrade", before).exit_code == 0
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
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == before
    with engine.begin() as conn:  # back to the head, or the session's PostgreSQL stays without later tables
        conn.execute(text("DELETE FROM users WHERE name = 'Carl'"))
    engine.dispose()
    assert cli("db", "upgrade").exit_code == 0


def test_a_legacy_capitalised_name_is_found_by_any_spelling(rt: Runtime):
    """Rows made before names were folded keep their spelling; look-ups still find them."""
    with rt.uow() as uow:
        uow.users.add(User(name="Zoe", role="reviewer", created_at=now()))
        uow.commit()
    assert ident.current_identity(rt, "zoe").name == "Zoe"
    with pytest.raises(RuleViolation, match="'Zoe'"):
        services.add_user(rt, "admin", "zoe", "reviewer")


# --- point 10: the token store and -o -----------------------------------------------------------


@pytest.fixture
def bob_can_sign_in(rt: Runtime, own_config_dir: Path) -> Path:
    """bob has a password; the config dir starts empty (no stored sign-ins)."""
    ident.set_password(rt, "admin", "bob", PASSWORD)
    shutil.rmtree(own_config_dir, ignore_errors=True)
    own_config_dir.mkdir(mode=0o700)
    return own_config_dir


def login(cli, name: str = "bob"):
    return cli("login", name, "--password-stdin", input=PASSWORD + "\n")


def test_a_symlink_at_the_temporary_name_does_not_redirect_login(bob_can_sign_in: Path, cli, tmp_path: Path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    for tmp_name in ("tokens.tmp", ".tokens.json.tmp"):
        (bob_can_sign_in / tmp_name).symlink_to(victim)
    result = login(cli)
    assert result.exit_code == 0, result.stderr
    assert victim.read_text() == "precious\n"
    tokens = bob_can_sign_in / "tokens.json"
    assert tokens.is_file() and not tokens.is_symlink() and stat.S_IMODE(tokens.stat().st_mode) == 0o600
    assert stat.S_IMODE(bob_can_sign_in.stat().st_mode) == 0o700


def test_a_symlinked_token_file_is_refused_in_one_line(bob_can_sign_in: Path, cli, tmp_path: Path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (bob_can_sign_in / "tokens.json").symlink_to(victim)
    result = login(cli)
    assert result.exit_code == 1
    assert "tokens:" in error_line(result) and "is a symbolic link, not a regular file" in error_line(result)
    assert victim.read_text() == "precious\n"


def test_a_group_readable_config_folder_is_made_the_owners_alone(bob_can_sign_in: Path, cli):
    bob_can_sign_in.chmod(0o755)
    assert login(cli).exit_code == 0
    assert stat.S_IMODE(bob_can_sign_in.stat().st_mode) == 0o700


def test_a_corrupt_token_file_is_kept_aside_with_one_line(bob_can_sign_in: Path, cli):
    tokens = bob_can_sign_in / "tokens.json"
    tokens.write_text('{"other-db": {"tokens": {"alice": "abc"')  # cut short: other sign-ins a person may recover
    result = login(cli)
    assert result.exit_code == 0
    assert "was not valid; kept it as" in result.stderr
    (aside,) = bob_can_sign_in.glob("tokens.json.corrupt-*")
    assert aside.read_text() == '{"other-db": {"tokens": {"alice": "abc"'
    assert "bob" in json.loads(tokens.read_text())[next(iter(json.loads(tokens.read_text())))]["tokens"]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("command", [["export", "--format", "json"], ["brief", "--format", "md"]])
def test_output_to_a_symlink_or_a_fifo_is_refused_in_one_line(three_lines: Runtime, cli, tmp_path: Path, command):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    link = tmp_path / "out.json"
    link.symlink_to(victim)
    result = cli(*command, "-o", link)
    assert result.exit_code == 1
    assert (
        error_line(result) == f"error: output: {str(link)!r} is a symbolic link, not a regular file; refusing to use it"
    )
    assert victim.read_text() == "precious\n"
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    result = cli(*command, "-o", fifo)  # before: blocked here for ever, waiting for a reader
    assert result.exit_code == 1
    assert "is a FIFO, not a regular file" in error_line(result)
    assert cli(*command, "-o", tmp_path / "plain.out").exit_code == 0


# --- point 11: output that obeys stored text --------------------------------------------------

ESCAPES = "\x1b[2J\x1b]0;pwned\x07 \x9b31m"  # clear screen, set the window title, a C1 CSI


def test_show_prints_stored_escape_codes_as_text_not_as_commands(three_lines: Runtime, cli):
    services.add_evidence(three_lines, "bob", "weak", "reuters", "supports", credibility=2, summary=f"hi{ESCAPES}")
    result = cli("show", "weak")
    assert result.exit_code == 0, result.stderr
    assert not CONTROL_CHARS.search(result.stdout.replace("\n", "").replace("\t", ""))
    assert "\\x1b[2J" in result.stdout
    as_json = cli("show", "weak", "--json")
    assert not CONTROL_CHARS.search(as_json.stdout.replace("\n", ""))
    assert any(e["summary"] == f"hi{ESCAPES}" for e in json.loads(as_json.stdout)["evidence"])  # JSON keeps it exact


def test_the_markdown_brief_escapes_html_and_markdown_in_stored_text():
    hostile = "# Sanctions lifted\n<script>alert(1)</script>\n1. not a list"
    md = to_markdown([Block("heading", "Brief", level=1), Block("para", hostile), Block("bullets", items=(hostile,))])
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert [line for line in md.splitlines() if line.startswith("#")] == ["# Brief"]
    assert "\n1. not" not in md


def test_claims_brief_of_a_stored_script_and_heading_shows_them_as_text(demo: Runtime, cli):
    """End to end: a statement stored with raw `<script>` and a leading `#`, then `claims brief` (Markdown, HTML)."""
    hostile = "# Sanctions lifted <script>alert(1)</script>"
    version = services.claim_detail(demo, "factory-exists")["version"]  # gates policy actions: in the brief
    edited = cli("claim", "edit", "factory-exists", "--expected-version", version, "--statement", hostile,
                 "--rationale", "test", "--as", "alice")  # fmt: skip
    assert edited.exit_code == 0, edited.output
    md = cli("brief", "--format", "md")
    assert md.exit_code == 0, md.output
    assert "Sanctions lifted" in md.stdout and "<script>" not in md.stdout
    assert not [line for line in md.stdout.splitlines() if line.lstrip().startswith("# Sanctions")]
    html = cli("brief", "--format", "html")
    assert "Sanctions lifted" in html.stdout and "<script>" not in html.stdout and "&lt;script&gt;" in html.stdout


@pytest.mark.parametrize("cell", ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_a_spreadsheet_formula_in_a_csv_cell_is_kept_as_text(cell):
    assert neutral(cell) == "'" + cell
    assert neutral("plain words") == "plain words" and neutral(-3) == -3 and neutral(None) is None


def test_the_dashboard_csv_download_neutralises_formulas():
    """The claims page builds its CSV with `neutral` (the page's own code, read as text: AppTest cannot press it)."""
    page = (Path(__file__).resolve().parents[2] / "dashboard" / "views" / "claims.py").read_text(encoding="utf-8")
    assert ".map(neutral).to_csv(" in page


# --- point 11: a lock wait says what it really waited -------------------------------------------


def test_a_lock_wait_message_says_the_time_really_waited(three_lines: Runtime, monkeypatch):
    """Another writer holds the database; the refused change says how long it waited, and that is the limit."""
    import time

    import psycopg

    from claims.settings import get_settings
    from claims.store import db as store_db
    from claims.store.events import WRITERS_LOCK

    limit = 2
    monkeypatch.setenv("CLAIMS_WRITE_WAIT_SECONDS", str(limit))
    get_settings.cache_clear()
    monkeypatch.delitem(store_db._ENGINES, store_db.normalise_url(three_lines.database_url), raising=False)
    url = three_lines.database_url
    if url.startswith("sqlite"):
        import sqlite3

        holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    else:
        holder = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
        holder.execute("SELECT pg_advisory_lock(%s)", (WRITERS_LOCK,))
    try:
        started = time.monotonic()
        with pytest.raises(ConcurrencyConflict) as refused:
            services.add_evidence(three_lines, "bob", "weak", "reuters", "supports", credibility=2, summary="late")
        waited = time.monotonic() - started
    finally:
        holder.close()
    assert limit - 0.5 <= waited <= limit + 1.5, waited
    message = str(refused.value)
    said = int(re.search(r"gave up after (\d+) s", message)[1])
    assert abs(said - waited) <= 1, (message, waited)
    assert f"limited to {limit} s" in message
