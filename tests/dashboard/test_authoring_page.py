"""The Author page through AppTest: analysts add and edit through the services; managers read only;
a refusal (missing rationale, a stale version) is one st.error line, never a traceback."""

from __future__ import annotations

from collections.abc import Callable

from identity_helpers import as_user
from streamlit.testing.v1 import AppTest

from claims.services import Runtime
from claims.services import authoring as a

Open = Callable[..., AppTest]


def test_an_analyst_adds_a_case_and_a_claim(app_env: Runtime, open_page: Open) -> None:
    at = open_page("authoring", user="alice")
    at.text_input(key="case_add_key").input("desk")
    at.text_input(key="case_add_title").input("The desk")
    at.button(key="FormSubmitter:case_add-Add case").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [c["key"] for c in a.list_cases(app_env, as_user(app_env, "alice"))] == ["desk"]
    at.text_area(key="claim_add_statement").input("A plant in Xinjiang builds drones")
    at.button(key="FormSubmitter:claim_add-Add claim").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (claim,) = a.list_claims(app_env, as_user(app_env, "alice"), "desk")
    assert claim["key"] == "a-plant-in-xinjiang-builds-drones"
    at.text_area(key="claim_add_statement").input("A factory in Xinjiang builds drones")
    at.button(key="FormSubmitter:claim_add-Add claim").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    offered = [w.value for w in at.warning]  # the claim just added resembles the first one: offered, linked
    first = "a-plant-in-xinjiang-builds-drones"
    assert any(first in w and w.startswith(("Same claim as", "Related to")) for w in offered), offered
    assert not any("a-factory-in-xinjiang-builds-drones]" in w for w in offered)  # never the new claim itself


def test_refusals_are_one_line_and_a_stale_version_is_not_overwritten(app_env: Runtime, open_page: Open) -> None:
    a.add_case(app_env, as_user(app_env, "alice"), "desk", "Desk")
    a.add_claim(app_env, as_user(app_env, "alice"), "desk", "First words", key="c")
    at = open_page("authoring", user="alice")
    at.selectbox(key="pick_claim").select("c").run()
    at.text_area(key="claim_edit_statement").input("Second words")
    at.button(key="FormSubmitter:claim_edit-Save claim").click().run()
    assert not at.exception
    (line,) = [e.value.replace("\\", "") for e in at.error]  # shown escaped (ui.esc)
    assert line == "rationale: changing a claim's statement needs a rationale (--rationale)"
    a.edit_claim(
        app_env, as_user(app_env, "admin"), "c", expected_version=1, statement="Admin's words", rationale="meanwhile"
    )
    at.text_input(key="claim_edit_why").input("clearer")
    at.button(key="FormSubmitter:claim_edit-Save claim").click().run()
    assert not at.exception
    (line,) = [e.value.replace("\\", "") for e in at.error]
    assert line.startswith("version: claim 'c' is at version 2, not 1")
    assert a.list_claims(app_env, as_user(app_env, "alice"), "desk")[0]["statement"] == "Admin's words"


def test_a_manager_sees_the_lists_without_forms(app_env: Runtime, open_page: Open) -> None:
    a.add_case(app_env, as_user(app_env, "alice"), "desk", "Desk")
    a.add_claim(app_env, as_user(app_env, "alice"), "desk", "First words", key="c")
    at = open_page("authoring", user="mia")
    assert not at.exception
    assert not [b for b in at.button if "FormSubmitter" in str(b.key)]
    assert "Your role reads these lists only." in at.caption[0].value
    assert any("First words" in str(df.value.to_dict()) for df in at.dataframe)


def test_the_claim_page_shows_a_withdrawn_claim_as_withdrawn(app_env: Runtime, open_page: Open) -> None:
    a.add_case(app_env, as_user(app_env, "alice"), "desk", "Desk")
    a.add_claim(app_env, as_user(app_env, "alice"), "desk", "First words", key="c")
    a.withdraw_claim(app_env, as_user(app_env, "alice"), "c", "a duplicate", expected_version=1)
    at = open_page("claim_detail", claim="c")
    assert any("Withdrawn by alice" in w.value and "a duplicate" in w.value for w in at.warning)
