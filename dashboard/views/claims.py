"""Claims: a searchable, filterable table (stage, case, source, grade, assignee) linking to each claim."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data, ui

d = data.db()
case = ui.case()
options = data.filter_options(d, case)

st.title("Claims")
st.caption(f"{case or 'All cases'} · select a row to open the claim")

c1, c2, c3, c4, c5 = st.columns([3, 2, 2, 1, 2])
search = c1.text_input("Search", placeholder="key or words of the statement", key="claims_search")
stages = c2.multiselect("Stage", options["stages"], key="claims_stages")
source = c3.selectbox("Source", [None, *options["sources"]], format_func=lambda v: v or "any", key="claims_source")
grade = c4.selectbox("Grade", [None, *options["grades"]], format_func=lambda v: v or "any", key="claims_grade")
assignee = c5.selectbox(
    "Assignee", [None, *options["assignees"]], format_func=lambda v: v or "anyone", key="claims_assignee"
)

rows = data.claim_table(d, case, tuple(stages), source, grade, assignee, search.strip() or None)
if not rows:
    st.info("No claim matches these filters.")
    st.stop()

frame = pd.DataFrame(
    [
        {
            "claim": r["key"],
            "stage": r["stage"] + (" (at risk)" if r["at_risk"] else ""),
            "statement": r["statement"],
            "supporting": r["supporting"],
            "contradicting": r["contradicting"],
            "retracted": r["retracted"],
            "sources": r["sources"],
            "awaiting sign-off": r["pending_review"] or "",
            "assignee": r["assignee"] or "",
            "case": r["case"],
            "in stage since": ui.when(r["in_stage_since"]),
        }
        for r in rows
    ]
)
event = st.dataframe(
    frame,
    key="claims_table",
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="single-row",
    column_config={
        "claim": st.column_config.TextColumn("claim", pinned=True),
        "statement": st.column_config.TextColumn("statement", width="large"),
        "supporting": st.column_config.NumberColumn("supporting", help="live supporting items"),
        "contradicting": st.column_config.NumberColumn("contradicting", help="live contradicting items"),
        "retracted": st.column_config.NumberColumn("retracted", help="retracted items (never counted)"),
    },
)
st.caption(f"{len(rows)} claim{'s' if len(rows) != 1 else ''}")

selected = event.selection.rows if event is not None else []
if selected:
    st.switch_page(ui.DETAIL, query_params={"claim": frame.iloc[selected[0]]["claim"]})
