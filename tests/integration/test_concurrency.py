"""Optimistic concurrency on claims: when two people change the same claim at once, one wins and
the other gets ConcurrencyConflict; nothing is silently overwritten."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from identity_helpers import as_user, system_identity
from integration_helpers import error_line, event_count, events_after, small_case
from process_helpers import run_together

from claims import services
from claims.demo import DEMO_CASE
from claims.domain import Stage
from claims.services import Runtime
from claims.services.evidence import EvidenceAdded
from claims.services.identity import issue_token_unchecked
from claims.store.events import EventLog
from claims.store.uow import ConcurrencyConflict, UnitOfWork


def race(rt: Runtime, *calls):
    """Run the calls in real threads released together; return each result or exception.

    Each call's first argument is who acts: a name is proven here (`as_user`), before the race starts."""
    calls = tuple(
        (fn, (as_user(rt, args[0]) if isinstance(args[0], str) else args[0], *args[1:]), kw) for fn, args, kw in calls
    )
    barrier = threading.Barrier(len(calls))

    def run(call):
        fn, args, kwargs = call
        barrier.wait(timeout=10)
        try:
            return fn(rt, *args, **kwargs)
        except Exception as exc:  # the outcome under test
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_two_people_advance_the_same_claim_at_once_one_wins(three_lines: Runtime):
    rt = three_lines
    version = services.claim_detail(rt, "strong")["version"]
    count = event_count(rt)
    outcomes = race(
        rt,
        (services.advance, ("alice", "strong", Stage.CORROBORATED), {"expect_version": version}),
        (services.advance, ("bob", "strong", Stage.CORROBORATED), {"expect_version": version}),
    )
    winners = [o for o in outcomes if isinstance(o, services.AdvanceResult)]
    losers = [o for o in outcomes if isinstance(o, ConcurrencyConflict)]
    assert (len(winners), len(losers)) == (1, 1), outcomes
    detail = services.claim_detail(rt, "strong")
    assert (detail["stage"], detail["version"]) == ("corroborated", version + 1)
    (event,) = events_after(rt, count)
    assert event["kind"] == "claim.stage_changed"
    assert services.audit_verify(rt).ok


def test_two_reviewers_approving_one_request_at_once_move_the_claim_once(three_lines: Runtime):
    rt = three_lines
    services.advance(rt, as_user(rt, "alice"), "strong", Stage.CORROBORATED)
    review = services.advance(rt, as_user(rt, "alice"), "strong", Stage.CONFIRMED).review_id
    count = event_count(rt)
    outcomes = race(rt, (services.approve, ("bob", review), {}), (services.approve, ("carol", review), {}))
    winners = [o for o in outcomes if isinstance(o, services.Decision)]
    assert len(winners) == 1, outcomes
    (loser,) = [o for o in outcomes if o not in winners]
    # SQLite serialises writers (the loser then sees the decided review); PostgreSQL fails the stale UPDATE.
    assert isinstance(loser, ConcurrencyConflict | services.RuleViolation), loser
    assert [e["kind"] for e in events_after(rt, count)] == ["review.approved", "claim.stage_changed"]
    (decided,) = [r for r in services.review_queue(rt, None) if r["id"] == review]
    assert decided["status"] == "approved"
    assert decided["decided_by"] in {"bob", "carol"}


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_on_postgres_the_second_update_fails_instead_of_overwriting(three_lines: Runtime, db_url: str):
    """Two sessions hold the same version of a claim; the first commit wins, the second UPDATE
    matches no row (WHERE version = old) and is refused. Writers queue (see UnitOfWork), so the
    second session here is one that skips the queue: the version check still holds behind it."""
    with UnitOfWork(db_url) as first, UnitOfWork(db_url, write=False) as second:
        mine, theirs = first.claims.get("strong"), second.claims.get("strong")
        assert mine is not None and theirs is not None
        assert mine.version == theirs.version
        mine.assignee = "alice"
        first.commit()
        theirs.assignee = "bob"
        with pytest.raises(ConcurrencyConflict, match="changed by someone else"):
            second.commit()
    with UnitOfWork(db_url, write=False) as check:
        claim = check.claims.get("strong")
        assert claim is not None
        assert claim.assignee == "alice"


def test_advance_if_version_stale_exits_5_and_changes_nothing(three_lines: Runtime, cli, env_db: str, db_snapshot):
    stale = services.claim_detail(three_lines, "strong")["version"]
    services.add_evidence(
        three_lines, as_user(three_lines, "alice"), "strong", "reuters", "supports", credibility=1, summary="update"
    )
    before = db_snapshot(env_db)
    result = cli("advance", "strong", "--to", "corroborated", "--if-version", stale, "--as", "alice")
    assert result.exit_code == 5
    line = error_line(result)
    assert "version" in line and f"not {stale}" in line
    assert db_snapshot(env_db) == before

    current = services.claim_detail(three_lines, "strong")["version"]
    result = cli("advance", "strong", "--to", "corroborated", "--if-version", current, "--as", "alice", "--json")
    assert result.exit_code == 0, result.stderr
    assert services.claim_detail(three_lines, "strong")["stage"] == "corroborated"


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_batch_assessment_and_new_evidence_on_the_same_claim_do_not_deadlock(
    three_lines: Runtime, monkeypatch: pytest.MonkeyPatch
):
    """The interleaving that deadlocked: an analyst's transaction has written the claim row and
    not yet its event; the batch assessment holds the event log's lock and comes to that claim.
    Now the analyst queues behind the assessment before touching any row, so one of them gets a
    clean ConcurrencyConflict at worst, never a database deadlock error."""
    rt = three_lines
    second = small_case({"afp": "C", "osint": "C"}, {"second": [("afp", "supports", 3), ("osint", "supports", 3)]})
    services.import_case(rt, as_user(rt, "alice"), second)
    analyst_wrote_row, assessment_started, analyst_done = threading.Event(), threading.Event(), threading.Event()
    assessment_logging = threading.Event()
    real_flush, real_head = UnitOfWork.flush, EventLog._current_head
    seen: dict[str, bool] = {}

    def flush(self: UnitOfWork) -> None:
        real_flush(self)
        if threading.current_thread().name == "analyst":
            analyst_wrote_row.set()
            # Hold the row, uncommitted, until the assessment has begun its own transaction.
            seen["assessment_started_while_row_held"] = assessment_started.wait(10)
            assessment_logging.wait(0.5)

    def head(self: EventLog) -> str:
        result = real_head(self)
        if threading.current_thread().name == "assessment":
            assessment_logging.set()
        return result

    monkeypatch.setattr(UnitOfWork, "flush", flush)
    monkeypatch.setattr(EventLog, "_current_head", head)
    outcomes: dict[str, object] = {}

    def analyst() -> None:
        try:
            outcomes["analyst"] = services.add_evidence(
                rt, as_user(rt, "alice"), "second", "reuters", "supports", credibility=2, summary="more"
            )
        except Exception as exc:  # recorded and asserted below
            outcomes["analyst"] = exc
        finally:
            analyst_done.set()

    def assessment() -> None:
        seen["analyst_wrote_row_first"] = analyst_wrote_row.wait(10)
        seen["analyst_still_open"] = not analyst_done.is_set()
        assessment_started.set()
        try:  # `strong` moves first, `second` (whose row the analyst holds) next
            outcomes["assessment"] = services.assess_claims(rt, system_identity(), ["strong", "second"])
        except Exception as exc:  # recorded and asserted below
            outcomes["assessment"] = exc

    threads = [threading.Thread(target=analyst, name="analyst"), threading.Thread(target=assessment, name="assessment")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # Both finished: a deadlock that hung a thread would fail here, not pass silently.
    assert [t.is_alive() for t in threads] == [False, False]
    # The interleaving under test happened: the analyst had written the claim row and had not
    # committed when the assessment began its transaction.
    assert seen == {
        "analyst_wrote_row_first": True,
        "analyst_still_open": True,
        "assessment_started_while_row_held": True,
    }, seen
    # The analyst queued first and wins; the assessment either ran after it or lost cleanly on the
    # stale claim version - never on a database deadlock (SQLSTATE 40P01).
    assert isinstance(outcomes["analyst"], services.evidence.EvidenceAdded), outcomes
    loser = outcomes["assessment"]
    if isinstance(loser, Exception):
        assert isinstance(loser, ConcurrencyConflict), outcomes
        assert "deadlock" not in f"{loser} {loser.__cause__}", outcomes
        assert "changed by someone else" in str(loser), outcomes
    assert services.audit_verify(rt).ok


def test_two_imports_of_the_same_new_case_at_once_leave_one_copy(rt: Runtime):
    case_file = services.read_case_file(DEMO_CASE)
    outcomes = race(
        rt, (services.import_case, ("alice", case_file), {}), (services.import_case, ("bob", case_file), {})
    )
    reports = [o for o in outcomes if isinstance(o, services.ImportReport)]
    assert [r.changed for r in reports].count(True) == 1, outcomes
    for other in outcomes:
        if isinstance(other, Exception):
            # PostgreSQL: the second INSERT of the case key fails; the message stays one line for the CLI.
            assert isinstance(other, ConcurrencyConflict), other
            assert "\n" not in str(other)
    exported = services.export_case(rt, "eu-drones-2024")
    assert len(exported["claims"]) == len(case_file.claims)
    assert services.audit_verify(rt).ok


# --- issue 9.1: a review is decided once, an item retracted once ---------------------------------

DECIDERS = ["bob", "carol", "admin", "bob", "carol", "admin", "bob", "carol"]


def _decisions(rt: Runtime, review: int) -> list[dict]:
    return [e for e in events_after(rt, 0) if e["kind"].startswith("review.") and e["payload"]["review"] == review]


@pytest.mark.parametrize("round_", range(3))
def test_eight_deciders_at_once_one_decision_one_event(three_lines: Runtime, round_: int):
    """Half approve, half reject, all released together: exactly one wins and writes its event; the
    seven others get ConcurrencyConflict (exit 5) and write nothing; claim stage and review agree."""
    rt = three_lines
    services.advance(rt, as_user(rt, "alice"), "strong", Stage.CORROBORATED)
    review = services.advance(rt, as_user(rt, "alice"), "strong", Stage.CONFIRMED).review_id
    count = event_count(rt)
    calls = [
        (services.approve, (who, review), {}) if i % 2 == 0 else (services.reject, (who, review, f"no {i}"), {})
        for i, who in enumerate(DECIDERS)
    ]
    outcomes = race(rt, *calls)
    winners = [o for o in outcomes if isinstance(o, services.Decision)]
    losers = [o for o in outcomes if o not in winners]
    assert len(winners) == 1, outcomes
    assert all(isinstance(o, ConcurrencyConflict) for o in losers), losers
    (winner,) = winners
    new = events_after(rt, count)
    expected = ["review.approved", "claim.stage_changed"] if winner.status == "approved" else ["review.rejected"]
    assert [e["kind"] for e in new] == expected
    assert len(_decisions(rt, review)) == 2  # requested + the one decision
    (row,) = [r for r in services.review_queue(rt, None) if r["id"] == review]
    assert row["status"] == winner.status
    stage = services.claim_detail(rt, "strong")["stage"]
    assert stage == ("confirmed" if winner.status == "approved" else "corroborated")
    assert services.audit_verify(rt).ok


@pytest.mark.parametrize("round_", range(3))
def test_eight_retractions_of_one_item_at_once_one_wins(three_lines: Runtime, round_: int):
    rt = three_lines
    (item,) = [e for e in services.claim_detail(rt, "strong")["evidence"] if e["source"] == "afp"]
    count = event_count(rt)
    who = ["alice", "bob", "carol", "admin"] * 2
    outcomes = race(rt, *[(services.retract_evidence, (w, item["id"], f"reason {i}"), {}) for i, w in enumerate(who)])
    winners = [o for o in outcomes if isinstance(o, EvidenceAdded)]
    assert len(winners) == 1, outcomes
    assert all(isinstance(o, ConcurrencyConflict) for o in outcomes if o not in winners), outcomes
    (event,) = events_after(rt, count)
    assert event["kind"] == "evidence.retracted"
    (after,) = [e for e in services.claim_detail(rt, "strong")["evidence"] if e["source"] == "afp"]
    # The stored who and why are the winner's, the same as its event: nobody overwrote them.
    assert (after["retracted_by"], after["retraction_reason"]) == (event["actor"], event["rationale"])
    assert services.audit_verify(rt).ok


@pytest.mark.slow
def test_eight_cli_deciders_in_eight_processes_one_exit_0_seven_exit_5(three_lines: Runtime, db_url: str, tmp_path):
    """`claims review approve|reject N` in eight processes at the same instant, as the issue found it."""
    rt = three_lines
    services.advance(rt, as_user(rt, "alice"), "strong", Stage.CORROBORATED)
    review = services.advance(rt, as_user(rt, "alice"), "strong", Stage.CONFIRMED).review_id
    count = event_count(rt)
    commands = [
        ["review", "approve", review] if i % 2 == 0 else ["review", "reject", review, "--rationale", "no"]
        for i, _ in enumerate(DECIDERS)
    ]
    tokens = [issue_token_unchecked(rt, who, reason="concurrency test").token for who in DECIDERS]
    count = event_count(rt)  # after the sign-ins' own events
    finished = run_together(db_url, commands, cwd=tmp_path, tokens=tokens)
    codes = sorted(f.code for f in finished)
    assert codes == [0] + [5] * 7, [(f.code, f.stderr[-300:]) for f in finished]
    for loser in (f for f in finished if f.code == 5):
        (line,) = loser.stderr.strip().splitlines()
        assert line.startswith(f"error: review: #{review} is already "), line
    (winner,) = [f for f in finished if f.code == 0]
    kinds = [e["kind"] for e in events_after(rt, count)]
    assert kinds == (["review.approved", "claim.stage_changed"] if winner.args[1] == "approve" else ["review.rejected"])
    assert services.audit_verify(rt).ok
