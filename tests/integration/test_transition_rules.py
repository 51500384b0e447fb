"""Every path that changes a stage asks the one domain rule (claims.domain.transitions).

Here: a review approved after its criteria stopped holding, and a case file whose history
breaks the stage rules - both refused with one line, the database unchanged. On SQLite and
PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from identity_helpers import as_user
from integration_helpers import error_line

from claims import services
from claims.domain import Stage
from claims.services import InvalidInput, RuleViolation, Runtime
from claims.services.casefile import CaseFile
from claims.services.provenance import init_key, sign_case, verify_signature

CO, CF = Stage.CORROBORATED, Stage.CONFIRMED


def test_approving_after_the_criteria_stopped_holding_is_refused(three_lines: Runtime, db_url: str, db_snapshot):
    rt = three_lines
    services.advance(rt, as_user(rt, "alice"), "strong", CO)
    review = services.advance(rt, as_user(rt, "alice"), "strong", CF).review_id
    assert review is not None
    # The request was sound; then a contradicting C3 line arrives before the reviewer looks.
    services.add_evidence(
        rt, as_user(rt, "bob"), "strong", "afp", "contradicts", credibility=3, summary="AFP now doubts it"
    )
    before = db_snapshot(db_url)
    with pytest.raises(RuleViolation, match=rf"review: #{review} can no longer be approved, 'strong' misses confirmed"):
        services.approve(rt, as_user(rt, "carol"), review, "looked fine last week")
    assert db_snapshot(db_url) == before
    (queued,) = services.review_queue(rt)
    assert (queued["id"], queued["status"], queued["evidence_met"]) == (review, "pending", False)
    assert services.claim_detail(rt, "strong")["stage"] == "corroborated"


def case_with_history(history: list[dict[str, Any]], stage: str) -> dict[str, Any]:
    return {
        "case": {"key": "hist", "title": "History"},
        "claims": [
            {"key": "ok", "statement": "A claim with a sound history"},
            {"key": "bad", "statement": "A claim with a broken history", "stage": stage, "history": history},
        ],
    }


REPORTED = {"stage": "reported", "at": "2024-01-01T00:00:00Z", "by": "alice"}
CORROBORATED = {"stage": "corroborated", "at": "2024-01-02T00:00:00Z", "by": "system"}

BROKEN_HISTORIES = [
    (
        "skips-corroborated",
        [REPORTED, {"stage": "confirmed", "at": "2024-01-03T00:00:00Z", "by": "alice", "approved_by": "bob"}],
        "confirmed",
        "claims[1].history[1]: reported -> confirmed is not allowed",
    ),
    (
        "refuted-to-confirmed",
        [
            REPORTED,
            {"stage": "refuted", "at": "2024-01-03T00:00:00Z", "by": "alice", "approved_by": "bob"},
            {"stage": "confirmed", "at": "2024-01-04T00:00:00Z", "by": "alice", "approved_by": "bob"},
        ],
        "confirmed",
        "claims[1].history[2]: refuted -> confirmed is not allowed",
    ),
    (
        "confirmed-without-approver",
        [REPORTED, CORROBORATED, {"stage": "confirmed", "at": "2024-01-03T00:00:00Z", "by": "alice"}],
        "confirmed",
        "claims[1].history[2].approved_by: needs someone other than 'alice'; it has no approved_by (four eyes)",
    ),
    (
        "refuted-by-its-requester",
        [REPORTED, {"stage": "refuted", "at": "2024-01-03T00:00:00Z", "by": "alice", "approved_by": "alice"}],
        "refuted",
        "claims[1].history[1].approved_by: needs someone other than 'alice'; 'alice' requested it (four eyes)",
    ),
    (
        "reopened-without-rationale",
        [
            REPORTED,
            CORROBORATED,
            {"stage": "confirmed", "at": "2024-01-03T00:00:00Z", "by": "alice", "approved_by": "bob"},
            {"stage": "corroborated", "at": "2024-01-04T00:00:00Z", "by": "carol"},
        ],
        "corroborated",
        "claims[1].history[3].rationale: reopening confirmed -> corroborated needs a rationale",
    ),
]


@pytest.mark.parametrize(
    ("history", "stage", "message"), [c[1:] for c in BROKEN_HISTORIES], ids=[c[0] for c in BROKEN_HISTORIES]
)
def test_a_history_that_breaks_the_stage_rules_is_refused_naming_the_step(
    rt: Runtime, db_url: str, db_snapshot, history: list[dict[str, Any]], stage: str, message: str
):
    data = case_with_history(history, stage)
    with pytest.raises(InvalidInput) as caught:
        services.validate_case(data, origin="case file hist.yaml")
    assert str(caught.value).startswith(f"case file hist.yaml: {message}")
    # The import replays a vouched-for history through the same rule even for a file nobody validated.
    init_key()
    before = db_snapshot(db_url)
    unchecked = CaseFile.model_validate(data)
    unchecked._attestation = verify_signature(sign_case(data))  # this instance's key: trusted, replayed
    assert unchecked.attestation is not None
    with pytest.raises(InvalidInput) as replayed:
        services.import_case(rt, as_user(rt, "alice"), unchecked)
    assert str(replayed.value).startswith(f"case file: {message}")
    assert db_snapshot(db_url) == before


def test_the_command_line_refuses_a_broken_history_with_one_line(cli, env_db: str, db_snapshot, tmp_path, rt: Runtime):
    (_, history, stage, message) = BROKEN_HISTORIES[0]
    path = tmp_path / "hist.yaml"
    path.write_text(yaml.safe_dump(case_with_history(history, stage)), encoding="utf-8")
    before = db_snapshot(env_db)
    result = cli("import", path, "--as", "alice")
    assert result.exit_code == 1
    assert error_line(result).endswith(
        f"case file hist.yaml: {message}; from reported a claim can go to corroborated, refuted"
    )
    assert db_snapshot(env_db) == before


def test_a_sound_history_imports_and_exports_unchanged(rt: Runtime):
    history = [
        REPORTED,
        CORROBORATED,
        {"stage": "confirmed", "at": "2024-01-03T00:00:00Z", "by": "alice", "approved_by": "bob"},
        {"stage": "reported", "at": "2024-01-04T00:00:00Z", "by": "carol", "rationale": "forged"},
    ]
    init_key()  # signed by this instance's key, so the history is vouched for and replayed
    services.import_case(
        rt, as_user(rt, "alice"), services.validate_case(sign_case(case_with_history(history, "reported")))
    )
    (_, bad) = services.export_case(rt, "hist")["claims"]
    assert [(h["stage"], h["by"], h.get("approved_by")) for h in bad["history"]] == [
        ("reported", "alice", None),
        ("corroborated", "system", None),
        ("confirmed", "alice", "bob"),
        ("reported", "carol", None),
    ]
