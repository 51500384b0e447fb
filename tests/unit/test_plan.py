"""The collection plan's pure rules: needs from unmet criteria, the smallest set, ranking, the stress test."""

from __future__ import annotations

from datetime import date

from claims.domain.assessment import ClaimFacts, EvidenceFacts, PendingReview
from claims.domain.grades import Grade
from claims.domain.plan import Gate, NeedKind, carrying_roots, needs_for, plan_tasks, rank
from claims.domain.policy import Lines, Policy, default_policy
from claims.domain.stages import Stage, Stance

V1 = default_policy()


def item(root: str, grade: str, stance: Stance = Stance.SUPPORTS, source: str | None = None) -> EvidenceFacts:
    return EvidenceFacts(source or root, root, stance, Grade.parse(grade, "grade"))


def test_a_reported_claim_needing_confirmation_gets_the_smallest_set():
    facts = ClaimFacts("c", Stage.REPORTED, (item("a", "C3"),))
    needs = needs_for(facts, Stage.CONFIRMED, V1)
    # corroboration's 2 C3 lines are covered by confirmation's; one B2 line counts as a C3 line too
    assert [(n.stage, n.kind, n.items, str(n.grade) if n.grade else None) for n in needs] == [
        (Stage.CONFIRMED, NeedKind.LINES, 1, "C3"),
        (Stage.CONFIRMED, NeedKind.LINES, 1, "B2"),
        (Stage.CONFIRMED, NeedKind.SIGN_OFF, 1, None),
    ]
    assert needs[0].independent_of == ("a",)
    assert needs[0].text == (
        "1 more independent supporting source(s) graded C3 or better, independent of a (for confirmed)"
    )


def test_a_met_requirement_needs_nothing_and_a_copy_is_no_new_line():
    met = ClaimFacts("c", Stage.CORROBORATED, (item("a", "C3"), item("b", "C3")))
    assert needs_for(met, Stage.CORROBORATED, V1) == ()
    copy = ClaimFacts("c", Stage.REPORTED, (item("a", "C3"), item("a", "B2", source="a-copy")))
    (need,) = needs_for(copy, Stage.CORROBORATED, V1)
    assert need.items == 1 and need.independent_of == ("a",)


def test_a_contradiction_and_a_pending_sign_off_name_what_resolves_them():
    facts = ClaimFacts(
        "c",
        Stage.CORROBORATED,
        (item("a", "B2"), item("b", "C3"), item("d", "C3"), item("x", "B2", Stance.CONTRADICTS)),
        PendingReview(Stage.CONFIRMED, "alice"),
    )
    needs = needs_for(facts, Stage.CONFIRMED, V1)
    assert [n.kind for n in needs] == [NeedKind.RESOLVE, NeedKind.SIGN_OFF]
    assert "contradicting B2 item from x is unresolved" in needs[0].text
    assert needs[1].not_by == "alice" and "other than alice" in needs[1].text


def test_a_refuted_claim_an_action_needs_confirmed_needs_a_reopen():
    (need,) = needs_for(ClaimFacts("c", Stage.REFUTED, ()), Stage.CONFIRMED, V1)
    assert need.kind is NeedKind.REOPEN


def test_tasks_are_shared_across_actions_and_ranked():
    facts = {
        "shared": ClaimFacts("shared", Stage.REPORTED, (item("a", "C3"),)),
        "far": ClaimFacts("far", Stage.REPORTED, ()),
    }
    gates = [
        Gate("one", "shared", Stage.CORROBORATED, date(2027, 1, 10)),
        Gate("two", "shared", Stage.CORROBORATED, date(2027, 1, 5)),
        Gate("three", "far", Stage.CORROBORATED),
    ]
    plan = plan_tasks(gates, facts, V1)
    assert len(plan.tasks) == 2
    shared = next(t for t in plan.tasks.values() if t.need.claim == "shared")
    assert shared.actions == ("one", "two") and shared.due == date(2027, 1, 5)
    assert (plan.actions["one"].items, plan.actions["three"].items) == (1, 2)
    left = {a: p.items for a, p in plan.actions.items()}
    order = rank([(t.key, t.actions, t.due) for t in plan.tasks.values()], left)
    assert order[0] == shared.key
    # equal in actions unblocked: the one whose action is nearest to ready comes first
    solo = plan_tasks([Gate("near", "shared", Stage.CORROBORATED), Gate("far", "far", Stage.CORROBORATED)], facts, V1)
    left = {a: p.items for a, p in solo.actions.items()}
    order = rank([(t.key, t.actions, t.due) for t in solo.tasks.values()], left)
    assert order[0].startswith("shared|")


def test_the_stress_test_names_the_root_that_carries_a_two_line_claim():
    """Two lines, one root carries it: corroboration needs one B2 line; a (B2) carries it, b (C4) does not."""
    policy = Policy("t", "test", {Stage.CORROBORATED: (Lines(Stance.SUPPORTS, 1, Grade.parse("B2", "g")),)})
    facts = ClaimFacts("c", Stage.CORROBORATED, (item("a", "B2"), item("b", "C4")))
    assert carrying_roots(facts, policy) == ("a",)
    sturdy = ClaimFacts("c", Stage.CORROBORATED, (item("a", "B2"), item("b", "B2")))
    assert carrying_roots(sturdy, policy) == ()
    assert carrying_roots(ClaimFacts("c", Stage.REPORTED, (item("a", "B2"),)), policy) == ()
    # v1: two C3 lines, each root carries it
    assert carrying_roots(ClaimFacts("c", Stage.CORROBORATED, (item("a", "C3"), item("b", "C3"))), V1) == ("a", "b")
