"""Issue 8, points 1 and 3: accounts, sign-in and personal tokens. Identity is proven, never typed.

On SQLite and PostgreSQL (`db_url`); the CLI in-process with the test's own config dir.
"""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from identity_helpers import as_user
from integration_helpers import error_line
from sqlalchemy import select, update

from claims import services
from claims.cli.signin import cli_source
from claims.cli.tokenstore import TokenStore
from claims.services import PermissionDenied, Runtime
from claims.services import identity as ident
from claims.store.models import Event, SignInFailure, Token

PASSWORD = "correct horse battery"


@pytest.fixture
def people(rt: Runtime) -> Runtime:
    """The demo users; bob and mia also have passwords."""
    for name in ("bob", "mia"):
        ident.set_password(rt, as_user(rt, "admin"), name, PASSWORD)
    return rt


def login(cli, name: str, password: str = PASSWORD, *extra: str):
    return cli("login", name, "--password-stdin", *extra, input=password + "\n")


def all_event_text(rt: Runtime) -> str:
    with rt.uow(write=False) as uow:
        return json.dumps(
            [(e.actor, e.kind, e.payload, e.rationale) for e in uow.session.scalars(select(Event))], default=str
        )


def events_of(rt: Runtime, kind: str) -> list[SimpleNamespace]:
    with rt.uow(write=False) as uow:
        rows = uow.session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id))
        return [SimpleNamespace(actor=e.actor, payload=e.payload) for e in rows]


def test_passwords_are_argon2_hashes_and_never_in_the_log(people: Runtime, cli):
    with people.uow(write=False) as uow:
        stored = uow.users.get("bob").password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert login(cli, "bob").exit_code == 0
    token = TokenStore().token(people.database_url, "bob")
    assert token and token.startswith("clm_")
    with people.uow(write=False) as uow:
        hashes = list(uow.session.scalars(select(Token.token_hash)))
    assert ident.digest(token) in hashes and token not in hashes
    logged = all_event_text(people)
    assert PASSWORD not in logged and token not in logged
    assert [e.payload["method"] for e in events_of(people, "sign_in")] == ["cli"]
    assert events_of(people, "token.issued")[-1].payload["user"] == "bob"


def test_login_whoami_as_and_logout(people: Runtime, cli):
    assert login(cli, "bob").exit_code == 0
    who = cli("whoami", "--json")
    assert json.loads(who.stdout) == {"name": "bob", "role": "reviewer"}
    assert json.loads(cli("whoami", "--as", "mia", "--json").stdout)["name"] == "mia"  # fixture's sign-in
    out = cli("logout", "bob")
    assert out.exit_code == 0, out.stderr
    refused = cli("review", "list")  # reading needs no sign-in
    assert refused.exit_code == 0
    gone = cli("whoami", "--as", "bob")
    assert gone.exit_code == 4
    assert error_line(gone) == "error: not signed in as bob: run claims login bob"


def test_the_config_file_is_the_owners_alone_and_keyed_by_database(people: Runtime, cli, own_config_dir: Path):
    assert login(cli, "bob").exit_code == 0
    path = own_config_dir / "tokens.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data = json.loads(path.read_text())
    (key,) = data
    assert "bob" in data[key]["tokens"] and data[key]["current"] == "bob"
    assert PASSWORD not in path.read_text()


def test_a_wrong_password_gets_nothing_and_five_lock_the_account(people: Runtime, cli):
    for _ in range(4):
        wrong = login(cli, "mia", "not the password")
        assert wrong.exit_code == 4
        assert error_line(wrong) == f"error: {ident._WRONG}"
    assert TokenStore().token(people.database_url, "mia") is not None  # only the fixture's, untouched
    fifth = login(cli, "mia", "still not it")
    assert fifth.exit_code == 4
    locked = login(cli, "mia")  # even the right password, now, from here (issue 21.7: the same line as a wrong one)
    assert locked.exit_code == 4
    assert error_line(locked) == f"error: {ident._WRONG}"
    assert [e.payload["reason"] for e in events_of(people, "sign_in.failed")] == ["wrong password"] * 5 + ["locked"]
    assert len(events_of(people, "user.locked")) == 1
    # 15 minutes later (moved back in the database) the right password works again
    with people.uow() as uow:
        uow.session.execute(
            update(SignInFailure)
            .where(SignInFailure.name == "mia")
            .values(
                locked_until=datetime.now(UTC) - timedelta(seconds=1), window_start=datetime(2026, 1, 1, tzinfo=UTC)
            )
        )
        uow.commit()
    assert login(cli, "mia").exit_code == 0


def test_an_unknown_user_fails_like_a_wrong_password(people: Runtime, cli):
    result = login(cli, "nobody")
    assert result.exit_code == 4
    assert error_line(result) == f"error: {ident._WRONG}"
    assert events_of(people, "sign_in.failed")[-1].payload == {
        "user": "nobody",
        "reason": "unknown user",
        "method": "cli",
        "source": cli_source(),
    }


def test_an_expired_token_gets_nothing(people: Runtime, cli):
    assert login(cli, "bob").exit_code == 0
    with people.uow() as uow:
        uow.session.execute(update(Token).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        uow.commit()
    result = cli("review", "approve", "1", "--as", "bob")
    assert result.exit_code == 4
    assert error_line(result).startswith("error: not signed in as bob (token: expired at ")
    with pytest.raises(PermissionDenied):
        services.verify_token(people, TokenStore().token(people.database_url, "bob"))


def test_a_revoked_token_gets_nothing(people: Runtime, cli):
    assert login(cli, "bob").exit_code == 0
    token = TokenStore().token(people.database_url, "bob")
    revoked = cli("user", "tokens", "bob", "--revoke", "--as", "admin")
    assert revoked.exit_code == 0, revoked.stderr
    result = cli("evidence", "retract", "1", "--reason", "x", "--as", "bob")
    assert result.exit_code == 4
    assert error_line(result) == "error: not signed in as bob (token: unknown or revoked): run claims login bob"
    with pytest.raises(PermissionDenied):
        services.verify_token(people, token)


def test_only_self_or_an_admin_sees_or_revokes_tokens(people: Runtime, cli):
    refused = cli("user", "tokens", "bob", "--revoke", "--as", "alice")
    assert refused.exit_code == 4
    assert "'alice' may manage only their own account" in error_line(refused)
    own = cli("user", "tokens", "alice", "--json", "--as", "alice")
    assert own.exit_code == 0 and all("hash" not in t and "token" not in t for t in json.loads(own.stdout))


def test_a_disabled_user_cannot_sign_in_or_use_old_tokens(people: Runtime, cli):
    assert cli("user", "disable", "bob", "--as", "admin").exit_code == 0
    assert cli("whoami", "--as", "bob").exit_code == 4
    result = login(cli, "bob")
    assert result.exit_code == 4
    assert error_line(result) == "error: sign-in: account 'bob' is disabled"


def test_claims_token_serves_automation_and_cannot_be_overridden_by_as(people: Runtime, cli, monkeypatch):
    issued = ident.issue_token(people, as_user(people, "admin"), "system")
    monkeypatch.setenv("CLAIMS_TOKEN", issued.token)
    from claims.settings import get_settings

    get_settings.cache_clear()
    assert json.loads(cli("whoami", "--json").stdout) == {"name": "system", "role": "system"}
    other = cli("whoami", "--as", "bob")
    assert other.exit_code == 4
    assert error_line(other) == "error: not signed in as bob: CLAIMS_TOKEN belongs to system"
    monkeypatch.setenv("CLAIMS_TOKEN", "clm_forged")
    get_settings.cache_clear()
    forged = cli("whoami")
    assert forged.exit_code == 4 and error_line(forged) == "error: CLAIMS_TOKEN: token: unknown or revoked"


def test_service_tokens_only_for_the_system_user_and_only_by_an_admin(people: Runtime, cli):
    person = cli("user", "token-issue", "bob", "--as", "admin")
    assert person.exit_code == 1 and "people sign in themselves" in error_line(person)
    analyst = cli("user", "token-issue", "system", "--as", "alice")
    assert analyst.exit_code == 4
    issued = cli("user", "token-issue", "system", "--as", "admin")
    assert issued.exit_code == 0, issued.stderr
    assert services.verify_token(people, issued.stdout.strip()).name == "system"


def test_serve_refuses_to_run_as_a_person(people: Runtime, cli):
    result = cli("serve", "--as", "bob")
    assert result.exit_code != 0  # --as is not an option of serve: usage error
    result = cli("serve")  # alice is current
    assert result.exit_code == 4
    assert "serve: runs as the system user, not alice" in error_line(result)


def test_bootstrap_only_while_the_database_has_no_people(db_url: str, point_settings_at, cli):
    point_settings_at(db_url)
    first = cli("user", "add", "root", "--role", "admin", "--password-stdin", input=PASSWORD + "\n")
    assert first.exit_code == 0, first.stderr
    second = cli("user", "add", "other", "--role", "admin", "--password-stdin", input=PASSWORD + "\n")
    assert second.exit_code == 4
    assert error_line(second) == "error: not signed in: run claims login NAME"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (" bob", "name: ' bob' is not a valid user name"),
        ("bob ", "name: 'bob ' is not a valid user name"),
        ("", "name: '' is not a valid user name"),
        ("a/b", "name: 'a/b' is not a valid user name"),
    ],
)
def test_an_invalid_user_name_is_refused_with_what_is_wrong(people: Runtime, cli, db_snapshot, name, message):
    before = db_snapshot(people.database_url)
    result = cli("user", "add", name, "--role", "reviewer", "--as", "admin", "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 1
    assert error_line(result).startswith(f"error: {message}")
    assert db_snapshot(people.database_url) == before


def test_a_short_password_is_refused(people: Runtime, cli):
    result = cli("user", "add", "eve", "--role", "reviewer", "--as", "admin", "--password-stdin", input="short\n")
    assert result.exit_code == 1
    assert error_line(result) == "error: password: must be at least 12 characters (got 5)"


def test_passwd_sets_own_password_and_unlocks(people: Runtime, cli):
    new = "a brand new passphrase"
    changed = cli("user", "passwd", "--as", "bob", "--password-stdin", input=new + "\n")
    assert changed.exit_code == 0, changed.stderr
    assert login(cli, "bob", new).exit_code == 0
    assert login(cli, "bob", PASSWORD).exit_code == 4
    other = cli("user", "passwd", "mia", "--as", "bob", "--password-stdin", input=new + "\n")
    assert other.exit_code == 4


def test_demo_signs_its_users_in_so_the_readme_examples_run(db_url: str, point_settings_at, cli, own_config_dir):
    from claims.cli.run import sign_in_demo_users

    point_settings_at(db_url)
    rt = Runtime(db_url)
    assert sign_in_demo_users(rt) == ["admin", "alice", "bob", "carol", "mia"]
    assert json.loads(cli("whoami", "--json").stdout)["name"] == "alice"
    assert json.loads(cli("whoami", "--as", "bob", "--json").stdout) == {"name": "bob", "role": "reviewer"}
    stored = json.loads((own_config_dir / "tokens.json").read_text())
    (entry,) = stored.values()
    assert login(cli, "carol", entry["demo_passwords"]["carol"]).exit_code == 0
    assert sign_in_demo_users(rt) == []  # a second demo run signs the same users in again
    assert json.loads(cli("whoami", "--as", "mia", "--json").stdout)["name"] == "mia"


# --- issue 19, section 3: the services take a proven identity, and re-read it on every use case -----------


def test_an_identity_proven_before_its_account_was_disabled_is_refused(rt: Runtime, db_url: str, db_snapshot):
    """The token was good when checked; the admin disables the account after: the next use case refuses it."""
    alice = as_user(rt, "alice")
    ident.disable_user(rt, as_user(rt, "admin"), "alice")
    before = db_snapshot(db_url)
    with pytest.raises(PermissionDenied, match="user: account 'alice' is disabled"):
        services.add_evidence(rt, alice, "x", "y", "supports", credibility=2, summary="after the account was disabled")
    with pytest.raises(PermissionDenied, match="user: account 'alice' is disabled"):
        ident.list_tokens(rt, alice, "alice")  # managing one's own account too
    assert db_snapshot(db_url) == before


def test_an_identity_proven_before_its_role_changed_acts_with_the_new_role(rt: Runtime, db_url: str, db_snapshot):
    """The role at proof time is not what decides: `authorize` reads the user's role again."""
    bob = as_user(rt, "bob")
    assert bob.role == "reviewer" and bob.may("approve")
    with rt.uow() as uow:  # as a migration or an admin's fix would: the role changes after the proof
        uow.users.get("bob").role = "manager"
        uow.commit()
    before = db_snapshot(db_url)
    case_file = services.read_case_file(Path(__file__).parents[2] / "examples" / "eu-drones-2024.yaml")
    with pytest.raises(PermissionDenied, match="user: 'bob' has role manager, which may not import"):
        services.import_case(rt, bob, case_file)  # a reviewer may import; the manager he is now may not
    assert db_snapshot(db_url) == before


def test_a_name_is_not_an_identity(rt: Runtime):
    """Services never take a name: `authorize` refuses a string, and no code outside identity.py builds one."""
    from claims.services.runtime import authorize

    with rt.uow(write=False) as uow, pytest.raises(TypeError, match="expected a proven Identity, got str"):
        authorize(uow, "alice", "read")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"only claims\.services\.identity builds one"):
        services.Identity("alice", "admin")
