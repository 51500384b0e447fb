"""The inbox page and the notes block of claim detail, through AppTest (issue 18)."""

from __future__ import annotations

import re
from collections.abc import Callable

from dashboard_helpers import assess_all, texts, unescape
from identity_helpers import as_user
from streamlit.testing.v1 import AppTest

from claims import services
from claims.services import Runtime
from claims.services import notify as nt

Open = Callable[..., AppTest]
BEIJING = "raise-with-beijing"


def submit(at: AppTest, label: str) -> None:
    (button,) = [b for b in at.button if b.label == label]
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]


def html_bodies(at: AppTest) -> list[str]:
    """The notes as the page hands them to st.markdown (the block's only markdown with a link or bold)."""
    return [str(e.value) for e in at.markdown if "Check" in str(e.value)]


def test_manager_subscribes_on_the_page_and_the_inbox_shows_the_change(demo_app: Runtime, open_page: Open) -> None:
    at = open_page("inbox", user="mia")
    assert at.metric[0].value == "0"
    assert "signoff" not in at.selectbox(key="sub_kind").options  # a manager is offered only what the role may take
    at.selectbox(key="sub_kind").select("readiness")
    at.selectbox(key="sub_action").select(BEIJING)
    submit(at, "Subscribe")
    assert [(s.kind, s.scope) for s in nt.subscriptions(demo_app, as_user(demo_app, "mia"))] == [
        ("readiness", f"action:{BEIJING}")
    ]
    item = next(
        e["id"] for e in services.claim_detail(demo_app, "factory-exists")["evidence"] if e["stance"] == "supports"
    )
    services.retract_evidence(demo_app, as_user(demo_app, "alice"), item, "the story was withdrawn")
    assess_all(demo_app)
    at.run()
    assert at.metric[0].value == "1"
    assert f"No longer ready: {BEIJING}" in unescape(texts(at))
    submit(at, "Mark all read")
    assert at.metric[0].value == "0" and nt.unread_count(demo_app, as_user(demo_app, "mia")) == 0


def test_claim_page_notes_render_hostile_markdown_safely(demo_app: Runtime, open_page: Open) -> None:
    at = open_page("claim_detail", user="alice", claim="factory-exists")
    at.text_area(key="note_text").input(
        "**Check** <script>alert(1)</script> [x](javascript:alert(1)) [ok](https://example.org)"
    )
    submit(at, "Add note")
    (body,) = html_bodies(at)
    assert body.startswith("**Check**") and not re.search(r"(?<!\\)<", body) and "](javascript" not in body
    assert "[ok](https://example.org)" in body and "\\<script\\>" in body  # shown as text
    manager = open_page("claim_detail", user="mia", claim="factory-exists")
    assert len(html_bodies(manager)) == 1  # a manager reads the note
    assert not [b for b in manager.button if b.label == "Add note"]  # but is offered no form
