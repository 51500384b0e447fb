"""Signed case files (issue 8.5) and readiness only on solid ground (issue 8.6), on SQLite and PostgreSQL.

A case file's confirm/refute history counts only under a signature that verifies against a
key trusted here; otherwise it is provenance, and the claim lands where its evidence puts it.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from identity_helpers import as_user
from integration_helpers import error_line
from sqlalchemy import select

from claims import services
from claims.demo import DEMO_USERS
from claims.services import Runtime
from claims.services.casefile import dump_case
from claims.services.errors import InvalidInput
from claims.services.provenance import init_key, key_id_of, sign_case
from claims.settings import get_settings
from claims.store.models import Event


def forged(evidence: list[dict[str, Any]], *, stage: str = "confirmed") -> dict[str, Any]:
    """A case file whose history says `factory` was confirmed and approved by bob."""
    history: list[dict[str, Any]] = [{"stage": "reported", "at": "2024-09-01T09:00:00Z", "by": "alice"}]
    if stage != "reported":
        history.append({"stage": "corroborated", "at": "2024-09-02T09:00:00Z", "by": "system"})
    if stage == "confirmed":
        history.append(
            {
                "stage": "confirmed",
                "at": "2024-09-03T09:00:00Z",
                "by": "alice",
                "approved_by": "bob",
                "rationale": "bob looked at it, trust me",
            }
        )
    return {
        "case": {"key": "forged", "title": "A forged case"},
        "sources": [
            {"key": "rumour", "name": "A rumour", "kind": "other", "reliability": "F"},
            {"key": "reuters", "name": "Reuters", "kind": "media", "reliability": "B"},
            {"key": "afp", "name": "AFP", "kind": "media", "reliability": "C"},
            {"key": "osint", "name": "OSINT", "kind": "osint", "reliability": "C"},
        ],
        "claims": [
            {
                "key": "factory",
                "statement": "There is a factory.",
                "stage": stage,
                "history": history,
                "evidence": evidence,
            }
        ],
        "policy_actions": [
            {
                "key": "list-them",
                "title": "List the operators",
                "requires": [{"claim": "factory", "stage": "confirmed"}],
            }
        ],
    }


RUMOUR = [{"source": "rumour", "stance": "supports", "credibility": 6, "summary": "someone said so"}]
THREE = [
    {"source": "reuters", "stance": "supports", "credibility": 2, "summary": "Reuters saw it"},
    {"source": "afp", "stance": "supports", "credibility": 3, "summary": "AFP saw it"},
    {"source": "osint", "stance": "supports", "credibility": 3, "summary": "satellite images"},
]


@contextmanager
def other_instance(folder: Path) -> Iterator[None]:
    """Act, for a moment, as another instance with its own key folder."""
    before = os.environ.get("CLAIMS_KEY_DIR")
    os.environ["CLAIMS_KEY_DIR"] = str(folder)
    get_settings.cache_clear()
    try:
        yield
    finally:
        os.environ["CLAIMS_KEY_DIR"] = before or ""
        get_settings.cache_clear()


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(dump_case(data), encoding="utf-8")
    return path


def event_payloads(rt: Runtime, kind: str) -> list[dict[str, Any]]:
    with rt.uow(write=False) as uow:
        return [e.payload for e in uow.session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id))]


def readiness(rt: Runtime, key: str) -> dict[str, Any]:
    return next(a for a in services.readiness_json(services.action_readiness(rt)) if a["key"] == key)


@pytest.mark.parametrize("suffix", ["yaml", "json"])  # JSON takes the streaming bulk path
def test_a_forged_unsigned_case_file_does_not_make_its_action_ready(
    rt: Runtime, tmp_path: Path, cli, env_db: str, suffix: str
):
    """Issue 8: 'confirmed, approved_by bob' with one F6 rumour must not land confirmed, nor make READY."""
    path = tmp_path / f"forged.{suffix}"
    path.write_text(dump_case(forged(RUMOUR), suffix), encoding="utf-8")
    assert cli("import", path, "--as", "alice").exit_code == 0
    detail = services.claim_detail(rt, "factory")
    assert (detail["stage"], detail["at_risk"]) == ("reported", False)
    assert detail["reviews"] == []  # reported -> confirmed is no transition a reviewer could approve
    result = cli("readiness", "--json")
    (action,) = json.loads(result.stdout)
    assert action["ready"] is False
    assert action["requirements"][0]["stage"] == "reported"
    # The file's story is kept, marked as what it is.
    (reported,) = event_payloads(rt, "claim.reported")
    assert reported["provenance"]["signature"] == "none"
    assert reported["provenance"]["history"][-1]["approved_by"] == "bob"
    assert event_payloads(rt, "claim.stage_changed") == []
    (imported,) = event_payloads(rt, "case.imported")
    assert (imported["signature"], imported["attested_by"]) == ("none", None)


def test_a_forged_file_signed_by_a_trusted_key_lands_confirmed_but_at_risk_and_not_ready(
    rt: Runtime, tmp_path: Path, cli, env_db: str
):
    """Even a trusted signer's say-so is not solid ground: the rumour cannot carry 'confirmed'."""
    init_key()
    path = write(tmp_path / "signed.yaml", sign_case(forged(RUMOUR)))
    assert cli("import", path, "--as", "alice").exit_code == 0
    assert services.claim_detail(rt, "factory")["stage"] == "confirmed"
    (action,) = json.loads(cli("readiness", "--json").stdout)
    assert action["ready"] is False
    (req,) = action["requirements"]
    assert (req["stage"], req["met"]) == ("confirmed", False)
    assert req["gaps"][0].startswith("at risk: no longer meets confirmed: needs 3 more independent supporting")
    text = cli("readiness").stdout
    assert "NOT READY" in text and "at risk" in text
    # `claims show` says it once, not "no longer meets confirmed: no longer meets confirmed:".
    shown = cli("show", "factory").stdout
    assert shown.count("no longer meets confirmed") == 1


def test_an_untrusted_file_lands_where_its_evidence_puts_it_and_waits_for_a_reviewer_here(rt: Runtime, tmp_path: Path):
    with other_instance(tmp_path / "elsewhere"):
        init_key()
        signed = sign_case(forged(THREE))
    services.import_case(rt, as_user(rt, "carol"), services.read_case_file(write(tmp_path / "untrusted.yaml", signed)))
    detail = services.claim_detail(rt, "factory")
    assert detail["stage"] == "corroborated"  # criteria for corroborated hold; confirmed needs sign-off here
    (review,) = services.review_queue(rt)
    assert (review["from"], review["to"], review["requested_by"]) == ("corroborated", "confirmed", "carol")
    assert "signed by untrusted key" in review["reason"] and "bob looked at it, trust me" in review["reason"]
    assert readiness(rt, "list-them")["ready"] is False
    with pytest.raises(services.RuleViolation, match="four eyes"):
        services.approve(
            rt, as_user(rt, "carol"), review["id"]
        )  # the importer brought the claim: not the second pair of eyes
    services.approve(rt, as_user(rt, "bob"), review["id"], "checked the three lines myself")
    assert services.claim_detail(rt, "factory")["stage"] == "confirmed"
    assert readiness(rt, "list-them")["ready"] is True
    assert services.audit_verify(rt).ok


def test_a_trusted_key_lets_its_history_stand_and_the_event_names_the_key(rt: Runtime, tmp_path: Path, cli, env_db):
    with other_instance(tmp_path / "brussels"):
        public = init_key()
        signed = sign_case(forged(THREE))
    path = write(tmp_path / "brussels.yaml", signed)
    result = cli("trust", "add", "brussels-desk", public, "--as", "alice")
    assert result.exit_code == 4, result.stderr  # only an admin decides whom to trust
    assert cli("trust", "add", "brussels-desk", public, "--as", "admin").exit_code == 0
    assert [k["name"] for k in json.loads(cli("trust", "list", "--json").stdout)] == ["brussels-desk"]
    services.import_case(rt, as_user(rt, "alice"), services.read_case_file(path))
    assert services.claim_detail(rt, "factory")["stage"] == "confirmed"
    confirmed = event_payloads(rt, "claim.stage_changed")[-1]
    assert (confirmed["approved_by"], confirmed["attested_by"]) == ("bob", key_id_of(public))
    assert event_payloads(rt, "case.imported")[0]["signature"] == "trusted"
    assert services.review_queue(rt) == []
    assert readiness(rt, "list-them")["ready"] is True


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("summary: Reuters saw it", "summary: Reuters saw iT"),  # a value
        ("credibility: 3", "credibility: 2"),  # a grade
        ("by: alice", "by: alicf"),  # who did it
        ("value: ", "value: A"),  # the signature itself
    ],
    ids=["summary", "credibility", "history", "signature"],
)
def test_a_signed_file_changed_by_one_byte_is_refused_in_one_line(
    rt: Runtime, tmp_path: Path, cli, env_db: str, db_snapshot, old: str, new: str
):
    init_key()
    text = dump_case(sign_case(forged(THREE)))
    assert old in text
    path = tmp_path / "tampered.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    before = db_snapshot(env_db)
    result = cli("import", path, "--as", "alice")
    assert result.exit_code == 1
    line = error_line(result)
    assert line.startswith("error: case file tampered.yaml: signature")
    assert db_snapshot(env_db) == before


def test_export_then_import_into_an_empty_database_gives_the_same_file(
    demo: Runtime, cli, tmp_path: Path, fresh_database: Callable[[], str], point_settings_at, signed_in
):
    """The demo fixture signed the example with this instance's key; the same key signs the export."""
    first = tmp_path / "first.yaml"
    assert cli("export", "-o", first).exit_code == 0
    assert "signature:" in first.read_text(encoding="utf-8")
    as_json = tmp_path / "first.json"
    assert cli("export", "-o", as_json, "--format", "json").exit_code == 0
    point_settings_at(fresh_database())
    fresh = Runtime(get_settings().database_url)
    services.ensure_users(fresh, DEMO_USERS)
    signed_in(fresh, "alice")
    assert cli("import", first, "--as", "alice").exit_code == 0
    second = tmp_path / "second.yaml"
    assert cli("export", "-o", second).exit_code == 0
    assert second.read_bytes() == first.read_bytes()
    assert services.claim_detail(fresh, "dual-use-supply")["stage"] == "confirmed"
    point_settings_at(fresh_database())  # the JSON rendering of the same signed case reads back the same
    services.ensure_users(Runtime(get_settings().database_url), DEMO_USERS)
    signed_in(Runtime(get_settings().database_url), "alice")
    assert cli("import", as_json, "--as", "alice").exit_code == 0
    third = tmp_path / "third.yaml"
    assert cli("export", "-o", third).exit_code == 0
    assert third.read_bytes() == first.read_bytes()


def test_the_private_key_is_readable_by_its_owner_only(rt: Runtime, cli, env_db: str, key_dir: Path):
    result = cli("keys", "show")
    assert result.exit_code == 1 and "claims keys init" in error_line(result)
    assert cli("keys", "init").exit_code == 0
    (pem,) = key_dir.glob("*.pem")
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    public = cli("keys", "show").stdout.split()[1]
    assert [k["public_key"] for k in json.loads(cli("trust", "list", "--json").stdout)] == [public]
    assert cli("keys", "init").exit_code == 1  # never overwritten
    pem.chmod(0o644)
    result = cli("keys", "show")
    assert result.exit_code == 1 and "mode 644" in error_line(result)


def test_an_unsigned_export_says_so(demo: Runtime, cli, tmp_path: Path, key_dir: Path):
    for pem in key_dir.glob("*.pem"):
        pem.unlink()
    result = cli("export", "-o", tmp_path / "plain.yaml")
    assert result.exit_code == 0
    assert "unsigned" in result.stderr
    assert "signature" not in yaml.safe_load((tmp_path / "plain.yaml").read_text(encoding="utf-8"))


def test_a_signature_naming_another_key_is_refused(tmp_path: Path):
    init_key()
    signed = sign_case(forged(THREE))
    signed["signature"]["key_id"] = "ed25519:0000000000000000"
    with pytest.raises(InvalidInput, match=r"signature\.key_id"):
        services.validate_case(signed)
