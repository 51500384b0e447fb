"""Similar claims and claim links on a real database (SQLite and PostgreSQL): the lookup above
and below each threshold, semantic matches, near-misses kept apart, the index following an
edited statement, links audited, duplicate cycles refused, readiness following a duplicate."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from identity_helpers import as_user
from integration_helpers import error_line, event_count, events_after
from sqlalchemy import func, select, update

from claims import services
from claims.services import Runtime
from claims.services import similar as similar_service
from claims.services.errors import InvalidInput, RuleViolation
from claims.services.links import link_claims, links_of
from claims.services.similar import SimilarIndex, similar_claims
from claims.settings import get_settings
from claims.store.models import Claim, ClaimEmbedding, ClaimLink

FACTORY = "Russia has set up a factory in China that assembles attack drones for Russia."


@pytest.fixture(autouse=True)
def fresh_indexes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test's database is new: no process index may carry over from another test."""
    monkeypatch.setattr(similar_service, "_INDEXES", {})
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def thresholds(monkeypatch: pytest.MonkeyPatch, merge: float, suggest: float) -> None:
    monkeypatch.setenv("CLAIMS_SIMILAR_MERGE", str(merge))
    monkeypatch.setenv("CLAIMS_SIMILAR_SUGGEST", str(suggest))
    get_settings.cache_clear()


def found(rt: Runtime, statement: str, **kw: object) -> dict[str, tuple[str, float]]:
    return {s.claim_key: (s.kind, s.score) for s in similar_claims(rt, as_user(rt, "alice"), statement, **kw)}


def test_the_same_statement_is_same_and_a_paraphrase_from_another_angle_related(demo: Runtime):
    got = found(demo, FACTORY)
    assert got["factory-exists"][0] == "same"
    xinjiang = found(demo, "A plant in Xinjiang builds attack drones for Moscow")
    assert xinjiang["factory-exists"][0] == "related"
    assert found(demo, "The weather in Lisbon was mild last winter.") == {}


def test_each_threshold_decides(demo: Runtime, monkeypatch: pytest.MonkeyPatch):
    statement = "In China, Russia has established a plant where attack drones for Russia are put together."
    score = found(demo, statement)["factory-exists"][1]
    thresholds(monkeypatch, merge=round(score - 0.01, 4), suggest=0.3)  # just below the score: same
    assert found(demo, statement)["factory-exists"][0] == "same"
    thresholds(monkeypatch, merge=0.99, suggest=round(score - 0.01, 4))  # between: related
    assert found(demo, statement)["factory-exists"][0] == "related"
    thresholds(monkeypatch, merge=0.99, suggest=round(score + 0.01, 4))  # above: not offered
    assert "factory-exists" not in found(demo, statement)


def test_a_denial_or_another_country_is_never_same(demo: Runtime):
    denial = found(demo, "Russia has denied setting up a factory in China that assembles attack drones for Russia.")
    assert denial["factory-exists"][0] == "related"
    iran = found(demo, "Russia has set up a factory in Iran that assembles attack drones for Russia.")
    assert iran.get("factory-exists", ("related",))[0] == "related"


def test_case_filter_and_excluded_claim(demo: Runtime):
    assert "factory-exists" not in found(demo, FACTORY, exclude_claim="factory-exists")
    with pytest.raises(services.NotFound, match="unknown case 'nope'"):
        found(demo, FACTORY, case_key="nope")
    assert "factory-exists" in found(demo, FACTORY, case_key="eu-drones-2024")
    with pytest.raises(InvalidInput, match="statement"):
        found(demo, "  ")


def test_the_index_follows_an_edited_statement(demo: Runtime):
    assert found(demo, FACTORY)["factory-exists"][0] == "same"
    with demo.uow() as uow:  # an edit of the statement: the ORM bumps the claim's version
        claim = uow.claims.get("factory-exists")
        claim.statement = "Grain exports from Odesa rose sharply in the spring."
        uow.commit()
    assert "factory-exists" not in found(demo, FACTORY)
    assert found(demo, "Grain exports from Odesa rose sharply in the spring.")["factory-exists"][0] == "same"
    with demo.uow(write=False) as uow:  # the stored vector was replaced, not added beside the old one
        rows = uow.session.scalar(select(func.count()).select_from(ClaimEmbedding))
        claims = uow.session.scalar(select(func.count()).select_from(Claim))
    assert rows == claims


def test_only_new_or_changed_claims_are_embedded(demo: Runtime):
    found(demo, FACTORY)
    with demo.uow() as uow:
        embedder = similar_service.load_embedder("wordllama")
        assert similar_service.refresh_index(uow, embedder) == 0
        uow.session.execute(update(Claim).where(Claim.key == "beijing-aware").values(statement="Changed."))
        assert similar_service.refresh_index(uow, embedder) == 1


def test_the_lexical_fallback_answers_without_the_model(demo: Runtime, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CLAIMS_SIMILAR_MODEL", "lexical")
    get_settings.cache_clear()
    got = found(demo, FACTORY)
    assert got["factory-exists"][0] == "same"
    assert isinstance(similar_service.index_for(demo), SimilarIndex)
    assert similar_service.index_for(demo).embedder is None
    negated = found(demo, "Russia has not set up a factory in China that assembles attack drones for Russia.")
    assert negated["factory-exists"][0] == "related"


def test_a_broken_model_falls_back_to_lexical(demo: Runtime, monkeypatch: pytest.MonkeyPatch):
    def broken() -> None:
        raise ImportError("no wordllama")

    monkeypatch.setattr(similar_service, "WordLlamaEmbedder", broken)
    similar_service.load_embedder.cache_clear()
    try:
        assert similar_service.load_embedder("wordllama") is None
        assert found(demo, FACTORY)["factory-exists"][0] == "same"
    finally:
        similar_service.load_embedder.cache_clear()


# --- links ------------------------------------------------------------------------------------


def link_rows(rt: Runtime) -> list[tuple[int, int, str]]:
    with rt.uow(write=False) as uow:
        return [tuple(r) for r in uow.session.execute(select(ClaimLink.claim_id, ClaimLink.other_id, ClaimLink.kind))]


def test_a_link_is_audited_with_actor_and_rationale(demo: Runtime):
    count = event_count(demo)
    link_claims(demo, as_user(demo, "alice"), "lethal-production", "factory-exists", "related", "same factory")
    (event,) = events_after(demo, count)
    assert (event["kind"], event["actor"], event["claim"], event["rationale"]) == (
        "claim.linked",
        "alice",
        "lethal-production",
        "same factory",
    )
    assert event["payload"]["other"] == "factory-exists"
    assert [(link.claim, link.other, link.kind) for link in links_of(demo, "factory-exists")] == [
        ("lethal-production", "factory-exists", "related")
    ]
    services.audit_verify(demo)


def test_self_and_cyclic_duplicates_are_refused_and_change_nothing(demo: Runtime):
    with pytest.raises(RuleViolation, match="itself"):
        link_claims(demo, as_user(demo, "alice"), "beijing-aware", "beijing-aware", "duplicate", "x")
    link_claims(demo, as_user(demo, "alice"), "beijing-aware", "lethal-production", "duplicate", "same")
    link_claims(demo, as_user(demo, "alice"), "lethal-production", "shipped-to-russia", "duplicate", "same")
    rows, count = link_rows(demo), event_count(demo)
    with pytest.raises(RuleViolation, match="cycle shipped-to-russia -> beijing-aware -> lethal-production"):
        link_claims(demo, as_user(demo, "alice"), "shipped-to-russia", "beijing-aware", "duplicate", "loop")
    with pytest.raises(RuleViolation, match="already marked a duplicate"):
        link_claims(demo, as_user(demo, "alice"), "beijing-aware", "factory-exists", "duplicate", "second survivor")
    with pytest.raises(InvalidInput, match="rationale"):
        link_claims(demo, as_user(demo, "alice"), "factory-exists", "beijing-aware", "related", " ")
    with pytest.raises(InvalidInput, match="kind: 'twin'"):
        link_claims(demo, as_user(demo, "alice"), "factory-exists", "beijing-aware", "twin", "x")
    with pytest.raises(services.PermissionDenied):
        link_claims(demo, as_user(demo, "mia"), "factory-exists", "beijing-aware", "related", "x")
    assert (link_rows(demo), event_count(demo)) == (rows, count)


def test_readiness_follows_a_duplicate_to_its_survivor(demo: Runtime):
    def ready(key: str) -> tuple[bool, tuple[str, ...]]:
        (action,) = [a for a in services.action_readiness(demo) if a.key == key]
        return action.ready, action.requirements[0].gaps

    assert ready("raise-with-beijing")[0] is True  # factory-exists is corroborated
    case = services.validate_case(
        {
            "case": {"key": "second-report", "title": "A second report"},
            "sources": [{"key": "ngo", "name": "An NGO", "kind": "media", "reliability": "C"}],
            "claims": [{"key": "plant-xinjiang", "statement": "A plant in Xinjiang builds attack drones for Moscow."}],
            "policy_actions": [
                {
                    "key": "ngo-demarche",
                    "title": "A demarche",
                    "requires": [{"claim": "plant-xinjiang", "stage": "corroborated"}],
                }
            ],
        }
    )
    services.import_case(demo, as_user(demo, "alice"), case)
    assert ready("ngo-demarche")[0] is False
    link_claims(demo, as_user(demo, "alice"), "plant-xinjiang", "factory-exists", "duplicate", "the same factory")
    assert ready("ngo-demarche") == (True, ())
    # The survivor's own gaps, named as the survivor's, when it falls short.
    link_claims(
        demo, as_user(demo, "alice"), "factory-exists", "beijing-aware", "duplicate", "for the test: a weaker survivor"
    )
    ok, gaps = ready("ngo-demarche")
    assert ok is False
    assert gaps and all(g.startswith("duplicate of 'beijing-aware': ") for g in gaps)


# --- the command line -----------------------------------------------------------------------------


def test_similar_and_link_through_the_cli(demo: Runtime, cli):
    result = cli("similar", FACTORY, "--json")
    assert result.exit_code == 0, result.stderr
    (first, *_) = json.loads(result.stdout)
    assert (first["kind"], first["claim"], first["case"]) == ("same", "factory-exists", "eu-drones-2024")
    assert cli("similar", "A plant in Xinjiang builds attack drones for Moscow").stdout.startswith("related")
    linked = cli("link", "lethal-production", "--related", "factory-exists", "--rationale", "same plant", "--json")
    assert linked.exit_code == 0, linked.stderr
    assert json.loads(linked.stdout)["kind"] == "related"


def test_cli_refusals_are_one_line_and_change_nothing(demo: Runtime, cli):
    rows, count = link_rows(demo), event_count(demo)
    both = cli("link", "a", "--related", "b", "--duplicate-of", "c", "--rationale", "x")
    assert (both.exit_code, error_line(both)) == (
        2,
        "error: link: give exactly one of --duplicate-of OTHER or --related OTHER",
    )
    self_dupe = cli("link", "factory-exists", "--duplicate-of", "factory-exists", "--rationale", "x")
    assert (self_dupe.exit_code, error_line(self_dupe)) == (
        1,
        "error: link: claim 'factory-exists' cannot be linked to itself",
    )
    unknown = cli("link", "nope", "--related", "factory-exists", "--rationale", "x")
    assert (unknown.exit_code, error_line(unknown)) == (3, "error: claim: unknown claim 'nope'")
    manager = cli("link", "factory-exists", "--related", "beijing-aware", "--rationale", "x", "--as", "mia")
    assert manager.exit_code == 4, manager.stderr
    empty = cli("similar", " ")
    assert (empty.exit_code, error_line(empty)) == (1, "error: statement: give the statement to compare")
    assert (link_rows(demo), event_count(demo)) == (rows, count)


def test_a_bad_threshold_setting_is_one_line(demo: Runtime, cli, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CLAIMS_SIMILAR_SUGGEST", "0.9")
    get_settings.cache_clear()
    result = cli("similar", FACTORY)
    assert result.exit_code == 1
    assert error_line(result) == (
        "error: settings: CLAIMS_SIMILAR_SUGGEST='0.9': Value error, must not be above CLAIMS_SIMILAR_MERGE (0.8)"
    )


def test_what_if_follows_a_duplicate_too(demo: Runtime):
    from claims.services.whatif import what_if

    def ready_now(key: str) -> bool:
        (action,) = [a for a in what_if(demo, "eu-drones-2024", []).actions if a.key == key]
        return action.ready_now

    assert ready_now("eu-listing-manufacturer") is False  # factory-exists and lethal-production not confirmed
    link_claims(demo, as_user(demo, "alice"), "factory-exists", "dual-use-supply", "duplicate", "for the test")
    link_claims(demo, as_user(demo, "alice"), "lethal-production", "dual-use-supply", "duplicate", "for the test")
    assert ready_now("eu-listing-manufacturer") is True  # both judged on the confirmed dual-use-supply
