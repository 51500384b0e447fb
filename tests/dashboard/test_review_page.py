"""Review queue through AppTest: approve and reject go through the services, which enforce roles and four eyes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from dashboard_helpers import make_confirmable, texts, unescape
from sqlalchemy import create_engine, text
from streamlit.testing.v1 import AppTest

from claims import services
from claims.domain.stages import Stage
from claims.services import Runtime

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
    at = open_page("review")
    shown = texts(at)
    assert "**#1 · factory\\-exists**" in shown
    assert ":green-badge[:material/check: evidence criteria hold]" in shown
    assert "Russia has set up a factory in China that assembles attack drones for Russia." in [t.value for t in at.text]
    assert "Requested by system" in unescape(shown)
    criteria = at.dataframe[0].value
    assert list(criteria["met"]) == ["✓", "✓", "✓", "✗"]
    assert criteria["gap"].iloc[-1] == "awaiting sign-off by a reviewer other than system"
    assert {m.label: m.value for m in open_page().metric}["Awaiting sign-off"] == "1"


def test_reviewer_approves_and_every_page_refreshes(pending: Runtime, open_page: Open) -> None:
    at = open_page()
    assert {m.label: m.value for m in at.metric}["Confirmed"] == "1"  # cached now
    at.switch_page("views/review.py").run()
    at.sidebar.selectbox(key="user").select("bob").run()
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
    listing = at.dataframe[2].value.set_index("claim")  # eu-listing-manufacturer: one gate closed, one open
    assert (listing.loc["factory-exists", "is"], listing.loc["factory-exists", "met"]) == ("confirmed", "✓")
    assert listing.loc["lethal-production", "met"] == "✗"
    assert "2 of 5 actions ready" in at.caption[0].value


def test_manager_is_refused_by_the_service(pending: Runtime, open_page: Open) -> None:
    at = open_page("review", user="mia")
    at.button(key="approve_1").click().run()
    assert [unescape(e.value) for e in at.error] == ["user: 'mia' has role manager, which may not approve"]
    assert one(pending.database_url, "SELECT stage FROM claims WHERE key = 'factory-exists'") == ("corroborated",)


def test_requester_cannot_sign_off_their_own_request(demo_app: Runtime, open_page: Open) -> None:
    services.add_evidence(
        demo_app, "alice", "factory-exists", "us-treasury", "supports", credibility=2, summary="OFAC designation."
    )
    services.advance(demo_app, "carol", "factory-exists", Stage.CONFIRMED, reason="three lines now")
    at = open_page("review", user="carol")
    at.button(key="approve_1").click().run()
    (error,) = at.error
    assert "cannot also decide it (four eyes)" in unescape(error.value)
    at.sidebar.selectbox(key="user").select("bob").run()
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
    services.import_case(app_env, "alice", services.validate_case(case))
    services.assess_claims(app_env, "system", services.open_claim_keys(app_env))
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
