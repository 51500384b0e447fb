"""Collection tasks from the demo's gaps (issue 18), on SQLite and PostgreSQL: planned, closed by the
evidence or decision that meets them, withdrawn when the claim moves on, the plan per action, the
single-source stress test, assign/take (two at once: one owner) and bad input."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from identity_helpers import as_user, system_identity
from integration_helpers import error_line, event_count, events_after

from claims import services
from claims.services import Runtime, tasks
from claims.services.access import system_reader
from claims.services.authoring import add_source, edit_action, list_actions
from claims.store.uow import ConcurrencyConflict

C3_FACTORY = "factory-exists|confirmed|>= 3 independent supporting line(s) graded C3 or better"


def by_key(rt: Runtime, status: str | None = "open") -> dict[str, dict]:
    with rt.uow(write=False) as uow:
        rows = uow.tasks.listing(status, reach=system_reader(rt.markings))
        return {r.key: tasks.task_json(r) for r in rows}


def assess_changed(rt: Runtime) -> None:
    services.assess_claims(rt, system_identity(), services.open_claim_keys(rt, changed_only=True))


def test_the_demo_gaps_become_ranked_tasks(demo: Runtime):
    listed = tasks.list_tasks(demo, as_user(demo, "alice"))
    assert len(listed) == 11
    first = listed[0]
    # factory-exists gates three actions: its tasks come first
    assert (first["claim"], first["unblocks"]) == ("factory-exists", 3)
    c3 = by_key(demo)[C3_FACTORY]
    assert c3["need"] == (
        "1 more independent supporting source(s) graded C3 or better, "
        "independent of eeas-intel, reuters (for confirmed)"
    )
    assert c3["actions"] == ["eu-listing-manufacturer", "eu-listing-supply-chain", "measures-chinese-state"]
    assert c3["independent_of"] == ["eeas-intel", "reuters"]
    sign = [t for t in listed if t["claim"] == "factory-exists" and t["kind"] == "sign_off"]
    assert sign and "sign-off by a reviewer other than the requester" in sign[0]["need"]
    # nothing for the met requirement (raise-with-beijing needs factory-exists corroborated, which it is)
    assert all("raise-with-beijing" not in t["actions"] for t in listed)
    # every task was opened with an event
    with demo.uow(write=False) as uow:
        opened = [e for e in uow.history.for_claim("factory-exists") if e.kind == "task.opened"]
    assert len(opened) == 2
    assert [t["id"] for t in tasks.list_tasks(demo, as_user(demo, "alice"), action="raise-with-beijing")] == []
    only = tasks.list_tasks(demo, as_user(demo, "alice"), action="eu-listing-manufacturer")
    assert {t["claim"] for t in only} == {"factory-exists", "lethal-production"}


def test_evidence_that_meets_a_task_closes_it_and_a_sign_off_closes_the_last(demo: Runtime):
    rt = demo
    add_source(
        rt, as_user(rt, "alice"), "eu-drones-2024", "new-wire", "A new wire service", kind="media", reliability="B"
    )
    count = event_count(rt)
    services.add_evidence(
        rt, as_user(rt, "alice"), "factory-exists", "new-wire", "supports", credibility=3, summary="Seen too"
    )
    assess_changed(rt)
    closed = by_key(rt, "closed")
    assert closed[C3_FACTORY]["close_reason"].startswith("met: >= 3 independent supporting")
    kinds = [e["kind"] for e in events_after(rt, count)]
    assert "task.closed" in kinds
    # confirm criteria hold now: the assessment asked for a review, so the sign-off names who may not give it
    sign = by_key(rt)["factory-exists|confirmed|sign-off by a reviewer other than the requester"]
    assert sign["not_by"] == "system" and "other than system" in sign["need"]
    review = next(r for r in services.review_queue(rt) if r["claim"] == "factory-exists")
    services.approve(rt, as_user(rt, "bob"), review["id"])
    assert "factory-exists|confirmed|sign-off by a reviewer other than the requester" in by_key(rt, "closed")
    assert not [t for t in tasks.list_tasks(rt, as_user(rt, "alice")) if t["claim"] == "factory-exists"]
    assert services.audit_verify(rt).ok


def test_a_task_whose_claim_moved_on_is_withdrawn(demo: Runtime):
    rt = demo
    for key in ("w1", "w2"):
        add_source(rt, as_user(rt, "alice"), "eu-drones-2024", key, f"Wire {key}", kind="media", reliability="B")
        services.add_evidence(
            rt, as_user(rt, "alice"), "shipped-to-russia", key, "contradicts", credibility=2, summary="No"
        )
    assess_changed(rt)
    review = next(r for r in services.review_queue(rt) if r["claim"] == "shipped-to-russia")
    assert review["to"] == "refuted"
    services.approve(rt, as_user(rt, "bob"), review["id"])
    withdrawn = [t for t in by_key(rt, "withdrawn").values() if t["claim"] == "shipped-to-russia"]
    assert withdrawn and all(t["close_reason"] == "claim moved on to refuted" for t in withdrawn)
    (reopen,) = [t for t in tasks.list_tasks(rt, as_user(rt, "alice")) if t["claim"] == "shipped-to-russia"]
    assert reopen["kind"] == "reopen" and "reopen" in reopen["need"]


def test_an_action_no_longer_requiring_the_claim_withdraws_its_tasks(demo: Runtime):
    rt = demo
    version = next(
        a for a in list_actions(rt, as_user(rt, "alice"), "eu-drones-2024") if a["key"] == "measures-chinese-state"
    )
    edit_action(
        rt,
        as_user(rt, "alice"),
        "measures-chinese-state",
        expected_version=version["version"],
        requires=[("factory-exists", "confirmed")],
        rationale="narrowed",
    )
    tasks.replan_all(rt, as_user(rt, "alice"))
    gone = [t for t in by_key(rt, "withdrawn").values() if t["claim"] == "beijing-aware"]
    assert len(gone) == 3 and {t["close_reason"] for t in gone} == {"no policy action requires this claim any more"}
    assert "measures-chinese-state" in by_key(rt)[C3_FACTORY]["actions"]


def test_the_plan_per_action_and_the_stress_test(demo: Runtime):
    plans = tasks.action_plans(demo, "eu-drones-2024")
    assert plans["raise-with-beijing"]["items"] == 0 and plans["raise-with-beijing"]["tasks"] == []
    supply = plans["eu-listing-supply-chain"]
    assert supply["items"] == 5  # factory: 1 line + sign-off; shipped: a C3 and a B2 line + sign-off
    ids = {t["id"] for t in tasks.list_tasks(demo, as_user(demo, "alice"), action="eu-listing-supply-chain")}
    assert {t["task"] for t in supply["tasks"]} == ids
    # factory-exists is corroborated on two lines: losing either root drops it
    assert supply["rests_on_one_line"] == {"factory-exists": ["eeas-intel", "reuters"]}
    assert tasks.rests_on(demo, "factory-exists") == ["eeas-intel", "reuters"]


def test_a_third_line_ends_resting_on_one_line_but_a_copy_does_not(demo: Runtime):
    rt = demo
    add_source(
        rt,
        as_user(rt, "alice"),
        "eu-drones-2024",
        "copy",
        "Repeats Reuters",
        kind="media",
        reliability="B",
        derived_from="reuters",
    )
    services.add_evidence(
        rt, as_user(rt, "alice"), "factory-exists", "copy", "supports", credibility=2, summary="Same story"
    )
    assert tasks.rests_on(rt, "factory-exists") == ["eeas-intel", "reuters"]  # a copy is no new line
    add_source(rt, as_user(rt, "alice"), "eu-drones-2024", "own", "Own line", kind="media", reliability="C")
    services.add_evidence(rt, as_user(rt, "alice"), "factory-exists", "own", "supports", credibility=3, summary="Seen")
    assert tasks.rests_on(rt, "factory-exists") == []


def race(rt: Runtime, *calls):
    calls = tuple((fn, (as_user(rt, args[0]), *args[1:])) for fn, args in calls)  # proven before the race
    barrier = threading.Barrier(len(calls))

    def run(call):
        fn, args = call
        barrier.wait(timeout=10)
        try:
            return fn(rt, *args)
        except Exception as exc:  # the outcome under test
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_two_people_taking_one_task_at_once_give_one_owner_and_one_event(demo: Runtime):
    task = tasks.list_tasks(demo, as_user(demo, "alice"))[0]["id"]
    count = event_count(demo)
    outcomes = race(demo, (tasks.take, ("alice", task)), (tasks.take, ("bob", task)))
    won = [o for o in outcomes if isinstance(o, dict)]
    lost = [o for o in outcomes if isinstance(o, ConcurrencyConflict)]
    assert (len(won), len(lost)) == (1, 1), outcomes
    assert str(lost[0]) == f"task: #{task} is already taken by {won[0]['assignee']}"
    (event,) = events_after(demo, count)
    assert event["kind"] == "task.taken"
    assert by_key(demo)[next(k for k, t in by_key(demo).items() if t["id"] == task)]["assignee"] == won[0]["assignee"]


def test_assign_take_and_bad_input_on_the_command_line(demo: Runtime, cli, db_snapshot):
    listed = json.loads(cli("tasks", "--json").stdout)
    first, sign = listed[0]["id"], next(t["id"] for t in listed if t["kind"] == "sign_off")
    before = db_snapshot(demo.database_url)
    unknown = cli("tasks", "take", "999")
    assert unknown.exit_code == 3 and error_line(unknown) == "error: task: unknown task #999"
    nobody = cli("tasks", "assign", str(first), "--to", "zed", "--as", "mia")
    assert nobody.exit_code == 3 and error_line(nobody) == "error: assignee: unknown user 'zed'"
    manager = cli("tasks", "assign", str(first), "--to", "mia", "--as", "mia")
    assert manager.exit_code == 4 and "may not take tasks" in error_line(manager)
    analyst_sign = cli("tasks", "assign", str(sign), "--to", "alice", "--as", "mia")
    assert analyst_sign.exit_code == 4 and "may not approve" in error_line(analyst_sign)
    assert cli("tasks", "--mine", "--unassigned").exit_code == 1
    assert db_snapshot(demo.database_url) == before
    assigned = cli("tasks", "assign", str(first), "--to", "alice", "--as", "mia", "--json")
    assert assigned.exit_code == 0, assigned.stderr
    assert json.loads(assigned.stdout)["assignee"] == "alice"
    with demo.uow(write=False) as uow:
        (event,) = [e for e in uow.history.for_claim(listed[0]["claim"]) if e.kind == "task.assigned"]
        assert (event.payload["assignee"], event.payload["by"], event.payload["task"]) == ("alice", "mia", first)
    mine = json.loads(cli("tasks", "--mine", "--json", "--as", "alice").stdout)
    assert [t["id"] for t in mine] == [first]
    assert first not in [t["id"] for t in json.loads(cli("tasks", "--unassigned", "--json").stdout)]
    taken = cli("tasks", "take", str(first), "--as", "bob")
    assert taken.exit_code == 5 and error_line(taken) == f"error: task: #{first} is already taken by alice"
    # a closed task cannot be taken
    add_source(demo, as_user(demo, "alice"), "eu-drones-2024", "new-wire", "A new wire", kind="media", reliability="B")
    services.add_evidence(
        demo, as_user(demo, "alice"), "factory-exists", "new-wire", "supports", credibility=3, summary="Seen"
    )
    assess_changed(demo)
    before = db_snapshot(demo.database_url)
    late = cli("tasks", "take", str(first), "--as", "bob")
    assert late.exit_code == 5 and error_line(late).startswith(f"error: task: #{first} is already closed (met: ")
    assert db_snapshot(demo.database_url) == before
    assert "no tasks" not in cli("tasks").stdout


def test_the_brief_carries_the_plan_and_the_single_line_warning(demo: Runtime):
    from claims.services.exports.brief import brief

    text = brief(demo, "eu-drones-2024", "md").decode()
    assert "Plan to ready (5 items):" in text
    assert "Rests on one line: losing eeas-intel or reuters drops it below its stage." in text
    ids = [t["id"] for t in tasks.list_tasks(demo, as_user(demo, "alice"), action="eu-listing-supply-chain")]
    assert all(f"(task #{i})" in text for i in ids)


def test_an_actions_due_date_dates_its_tasks_and_a_bad_one_is_refused(demo: Runtime, cli, db_snapshot):
    current = next(
        a for a in list_actions(demo, as_user(demo, "alice"), "eu-drones-2024") if a["key"] == "eu-listing-supply-chain"
    )
    before = db_snapshot(demo.database_url)
    bad = cli("action", "edit", "eu-listing-supply-chain", "--expected-version", current["version"], "--due", "soon")
    assert bad.exit_code == 1 and error_line(bad) == "error: due: 'soon' is not a date (YYYY-MM-DD)"
    assert db_snapshot(demo.database_url) == before
    moved = cli(
        "action", "edit", "eu-listing-supply-chain", "--expected-version", current["version"], "--due", "2027-01-31"
    )
    assert moved.exit_code == 0, moved.stderr
    dated = {
        t["claim"]: t["due"] for t in tasks.list_tasks(demo, as_user(demo, "alice"), action="eu-listing-supply-chain")
    }
    assert dated == {"factory-exists": "2027-01-31", "shipped-to-russia": "2027-01-31"}
    listed = tasks.list_tasks(demo, as_user(demo, "alice"))
    # among the tasks that unblock two actions, the dated ones come before the undated
    two = [t for t in listed if t["unblocks"] == 2]
    assert [t["due"] for t in two] == sorted((t["due"] for t in two), key=lambda d: d or "9999")
    with demo.uow(write=False) as uow:
        updated = [e for e in uow.history.for_claim("shipped-to-russia") if e.kind == "task.updated"]
    assert len(updated) == 3
