"""Review queue through AppTest: approve and reject go through the services, which enforce roles and four eyes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from dashboard_helpers import make_confirmable, texts, unescape
from identity_helpers import as_user, system_identity
from sqlalchemy import create_engine, text
from streamlit.testing.v1 import AppTest

from claims import services
from claims.domain.stages import Stage
from claims.services import RuleViolation, Runtime

Open = Callable[..., AppTest]


@pytest.fixture
def pending(demo_app: Runtime) -> Runtime:
    """factory-exists meets the confirm criteria; the assessment asked for a review (requested by system)."""
    make_confirmable(demo_app)
    return demo_app


def one(url: str, sql: str) -> tuple:
    engine = create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(text(sql)).one()
    engine.dispose()
    return tuple(row)


def test_queue_shows_the_request_with_its_assessment(pending: Runtime, open_page: Open) -> None:
    at = open_page("review", user="bob")
    shown = texts(at)
    assert "**#1 · factory\\-exists**" in shown
    assert ":green-badge[:material/check: evidence criteria hold]" in shown
    assert "Russia has set up a factory in China that assembles attack drones for Russia." in [t.value for t in at.text]
    assert "Requested by system" in unescape(shown)
    criteria = at.dataframe[0].value
    assert list(criteria["met"]) == ["✓", "✓", "✓", "✗"]
    assert criteria["gap"].iloc[-1] == "awaiting sign-off by a reviewer other than system"
    assert {m.label: m.value for m in open_page("pipeline").metric}["Awaiting sign-off"] == "1"
    assert ":blue-badge[:material/gavel: gates 4 actions]" in [m.value for m in at.markdown]


def test_reviewer_approves_and_every_page_refreshes(pending: Runtime, open_page: Open) -> None:
    at = open_page("pipeline", user="bob")
    assert {m.label: m.value for m in at.metric}["Confirmed"] == "1"  # cached now
    at.switch_page("views/review.py").run()
    at.text_area(key="rationale_1").input("Three independent lines incl. OFAC; the denial is D4.").run()
    at.button(key="approve_1").click().run()
    assert not at.exception
    assert "Review #1 approved by bob: factory-exists is now confirmed." in unescape(texts(at))
    assert "No review requests are waiting." in texts(at)
    decided = at.dataframe[-1].value
    assert decided.to_dict("records")[0]["decided by"] == "bob"

    assert one(pending.database_url, "SELECT stage FROM claims WHERE key = 'factory-exists'") == ("confirmed",)
    assert one(
        pending.database_url, "SELECT actor, rationale FROM events WHERE kind = 'review.approved' ORDER BY id DESC"
    ) == ("bob", "Three independent lines incl. OFAC; the denial is D4.")

    at.switch_page("views/pipeline.py").run()  # st.cache_data was cleared: the pipeline shows the move
    assert {m.label: m.value for m in at.metric}["Confirmed"] == "2"
    at.switch_page("views/readiness.py").run()
    focus = [unescape(m.value) for m in at.markdown if "**factory-exists**  \n" in unescape(m.value)]
    assert focus == [
        "✓ **factory-exists**  \nis confirmed, needs confirmed"
    ]  # eu-listing-manufacturer: one gate closed
    assert "✗ **lethal-production**  \nis reported, needs confirmed" in [unescape(m.value) for m in at.markdown]
    assert "2 of 5 actions ready" in at.caption[0].value


def decision_buttons(at: AppTest) -> list[str]:
    return [b.key for b in at.button if b.key and b.key.startswith(("approve_", "reject_", "code_"))]


def test_sign_off_is_offered_only_to_roles_that_may_sign_off(pending: Runtime, open_page: Open) -> None:
    """A manager or an analyst sees the request but no Approve/Reject; the service still refuses them."""
    for user in ("mia", "alice"):
        at = open_page("review", user=user)
        assert "**#1 · factory\\-exists**" in texts(at)
        assert not [b for b in at.button if b.key in ("approve_1", "reject_1")]
        assert "Your role does not sign off" in texts(at)
    with pytest.raises(services.PermissionDenied, match="'mia' has role manager, which may not approve"):
        services.approve(pending, as_user(pending, "mia"), 1)
    assert one(pending.database_url, "SELECT stage FROM claims WHERE key = 'factory-exists'") == ("corroborated",)


def test_queue_is_ordered_by_impact_and_filtered_by_action(demo_app: Runtime, open_page: Open) -> None:
    """A request on a claim gating three actions comes before an older one gating none; ?action= filters."""
    extra = {
        "case": {"key": "side", "title": "Side"},
        "sources": [{"key": f"s{i}", "name": f"S{i}", "kind": "media", "reliability": "B"} for i in range(3)],
        "claims": [
            {
                "key": "side-claim",
                "statement": "Something minor.",
                "evidence": [
                    {"source": f"s{i}", "stance": "supports", "credibility": 2, "summary": f"item {i}"}
                    for i in range(3)
                ],
            }
        ],
    }
    services.import_case(demo_app, as_user(demo_app, "alice"), services.validate_case(extra))
    services.assess_claims(demo_app, system_identity(), services.open_claim_keys(demo_app))  # side-claim: review #1
    make_confirmable(demo_app)  # factory-exists: review #2, newer
    at = open_page("review", user="bob")
    order = [m.value for m in at.markdown if m.value.startswith("**#")]
    assert order == ["**#2 · factory\\-exists**", "**#1 · side\\-claim**"]
    at.selectbox(key="action").select("raise-with-beijing").run()
    assert [m.value for m in at.markdown if m.value.startswith("**#")] == ["**#2 · factory\\-exists**"]
    assert at.query_params["action"] == "raise-with-beijing"


def test_requester_cannot_sign_off_their_own_request(demo_app: Runtime, open_page: Open) -> None:
    services.add_evidence(
        demo_app,
        as_user(demo_app, "alice"),
        "factory-exists",
        "us-treasury",
        "supports",
        credibility=2,
        summary="OFAC designation.",
    )
    services.advance(demo_app, as_user(demo_app, "carol"), "factory-exists", Stage.CONFIRMED, reason="three lines now")
    at = open_page("review", user="carol")
    assert decision_buttons(at) == []
    assert "You requested this; another reviewer decides it (four eyes)." in unescape(texts(at))
    with pytest.raises(RuleViolation, match="cannot also decide it"):
        services.approve(demo_app, as_user(demo_app, "carol"), 1)
    at = open_page("review", user="bob")
    assert decision_buttons(at) == ["approve_1", "reject_1", "code_1"]
    at.button(key="reject_1").click().run()
    assert [unescape(e.value) for e in at.error] == ["rationale: rejecting a review needs a rationale"]
    at.text_area(key="rationale_1").input("Wait for the Council's own assessment.").run()
    at.button(key="reject_1").click().run()
    assert "Review #1 rejected by bob: factory-exists is now corroborated." in unescape(texts(at))
    assert one(demo_app.database_url, "SELECT status, decided_by FROM review_requests") == ("rejected", "bob")


def test_a_long_queue_is_paged(app_env: Runtime, open_page: Open) -> None:
    sources = [{"key": f"s{i}", "name": f"Source {i}", "kind": "media", "reliability": "B"} for i in range(3)]
    claims = [
        {
            "key": f"claim-{n:02d}",
            "statement": f"Claim {n}",
            "evidence": [
                {"source": f"s{i}", "stance": "supports", "credibility": 2, "summary": f"item {n}/{i}"}
                for i in range(3)
            ],
        }
        for n in range(12)
    ]
    case = {"case": {"key": "many", "title": "Many"}, "sources": sources, "claims": claims}
    services.import_case(app_env, as_user(app_env, "alice"), services.validate_case(case))
    services.assess_claims(app_env, system_identity(), services.open_claim_keys(app_env))
    at = open_page("review", user="bob")
    headings = [m.value for m in at.markdown if m.value.startswith("**#")]
    assert len(headings) == 10 and headings[0] == "**#1 · claim\\-00**"
    at.pagination(key="review_page").set_value(2).run()
    assert [m.value for m in at.markdown if m.value.startswith("**#")] == [
        "**#11 · claim\\-10**",
        "**#12 · claim\\-11**",
    ]
    at.button(key="approve_12").click().run()
    assert "Review #12 approved by bob: claim-11 is now confirmed." in unescape(texts(at))


def test_the_page_does_not_assess_each_request_again(
    pending: Runtime, open_page: Open, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queue service already assessed every request; the page draws from that, not from claim_detail."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the review page re-assessed a claim")

    monkeypatch.setattr(services, "claim_detail", refuse)
    at = open_page("review", user="bob")
    assert list(at.dataframe[0].value["met"]) == ["✓", "✓", "✓", "✗"]
