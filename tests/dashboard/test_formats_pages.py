"""The claim detail shows likelihood and confidence apart; the readiness page offers the brief as a PDF."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest

from claims.services import Runtime

Open = Callable[..., AppTest]


def test_claim_detail_states_likelihood_and_confidence_in_separate_sentences(
    demo_app: Runtime, open_page: Open
) -> None:
    at = open_page("claim_detail", claim="dual-use-supply")
    shown = [m.value.replace("\\", "") for m in at.markdown]  # ui.esc backslash-escapes punctuation
    likelihood = next(m for m in shown if "Likelihood that dual" in m)
    assert "almost certain (95-99%" in likelihood
    assert "high" not in likelihood
    caption = next(c.value.replace("\\", "") for c in at.caption if "Analytic confidence" in c.value)
    assert "is high" in caption
    assert "certain" not in caption


def test_readiness_page_offers_the_brief_as_a_pdf(demo_app: Runtime, open_page: Open) -> None:
    at = open_page("readiness")
    (button,) = at.get("download_button")
    assert button.proto.label == "Download the brief (PDF)"
