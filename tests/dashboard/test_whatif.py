"""What-if: hypothetical evidence moves claims and readies actions in memory only."""

from __future__ import annotations

import pytest
from dashboard_helpers import make_confirmable, row_counts

from claims.domain.stages import Stage
from claims.services import InvalidInput, NotFound, Runtime
from claims.services.whatif import Hypothesis, what_if

CASE = "eu-drones-2024"


def test_one_more_independent_b2_line_would_confirm_the_factory(demo_db: Runtime) -> None:
    before = row_counts(demo_db.database_url)
    result = what_if(demo_db, CASE, [Hypothesis("factory-exists", "supports", 2, "us-treasury")])
    factory = next(p for p in result.claims if p.claim == "factory-exists")
    assert (factory.stage, factory.baseline, factory.projected) == (Stage.CORROBORATED,) * 2 + (Stage.CONFIRMED,)
    assert factory.moves and factory.needs_sign_off
    assert factory.steps == ("corroborated -> confirmed once a second reviewer signs off",)
    assert not any(p.moves for p in result.claims if p.claim != "factory-exists")
    listing = next(a for a in result.actions if a.key == "eu-listing-manufacturer")
    assert not listing.ready_then  # lethal-production is still only reported
    gaps = {r.claim: r.gaps for r in listing.requirements}
    assert gaps["factory-exists"] == ()
    assert "must be corroborated first" in gaps["lethal-production"]
    assert row_counts(demo_db.database_url) == before


def test_a_derived_source_adds_no_line(demo_db: Runtime) -> None:
    """The diplomats repeat the EEAS: one more item from them changes nothing."""
    result = what_if(demo_db, CASE, [Hypothesis("factory-exists", "supports", 1, "diplomats")])
    assert not any(p.moves for p in result.claims)


def test_enough_evidence_readies_the_listing_after_sign_off(demo_db: Runtime) -> None:
    result = what_if(
        demo_db,
        CASE,
        [
            Hypothesis("factory-exists", "supports", 2, "us-treasury"),
            Hypothesis("lethal-production", "supports", 2, "reuters"),
            Hypothesis("lethal-production", "supports", 3, None, "C"),
        ],
    )
    lethal = next(p for p in result.claims if p.claim == "lethal-production")
    assert lethal.projected is Stage.CONFIRMED
    assert lethal.steps[0].startswith("reported -> corroborated (automatic")
    listing = next(a for a in result.actions if a.key == "eu-listing-manufacturer")
    assert listing.becomes_ready and listing.needs_sign_off
    assert not next(a for a in result.actions if a.key == "raise-with-beijing").becomes_ready  # was ready already


def test_a_contradiction_never_demotes_a_confirmed_claim(demo_db: Runtime) -> None:
    result = what_if(demo_db, CASE, [Hypothesis("dual-use-supply", "contradicts", 2, "eu-official")])
    dual = next(p for p in result.claims if p.claim == "dual-use-supply")
    assert dual.projected is Stage.CONFIRMED and not dual.moves
    extend = next(a for a in result.actions if a.key == "extend-dual-use-listings")
    (req,) = extend.requirements
    assert not req.met and any(g.startswith("at risk: no longer meets confirmed: a contradicting B2") for g in req.gaps)
    assert extend.ready_now and not extend.ready_then  # a contradiction would take the ground from under it


def test_a_pending_review_is_the_baseline_not_a_move(demo_db: Runtime) -> None:
    make_confirmable(demo_db)
    result = what_if(demo_db, CASE, [])
    factory = next(p for p in result.claims if p.claim == "factory-exists")
    assert factory.baseline is Stage.CONFIRMED and not factory.moves


@pytest.mark.parametrize(
    ("hypothesis", "error", "message"),
    [
        (Hypothesis("factory-exists", "supports", 2, "nobody"), NotFound, "source: unknown source 'nobody'"),
        (Hypothesis("no-claim", "supports", 2, "reuters"), NotFound, "claim: unknown claim 'no-claim'"),
        (Hypothesis("factory-exists", "supports", 2), InvalidInput, "reliability: a new hypothetical source"),
        (Hypothesis("factory-exists", "maybe", 2, "reuters"), ValueError, "stance: unknown stance 'maybe'"),
        (Hypothesis("factory-exists", "supports", 7, "reuters"), ValueError, "credibility: 7"),
    ],
)
def test_bad_hypotheses_are_named(demo_db: Runtime, hypothesis: Hypothesis, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        what_if(demo_db, CASE, [hypothesis])
    with pytest.raises(NotFound, match="case: unknown case"):
        what_if(demo_db, "nope", [])
