"""The New report and Report pages (issue 17) through AppTest: an analyst pastes the demo report, sees the
ranked candidates with reasons, accepts one as a new claim and one as evidence; a manager only reads."""

from __future__ import annotations

from pathlib import Path

from identity_helpers import as_user

from claims import services
from claims.services import Runtime
from claims.services import reports as rep

SEED = Path(__file__).resolve().parents[2] / "examples" / "reports" / "eu-drones-report.txt"


def test_analyst_pastes_a_report_and_accepts_two_candidates(demo_app: Runtime, open_page) -> None:
    at = open_page("report_new", user="alice")
    assert [t.value for t in at.title] == ["New report"]
    at.text_area[0].set_value(SEED.read_text(encoding="utf-8"))
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Report #1 added" in s.value for s in at.success), [s.value for s in at.success]

    at = open_page("report", user="alice", id="1")
    assert [t.value for t in at.title] == ["Report"]
    assert any("hedged\\:" in c.value for c in at.caption)  # reasons shown (Markdown-escaped)
    main = next(i for i, e in enumerate(at.expander) if "Diplomats in Brussels have acquired" in e.label)
    form = at.expander[main]
    form.text_input[0].set_value("factory-in-china")
    form.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "factory-in-china" in services.claim_detail(demo_app, "factory-in-china")["key"]

    denial = next(i for i, e in enumerate(at.expander) if "Beijing has denied" in e.label)
    form = at.expander[denial]
    form.radio[0].set_value("evidence")
    form.selectbox[0].set_value("beijing-aware")
    form.radio[1].set_value("contradicts")
    form.text_input[1].set_value("china-mfa")
    form.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    accepted = rep.show_report(demo_app, as_user(demo_app, "mia"), 1).accepted
    assert sorted(a.claim for a in accepted) == ["beijing-aware", "factory-in-china"]
    evidence = services.claim_detail(demo_app, "beijing-aware")["evidence"]
    assert any(e["locator"] and e["locator"].startswith("report:1#chars=") for e in evidence)
    highlighted = "".join(m.value for m in at.markdown)
    assert ":orange-background[**Diplomats in Brussels have acquired" in highlighted
    assert "(claim?claim=factory-in-china)" in highlighted


def test_manager_reads_but_may_not_add_or_accept(demo_app: Runtime, open_page) -> None:
    rep.add_report(demo_app, as_user(demo_app, "alice"), "eu-drones-2024", SEED.read_bytes(), filename="drones.txt")
    at = open_page("report_new", user="mia")
    assert "To triage (1)" in [s.value for s in at.subheader]
    assert any("can read reports, not add them" in i.value for i in at.info)
    assert not at.text_area
    at = open_page("report", user="mia", id="1")
    assert at.expander and "Accept" not in [b.label for b in at.button]  # candidates shown, no Accept control
