"""Acting on claim detail through AppTest: the controls a role may use, and the services deciding."""

from __future__ import annotations

from collections.abc import Callable

from dashboard_helpers import texts, unescape
from sqlalchemy import create_engine, text
from streamlit.testing.v1 import AppTest

from claims import services
from claims.services import Runtime

Open = Callable[..., AppTest]


def rows(url: str, sql: str) -> list[tuple]:
    engine = create_engine(url)
    with engine.connect() as conn:
        out = [tuple(r) for r in conn.execute(text(sql))]
    engine.dispose()
    return out


def submit(at: AppTest, label: str) -> None:
    (button,) = [b for b in at.button if b.label == label]
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]


def tab_labels(at: AppTest) -> list[str]:
    return [t.label for t in at.tabs]


def test_a_manager_is_offered_no_control(demo_app: Runtime, open_page: Open) -> None:
    at = open_page("claim_detail", user="mia", claim="factory-exists")
    assert tab_labels(at) == []
    assert "this role reads only" in unescape(texts(at))
    assert not [b for b in at.button if b.label in ("Add evidence", "Retract", "Request sign-off", "Reopen")]


def test_analyst_adds_evidence_then_requests_confirmation(demo_app: Runtime, open_page: Open) -> None:
    url = demo_app.database_url
    at = open_page("claim_detail", user="alice", claim="factory-exists")
    assert tab_labels(at) == ["Add evidence", "Retract evidence", "Request confirm / refute"]  # no reopen for analysts
    source = at.selectbox(key="add_source")
    assert "us-treasury · B · usually reliable · US Treasury (OFAC) designations" in source.options  # labelled grade
    source.select("us-treasury")
    at.radio(key="add_stance").set_value("supports")
    at.selectbox(key="add_credibility").select(2)
    at.text_area(key="add_summary").input("OFAC designates the operators of the assembly site.")
    submit(at, "Add evidence")
    assert "Evidence from us-treasury (B2) added to factory-exists." in unescape(texts(at))
    assert rows(url, "SELECT actor, kind FROM events ORDER BY id DESC LIMIT 1") == [("alice", "evidence.added")]

    at.radio(key="request_to").set_value("confirmed")
    at.text_input(key="request_reason").input("Three independent lines now")
    submit(at, "Request sign-off")
    assert "Sign-off requested: factory-exists to confirmed." in unescape(texts(at))
    assert rows(url, "SELECT to_stage, status, requested_by, reason FROM review_requests") == [
        ("confirmed", "pending", "alice", "Three independent lines now")
    ]


def test_the_service_refusal_is_shown_and_nothing_is_written(demo_app: Runtime, open_page: Open) -> None:
    """The page offers the request; the service refuses it (criteria not met) and says why in one line."""
    url = demo_app.database_url
    before = rows(url, "SELECT count(*) FROM events")
    at = open_page("claim_detail", user="alice", claim="factory-exists")
    at.radio(key="request_to").set_value("confirmed")
    submit(at, "Request sign-off")
    (error,) = at.error
    assert "does not meet confirmed" in unescape(error.value)
    at.text_area(key="add_summary").input("   ")
    submit(at, "Add evidence")
    assert [unescape(e.value) for e in at.error] == ["summary: evidence needs a summary"]
    assert rows(url, "SELECT count(*) FROM events") == before


def test_retract_needs_a_reason_and_is_recorded(demo_app: Runtime, open_page: Open) -> None:
    url = demo_app.database_url
    at = open_page("claim_detail", user="alice", claim="factory-exists")
    item = at.selectbox(key="retract_item")
    reuters = next(i for i in item.options if "reuters B2" in i)
    item.select(reuters)
    submit(at, "Retract")
    assert [unescape(e.value) for e in at.error] == ["reason: a retraction needs a reason"]
    at.text_input(key="retract_reason").input("the agency withdrew the story")
    submit(at, "Retract")
    assert "retracted from factory-exists" in unescape(texts(at))
    assert rows(url, "SELECT retracted_by, retraction_reason FROM evidence WHERE retracted") == [
        ("alice", "the agency withdrew the story")
    ]
    history = at.expander[-1] if at.expander else None
    assert history is not None
    what = set(at.dataframe[-1].value["what"])
    assert "evidence retracted" in what and not any("." in w for w in what)  # human labels, no event kinds


def test_reviewer_reopens_a_confirmed_claim_with_a_rationale(demo_app: Runtime, open_page: Open) -> None:
    url = demo_app.database_url
    assert "Reopen" not in tab_labels(open_page("claim_detail", user="alice", claim="dual-use-supply"))
    at = open_page("claim_detail", user="bob", claim="dual-use-supply")
    assert "Reopen" in tab_labels(at)
    at.radio(key="reopen_to").set_value("corroborated")
    submit(at, "Reopen")
    assert [unescape(e.value) for e in at.error] == ["rationale: a reopen needs a rationale"]
    at.text_area(key="reopen_rationale").input("The Council annulled the listing.")
    submit(at, "Reopen")
    assert "dual-use-supply reopened to corroborated." in unescape(texts(at))
    assert rows(url, "SELECT stage FROM claims WHERE key = 'dual-use-supply'") == [("corroborated",)]
    assert rows(url, "SELECT actor, rationale FROM events ORDER BY id DESC LIMIT 1") == [
        ("bob", "The Council annulled the listing.")
    ]
    assert services.claim_detail(demo_app, "dual-use-supply")["stage"] == "corroborated"


def test_every_event_kind_has_a_human_label() -> None:
    from claims.domain.events import EventKind
    from dashboard import ui

    for kind in EventKind:
        assert ui.event_label(kind.value) == ui.EVENT_LABELS[kind] and "." not in ui.event_label(kind.value)
