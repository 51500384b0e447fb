"""The claim page's "Similar claims" block, through AppTest: same/related known claims linked, and the links."""

from __future__ import annotations

from collections.abc import Callable

from dashboard_helpers import unescape
from identity_helpers import as_user
from streamlit.testing.v1 import AppTest

from claims import services
from claims.services import Runtime
from claims.services import similar as similar_service
from claims.services.links import link_claims


def second_report(rt: Runtime) -> None:
    case = services.validate_case(
        {
            "case": {"key": "second-report", "title": "A second report"},
            "sources": [{"key": "ngo", "name": "An NGO", "kind": "media", "reliability": "C"}],
            "claims": [
                {"key": "plant-xinjiang", "statement": "A plant in Xinjiang builds attack drones for Moscow."},
                {
                    "key": "factory-again",
                    "statement": "Russia has set up a factory in China that assembles attack drones.",
                },
            ],
        }
    )
    services.import_case(rt, as_user(rt, "alice"), case)


def labels(at: AppTest) -> list[str]:
    return [link.proto.label for link in at.get("page_link")]


def test_the_claim_page_lists_same_and_related_claims_with_links(
    demo_app: Runtime, open_page: Callable[..., AppTest], monkeypatch
) -> None:
    monkeypatch.setattr(similar_service, "_INDEXES", {})
    second_report(demo_app)
    link_claims(
        demo_app,
        as_user(demo_app, "alice"),
        "factory-again",
        "factory-exists",
        "duplicate",
        "the same claim, second report",
    )
    at = open_page("claim_detail", claim="factory-exists")
    assert not at.exception
    assert "#### Similar claims" in [m.value for m in at.markdown]
    shown = labels(at)
    assert any(label.startswith("same (") and "factory-again" in label for label in shown), shown
    assert any(label.startswith("related (") and "plant-xinjiang" in label for label in shown), shown
    assert not any(": factory-exists -" in label for label in shown)  # never itself
    captions = [unescape(c.value) for c in at.caption]
    assert any(
        "factory-again is duplicate of factory-exists: the same claim, second report (alice)" in c for c in captions
    )


def test_a_claim_with_nothing_similar_says_so(app_env: Runtime, open_page: Callable[..., AppTest], monkeypatch) -> None:
    monkeypatch.setattr(similar_service, "_INDEXES", {})
    case = {
        "case": {"key": "other", "title": "Unrelated"},
        "sources": [],
        "claims": [
            {"key": "grain", "statement": "Grain exports from Odesa rose in the spring."},
            {"key": "frog", "statement": "A new species of frog was found in the rainforest."},
        ],
    }
    services.import_case(app_env, as_user(app_env, "alice"), services.validate_case(case))
    at = open_page("claim_detail", claim="grain")
    assert not at.exception
    assert labels(at) == []
    assert any("No known claim says the same" in c.value for c in at.caption)
