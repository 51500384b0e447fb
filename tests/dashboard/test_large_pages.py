"""Pages on a case too big to list whole: the demo plus 300 synthetic claims from bench/build.py
(48 policy actions gating about 260 claims, dozens of pending review requests)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from dashboard_helpers import system_queries as queries
from streamlit.testing.v1 import AppTest

from bench.build import build
from claims.services import Runtime
from claims.store.db import dispose_engines

Open = Callable[..., AppTest]


@pytest.fixture
def big_app(app_env: Runtime) -> Runtime:
    build(app_env.database_url, 300)
    dispose_engines()
    return app_env


def test_readiness_lists_ten_of_each_and_folds_the_rest_into_one_element(big_app: Runtime, open_page: Open) -> None:
    """Hundreds of markdown elements made the page slow to draw; the first ten stay on the first screen."""
    at = open_page("readiness")
    single = [m.value for m in at.markdown if "\n\n" not in m.value]  # the folded rest is one element
    assert len([v for v in single if v.startswith(":red-badge[not ready]") and "blocked by" in v]) == 10
    assert len([v for v in single if v.startswith("**") and ") blocks " in v]) == 10
    labels = [e.label for e in at.expander]
    more = [label for label in labels if label.endswith("more not ready")]
    assert more and int(more[0].split()[0]) > 20
    (rest,) = [e for e in at.expander if e.label == more[0]]
    assert rest.markdown[0].value.count(":red-badge[not ready]") == int(more[0].split()[0])
    assert any(label.endswith("more blocking claims") for label in labels)


def test_claim_picker_shows_the_gating_claims_first_and_finds_the_others(big_app: Runtime, open_page: Open) -> None:
    at = open_page("claim_detail")
    picker = at.selectbox(key="detail_claim")
    assert len(picker.options) == 200  # not every one of the 305 claims
    gates = queries.claim_gates(big_app.database_url)
    assert gates[picker.options[0]] == max(gates.values())  # the claim gating most actions comes first
    assert set(picker.options) >= set(gates)  # every gating claim is offered (fewer than 200 here)
    at.text_input(key="detail_search").input("bulk-c299").run()
    assert at.selectbox(key="detail_claim").options == ["bulk-c299"]
    assert at.selectbox(key="detail_claim").value == "bulk-c299"  # the first match opens
    assert not at.exception
