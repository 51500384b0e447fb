"""Claims: a searchable, filterable table (stage, case, source, grade, assignee) linking to each claim.

The table is paged in SQL and says the true total; the CSV download holds every matching row.
Filters live in the address (`?q=…&stage=…&page=…`), so a filtered view can be shared and reloaded.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data, ui

PAGE = 50

d = data.db()
case = ui.case()
options = data.filter_options(d, case)

st.title("Claims")
st.caption(f"{case or 'All cases'} · select a row to open the claim")

c1, c2, c3, c4, c5 = st.columns([3, 2, 2, 1, 2])
search = c1.text_input(
    "Search", placeholder="key or words of the statement", key="q", bind="query-params", help="Matched literally."
)
stages = c2.multiselect("Stage", options["stages"], key="stage", bind="query-params")
source = c3.selectbox(
    "Source", [None, *options["sources"]], format_func=lambda v: v or "any", key="source", bind="query-params"
)
grade = c4.selectbox(
    "Grade", [None, *options["grades"]], format_func=lambda v: v or "any", key="grade", bind="query-params"
)
assignee = c5.selectbox(
    "Assignee", [None, *options["assignees"]], format_func=lambda v: v or "anyone", key="assignee", bind="query-params"
)
ui.grade_legend()

filters = data.ClaimFilters(case, tuple(stages), source, grade, assignee, (search or "").strip() or None)
total = data.claim_total(d, filters)
if not total:
    st.info("No claim matches these filters.")
    st.stop()

pages = max(1, -(-total // PAGE))
top = st.container(horizontal=True, vertical_alignment="center")
number = 1
if pages > 1:
    with top:
        number = st.pagination(pages, key="page", bind="query-params")
number = min(max(1, number), pages)
rows = data.claim_page(d, filters, PAGE, (number - 1) * PAGE)
first = (number - 1) * PAGE + 1


def csv() -> bytes:
    """Every matching claim, not just this page (built only when the button is pressed)."""
    everything = data.claim_page(d, filters, None, 0)
    from claims.services.exports.spreadsheet import neutral

    return pd.DataFrame(everything).map(neutral).to_csv(index=False).encode()


with top:
    st.markdown(
        f"**{total:,} claim{'s' if total != 1 else ''}**"
        + (f" · showing {first:,}-{first + len(rows) - 1:,}" if pages > 1 else "")
    )
    st.download_button(
        f"CSV of all {total:,}",
        csv,
        file_name="claims.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
        key="claims_csv",
    )

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

selected = event.selection.rows if event is not None else []
if selected:
    st.switch_page(ui.DETAIL, query_params={"claim": frame.iloc[selected[0]]["claim"]})
