"""Every page through streamlit.testing.v1.AppTest on a seeded database, asserting what it shows."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from dashboard_helpers import APP, assess_all, make_confirmable, row_counts, texts, unescape
from identity_helpers import as_user
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

from claims import services
from claims.services import Runtime

Open = Callable[..., AppTest]
GAP = "needs 1 more independent supporting source graded C3 or better"


def test_router_opens_on_readiness(demo_app: Runtime, open_page: Open) -> None:
    """The manager's question first: the root address is the readiness page."""
    assert [t.value for t in open_page().title] == ["Policy readiness"]


def test_pipeline_counts_and_charts(demo_app: Runtime, open_page: Open) -> None:
    at = open_page("pipeline")
    assert [t.value for t in at.title] == ["Pipeline"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {
        "Claims": "5",
        "Corroborated": "1",
        "Confirmed": "1",
        "Refuted": "0",
        "Awaiting sign-off": "0",
        "At risk": "0",
    }
    assert [s.label for s in at.sidebar.selectbox] == ["Case"]  # no acting-user picker
    assert "Signed in as **mia** (manager)" in [c.value for c in at.sidebar.caption]
    charts = at.get("vega_lite_chart")
    assert len(charts) == 3  # per stage, what moved, time in stage
    moved = at.dataframe[0].value
    assert moved.to_dict("records") == [
        {"transition": "new → reported", "last 7 days": 4, "last 30 days": 4},
        {"transition": "reported → corroborated", "last 7 days": 1, "last 30 days": 1},
    ]
    assert "No confirmed or refuted claim has stopped meeting its stage." in texts(at)


def test_pipeline_filters_by_case_and_lists_claims_at_risk(demo_app: Runtime, open_page: Open) -> None:
    services.import_case(
        demo_app,
        as_user(demo_app, "alice"),
        services.validate_case(
            {
                "case": {"key": "other-case", "title": "Another investigation"},
                "sources": [{"key": "wire", "name": "A wire service", "kind": "media", "reliability": "B"}],
                "claims": [{"key": "other-claim", "statement": "Something else happened."}],
            }
        ),
    )
    for item in services.claim_detail(demo_app, "dual-use-supply")["evidence"]:
        if item["source"] in ("eu-council", "us-treasury"):
            services.retract_evidence(demo_app, as_user(demo_app, "alice"), item["id"], "listing annulled")
    assess_all(demo_app)

    at = open_page("pipeline")
    assert {m.label: m.value for m in at.metric}["Claims"] == "6"
    assert {m.label: m.value for m in at.metric}["At risk"] == "1"
    risky = at.dataframe[-1].value
    assert list(risky["claim"]) == ["dual-use-supply"]
    assert "no longer meets confirmed" in risky["why"][0]
    assert [p.value for p in at.page_link] == ["Open dual-use-supply"]

    at.sidebar.selectbox(key="case").select("other-case").run()
    assert {m.label: m.value for m in at.metric}["Claims"] == "1"
    assert {m.label: m.value for m in at.metric}["At risk"] == "0"


def test_claims_table_searches_and_filters(demo_app: Runtime, open_page: Open) -> None:
    at = open_page("claims")
    table = at.dataframe(key="claims_table")
    assert list(table.value["claim"]) == [
        "factory-exists",
        "lethal-production",
        "shipped-to-russia",
        "beijing-aware",
        "dual-use-supply",
    ]
    assert table.value.set_index("claim").loc["factory-exists", "stage"] == "corroborated"

    at.selectbox(key="grade").select("B2").run()
    assert list(at.dataframe(key="claims_table").value["claim"]) == ["factory-exists", "dual-use-supply"]
    at.multiselect(key="stage").select("confirmed").run()
    assert list(at.dataframe(key="claims_table").value["claim"]) == ["dual-use-supply"]
    at.selectbox(key="grade").select(None).run()
    at.multiselect(key="stage").unselect("confirmed").run()
    at.selectbox(key="source").select("reuters-documents").run()
    assert list(at.dataframe(key="claims_table").value["claim"]) == ["shipped-to-russia"]
    at.selectbox(key="source").select(None).run()
    at.text_input(key="q").input("beijing").run()
    assert list(at.dataframe(key="claims_table").value["claim"]) == ["beijing-aware"]
    at.text_input(key="q").input("no such words").run()
    assert "No claim matches these filters." in texts(at)


def test_claims_table_shows_the_true_total_and_pages_in_sql(app_env: Runtime, open_page: Open) -> None:
    sources = [{"key": "wire", "name": "Wire", "kind": "media", "reliability": "B"}]
    claims = [{"key": f"k-{n:03d}", "statement": f"Claim number {n}"} for n in range(120)]
    claims.append({"key": "pct", "statement": "Support rose to 50% in the_poll"})
    case = {"case": {"key": "big", "title": "Big"}, "sources": sources, "claims": claims}
    services.import_case(app_env, as_user(app_env, "alice"), services.validate_case(case))
    at = open_page("claims")
    assert "**121 claims** · showing 1-50" in [m.value for m in at.markdown]
    assert len(at.dataframe(key="claims_table").value) == 50
    assert [b.label for b in at.get("download_button")] == ["CSV of all 121"]
    at.pagination(key="page").set_value(3).run()
    assert list(at.dataframe(key="claims_table").value["claim"]) == [*(f"k-{n:03d}" for n in range(100, 120)), "pct"]
    at.text_input(key="q").input("%").run()
    assert list(at.dataframe(key="claims_table").value["claim"]) == ["pct"]  # literal, not a wildcard
    at.text_input(key="q").input("_").run()
    assert list(at.dataframe(key="claims_table").value["claim"]) == ["pct"]


def test_selecting_a_row_opens_the_claim(demo_app: Runtime, open_page: Open) -> None:
    at = open_page("claims")
    at.session_state["claims_table"] = {"selection": {"rows": [2], "columns": [], "cells": []}}
    at.run()
    assert [t.value for t in at.title] == ["Claim detail"]
    assert at.query_params["claim"] == "shipped-to-russia"
    assert at.selectbox(key="detail_claim").value == "shipped-to-russia"


def test_claim_detail_shows_the_main_claim_corroborated(demo_app: Runtime, open_page: Open) -> None:
    at = open_page("claim_detail", claim="factory-exists")
    assert at.subheader[0].value == "factory-exists"
    assert ":orange-badge[corroborated]" in [m.value for m in at.markdown]
    assert "Russia has set up a factory in China that assembles attack drones for Russia." in [t.value for t in at.text]
    evidence = at.dataframe[0].value
    assert list(evidence["grade"]) == ["B2", "B3", "C2", "D4"]
    assert list(evidence["stance"]) == ["supports", "supports", "supports", "contradicts"]
    assert evidence.set_index("source").loc["diplomats", "lineage root"] == "eeas-intel"  # repeats the EEAS
    assert set(evidence["status"]) == {"live"}
    (dot,) = at.get("graphviz_chart")
    assert "independent line" in dot.proto.spec and '"src:diplomats" -> "src:eeas-intel"' in dot.proto.spec
    # The assessment for each next stage: every criterion met or unmet, and the gap in words.
    confirm = at.dataframe[1].value
    assert confirm.to_dict("records")[0] == {
        "criterion": ">= 3 independent supporting line(s) graded C3 or better",
        "met": "✗",
        "have": "2",
        "need": "3",
    }
    assert any(GAP in t.value for t in at.text)
    assert ":red-badge[:material/close: not met]" in [m.value for m in at.markdown]

    at.selectbox(key="detail_claim").select("dual-use-supply").run()
    assert at.query_params["claim"] == "dual-use-supply"
    assert ":green-badge[confirmed]" in [m.value for m in at.markdown]


def test_retracted_evidence_is_struck_through(demo_app: Runtime, open_page: Open) -> None:
    detail = services.claim_detail(demo_app, "factory-exists")
    reuters = next(e for e in detail["evidence"] if e["source"] == "reuters")
    services.retract_evidence(demo_app, as_user(demo_app, "alice"), reuters["id"], "the agency withdrew the story")
    at = open_page("claim_detail", claim="factory-exists")
    frame = at.dataframe[0]
    assert frame.value.loc[0, "status"] == "retracted by alice: the agency withdrew the story"
    styler = frame.proto.arrow_data.styler
    shown = dataframe_util.convert_arrow_bytes_to_pandas_df(styler.display_values)
    assert shown.iloc[0, 0] == "r\u0336e\u0336u\u0336t\u0336e\u0336r\u0336s\u0336"  # struck through
    assert shown.iloc[1, 0] == "eeas-intel"  # live items untouched
    assert "color: #9e9e9e" in styler.styles
    (dot,) = at.get("graphviz_chart")
    assert '"src:reuters" -> "claim" [label="B2 retracted"' in dot.proto.spec


def test_readiness_names_the_gaps(demo_app: Runtime, open_page: Open) -> None:
    at = open_page("readiness")
    assert at.title[0].value == "Policy readiness"
    assert "2 of 5 actions ready" in at.caption[0].value
    shown = unescape(texts(at))
    # not-ready actions first, one line each: what it is, how many claims block it, the shortest gap
    lines = [
        unescape(m.value)
        for m in at.markdown
        if m.value.startswith(":red-badge[not ready]") and "blocked by" in m.value
    ]
    assert len(lines) == 3
    assert lines[0].startswith(
        ":red-badge[not ready] **EU restrictive measures against the entities running the factory**"
    )
    assert "** · blocked by 2 claims" in lines[0]
    assert lines[0].endswith(f"shortest gap: factory-exists: {GAP} (has 2 of 3), then sign-off")
    assert "blocked by 4 claims" in lines[-1]  # fewest blocking claims first
    # a claim that blocks three actions is said once
    assert shown.count("**factory-exists** (corroborated, needs confirmed) blocks 3 actions") == 1
    assert f"blocks 3 actions: {GAP} (has 2 of 3), then sign-off" in shown
    # what is missing before the chosen action (the first not-ready one by default; ?action= picks another)
    assert at.selectbox(key="action").value == "eu-listing-manufacturer"
    gaps = [t.value for t in at.text]
    assert any(GAP in g for g in gaps)
    assert any("must be corroborated first" in g for g in gaps)
    assert "Open claim" in [p.value for p in at.page_link]
    assert len(at.get("vega_lite_chart")) == 1  # the grid: five claims are readable
    assert "What the grades mean (Admiralty code)" in [e.label for e in at.expander]


def test_readiness_link_opens_one_action(demo_app: Runtime) -> None:
    """A shared address (/?action=KEY) opens readiness on that action."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    mia = {"who": as_user(demo_app, "mia"), "name": "mia", "role": "manager"}
    at.session_state["signed_in"] = {**mia, "method": "test", "last": time.time()}
    at.query_params["action"] = "measures-chinese-state"
    at.run()
    assert not at.exception
    assert at.selectbox(key="action").value == "measures-chinese-state"
    assert any("needs 3 more independent supporting sources" in t.value for t in at.text)  # beijing-aware


def test_readiness_beyond_ten_claims_is_a_searchable_table(app_env: Runtime, open_page: Open) -> None:
    claims = [{"key": f"c-{n:02d}", "statement": f"Claim {n}"} for n in range(12)]
    action = {
        "key": "big",
        "title": "Big action",
        "requires": [{"claim": c["key"], "stage": "confirmed"} for c in claims],
    }
    case = {"case": {"key": "wide", "title": "Wide"}, "sources": [], "claims": claims, "policy_actions": [action]}
    services.import_case(app_env, as_user(app_env, "alice"), services.validate_case(case))
    at = open_page("readiness")
    assert not at.get("vega_lite_chart")
    table = at.dataframe[0].value
    assert len(table) == 12 and list(table["claim"])[:2] == ["c-00", "c-01"]
    at.text_input(key="find").input("c-1").run()
    assert list(at.dataframe[0].value["claim"]) == ["c-10", "c-11"]
    assert "2 requirements of 12" in texts(at)


def test_whatif_moves_claims_and_readies_actions_without_writing(demo_app: Runtime, open_page: Open) -> None:
    before = row_counts(demo_app.database_url)
    at = open_page("readiness")

    def add(claim: str, source: str, credibility: int, reliability: str | None = None) -> None:
        at.selectbox(key="whatif_claim").select(claim).run()
        at.selectbox(key="whatif_source").select(source).run()
        if reliability:
            at.selectbox(key="whatif_reliability").select(reliability).run()
        at.radio(key="whatif_stance").set_value("supports")
        at.selectbox(key="whatif_cred").select(credibility).run()
        at.button(key="whatif_add").click().run()
        assert not at.exception, [e.value for e in at.exception]

    add("factory-exists", "us-treasury", 2)
    claims = at.dataframe[-2].value
    factory = claims.set_index("claim").loc["factory-exists"]
    assert (factory["now"], factory["with it"], factory["moves"]) == (
        "corroborated",
        "confirmed (after sign-off)",
        "yes",
    )
    assert "factory-exists would move to confirmed once a second reviewer signs off." in unescape(texts(at))
    assert "No further action would become ready with this evidence." in texts(at)

    add("lethal-production", "reuters", 2)
    add("lethal-production", "(new independent source)", 3, reliability="C")
    hypotheses = at.dataframe[-3].value
    assert list(hypotheses["grade"]) == ["B2", "B2", "C3"]
    actions = at.dataframe[-1].value.set_index("action")
    assert actions.loc["eu-listing-manufacturer", "ready now"] == "✗"
    assert actions.loc["eu-listing-manufacturer", "ready with it"] == "✓ (after sign-off)"
    assert "shipped-to-russia" in actions.loc["eu-listing-supply-chain", "still missing"]
    assert (
        "EU restrictive measures against the entities running the factory would become ready after sign-off."
        in unescape(texts(at))
    )
    assert row_counts(demo_app.database_url) == before  # nothing written

    at.button(key="whatif_clear").click().run()
    assert "No hypothetical evidence yet" in texts(at)
    assert row_counts(demo_app.database_url) == before


def test_pages_refresh_when_data_changes_elsewhere(demo_app: Runtime, open_page: Open) -> None:
    """A change made outside the dashboard (CLI, flows) shows on the next run: the cache key is the data version."""
    at = open_page("pipeline")
    assert {m.label: m.value for m in at.metric}["Awaiting sign-off"] == "0"
    make_confirmable(demo_app)
    at.run()
    assert {m.label: m.value for m in at.metric}["Awaiting sign-off"] == "1"


XSS = "<script>alert(1)</script>"


def test_user_text_is_shown_as_text_never_html(app_env: Runtime, open_page: Open) -> None:
    services.import_case(
        app_env,
        as_user(app_env, "alice"),
        services.validate_case(
            {
                "case": {"key": "xss", "title": f"Case {XSS}"},
                "sources": [
                    {"key": "src-a", "name": f'A "quoted" \\N {XSS} source', "kind": "media", "reliability": "B"},
                    {"key": "src-b", "name": "**b** [l](javascript:alert(2))", "kind": "osint", "reliability": "C"},
                ],
                "claims": [
                    {
                        "key": "xss-claim",
                        "statement": f"The drones {XSS} are real",
                        "evidence": [
                            {"source": "src-a", "stance": "supports", "credibility": 2, "summary": f"Seen {XSS}"},
                            {"source": "src-b", "stance": "supports", "credibility": 3, "summary": "[x](javascript:1)"},
                        ],
                    }
                ],
                "policy_actions": [
                    {
                        "key": "act",
                        "title": f"Act on **it** {XSS}",
                        "requires": [{"claim": "xss-claim", "stage": "confirmed"}],
                    }
                ],
            }
        ),
    )
    assess_all(app_env)
    pages = [
        open_page(),
        open_page("claims"),
        open_page("claim_detail", claim="xss-claim"),
        open_page("readiness"),
    ]
    detail = pages[2]
    assert f"The drones {XSS} are real" in [t.value for t in detail.text]  # the literal text, as text
    assert f"Seen {XSS}" in list(detail.dataframe[0].value["summary"])
    assert f"The drones {XSS} are real" in list(pages[1].dataframe(key="claims_table").value["statement"])
    readiness = pages[3]
    assert f"Act on **it** {XSS}" in unescape(texts(readiness))
    for at in pages:
        assert not at.get("html"), "st.html must never carry user data"
        for md in [*at.markdown, *at.caption, *at.success, *at.info, *at.warning, *at.error]:
            # escaped wherever Markdown is parsed: no bare "<" tag and no live link
            assert not re.search(r"(?<!\\)<script", md.value), md.value
            assert "](javascript" not in md.value, md.value
    (dot,) = detail.get("graphviz_chart")
    # DOT quoting: quotes and backslashes escaped (so Graphviz's \N is literal text), always a quoted label
    assert r'[label="src-a (B) · A \"quoted\" \\N <script>alert(1)' in dot.proto.spec


def test_no_page_allows_unsafe_html() -> None:
    root = Path(__file__).resolve().parents[2] / "dashboard"
    for path in root.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert "unsafe_allow_html=" not in source, path
        assert "st.html(" not in source and "components.html" not in source, path


def test_dashboard_imports_no_write_side_module_directly() -> None:
    """The layer rule, direct imports only (services necessarily reach the unit of work indirectly)."""
    import ast

    forbidden = ("claims.store.uow", "claims.store.repositories", "claims.cli")
    root = Path(__file__).resolve().parents[2] / "dashboard"
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not [n for n in names if n.startswith(forbidden)], (path, names)


def test_empty_database_pages_do_not_fail(app_env: Runtime, open_page: Open) -> None:
    for page in (None, "claims", "claim_detail", "readiness", "review"):
        at = open_page(page)
        assert not at.exception
    assert "No review requests are waiting." in texts(open_page("review"))
