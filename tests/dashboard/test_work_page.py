"""The Work page through AppTest: tasks in work order, "I'm on it" and assignment through the services."""

from __future__ import annotations

from collections.abc import Callable

from dashboard_helpers import unescape
from identity_helpers import as_user
from streamlit.testing.v1 import AppTest

from claims.services import Runtime
from claims.services.tasks import list_tasks

Open = Callable[..., AppTest]


def test_work_lists_the_demo_tasks_and_alice_takes_one(demo_app: Runtime, open_page: Open) -> None:
    at = open_page("work", user="alice")
    table = at.dataframe[0].value
    expected = list_tasks(demo_app, as_user(demo_app, "alice"))
    assert list(table["#"]) == [t["id"] for t in expected]
    assert table["claim"].iloc[0] == "factory-exists"
    assert "independent of eeas-intel, reuters" in table["what is needed"].iloc[0]
    at.button(key="work_take").click().run()
    assert not at.exception
    mine = [t for t in list_tasks(demo_app, as_user(demo_app, "alice"), mine=True)]
    assert [t["id"] for t in mine] == [expected[0]["id"]]
    # taken: no longer among the unassigned rows
    assert expected[0]["id"] not in list(at.dataframe[0].value["#"])


def test_a_manager_assigns_but_cannot_take_and_a_refusal_is_one_line(demo_app: Runtime, open_page: Open) -> None:
    at = open_page("work", user="mia")
    assert not [b for b in at.button if b.key == "work_take"]  # a manager does not collect
    first = at.selectbox(key="work_task").value
    at.selectbox(key="work_to").set_value("mia").run()
    at.button(key="work_assign").click().run()
    assert [unescape(e.value) for e in at.error] == ["assignee: 'mia' has role manager, which may not take tasks"]
    at.selectbox(key="work_to").set_value("alice").run()
    at.button(key="work_assign").click().run()
    assert not at.error
    (task,) = [t for t in list_tasks(demo_app, as_user(demo_app, "mia")) if t["id"] == first]
    assert task["assignee"] == "alice"


def test_readiness_shows_the_plan_and_the_claim_page_the_single_line(demo_app: Runtime, open_page: Open) -> None:
    at = open_page("readiness")
    at.selectbox(key="action").set_value("eu-listing-supply-chain").run()
    shown = [m.value for m in at.markdown]
    assert "**Plan to ready: 5 items**" in shown
    plan = "\n".join(t.value for t in at.text)
    for t in list_tasks(demo_app, as_user(demo_app, "mia"), action="eu-listing-supply-chain"):
        assert f"task #{t['id']} · {t['claim']}: {t['need']}" in plan
    warnings = [unescape(w.value) for w in at.warning]
    assert "factory-exists rests on one line: losing eeas-intel or reuters drops it below its stage" in warnings
    page = open_page("claim_detail", claim="factory-exists")
    assert "Rests on one line: losing eeas-intel or reuters drops it below corroborated" in [
        unescape(w.value) for w in page.warning
    ]
    other = open_page("claim_detail", claim="shipped-to-russia")
    assert not [w for w in other.warning if "Rests on one line" in w.value]
