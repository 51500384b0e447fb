"""Pipeline: claims per stage, what moved in the last 7 and 30 days, time in stage, claims at risk."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from claims.store.queries import AGE_BUCKETS
from dashboard import data, ui

d = data.db()
case = ui.case()

st.title("Pipeline")
st.caption(f"{case or 'All cases'} · threshold policy {data.policy_version(d)}")

counts = data.stage_counts(d, case)
moves = data.movements(d, case)
ages = data.ageing(d, case)
risky = data.at_risk(d, case)
pending = data.pending_count(d, case)
by_stage = {c["stage"]: c["claims"] for c in counts}

cols = st.columns(6)
cols[0].metric("Claims", sum(by_stage.values()))
cols[1].metric("Corroborated", by_stage["corroborated"])
cols[2].metric("Confirmed", by_stage["confirmed"])
cols[3].metric("Refuted", by_stage["refuted"])
cols[4].metric("Awaiting sign-off", pending)
cols[5].metric("At risk", len(risky))

stage_scale = alt.Scale(domain=list(ui.STAGES), range=[ui.STAGE_COLOURS[s] for s in ui.STAGES])

left, right = st.columns(2, gap="large")
with left:
    st.subheader("Claims per stage")
    frame = pd.DataFrame(counts)
    base = alt.Chart(frame).encode(
        y=alt.Y("stage:N", sort=list(ui.STAGES), title=None),
        x=alt.X("claims:Q", title="claims", axis=alt.Axis(tickMinStep=1)),
    )
    bars = base.mark_bar(cornerRadiusEnd=3).encode(
        color=alt.Color("stage:N", scale=stage_scale, legend=None), tooltip=["stage", "claims", "at_risk"]
    )
    labels = base.mark_text(align="left", dx=4).encode(text="claims:Q")
    st.altair_chart((bars + labels).properties(height=200), width="stretch")

with right:
    st.subheader("What moved")
    if not moves:
        st.info("No claim changed stage in the last 30 days.")
    else:
        frame = pd.DataFrame(moves)
        frame["transition"] = frame["from_stage"] + " → " + frame["to_stage"]
        long = frame.melt(
            id_vars=["transition"], value_vars=["last_7_days", "last_30_days"], var_name="window", value_name="claims"
        )
        long["window"] = long["window"].map({"last_7_days": "last 7 days", "last_30_days": "last 30 days"})
        chart = (
            alt.Chart(long)
            .mark_bar()
            .encode(
                y=alt.Y("transition:N", title=None, sort=list(frame["transition"])),
                yOffset=alt.YOffset("window:N", sort=["last 7 days", "last 30 days"]),
                x=alt.X("claims:Q", axis=alt.Axis(tickMinStep=1)),
                color=alt.Color(
                    "window:N",
                    scale=alt.Scale(domain=["last 7 days", "last 30 days"], range=["#1f77b4", "#aec7e8"]),
                    legend=alt.Legend(orient="bottom", title=None),
                ),
                tooltip=["transition", "window", "claims"],
            )
            .properties(height=max(120, 48 * len(frame)))
        )
        st.altair_chart(chart, width="stretch")
        st.caption("A claim imported with its history counts on the date it really moved, not on the import day.")

left, right = st.columns(2, gap="large")
with left:
    st.subheader("Time in current stage")
    if ages:
        frame = pd.DataFrame(ages)
        chart = (
            alt.Chart(frame)
            .mark_bar()
            .encode(
                y=alt.Y("stage:N", sort=list(ui.STAGES), title=None),
                x=alt.X("claims:Q", stack="zero", axis=alt.Axis(tickMinStep=1)),
                color=alt.Color(
                    "bucket:N",
                    scale=alt.Scale(domain=list(AGE_BUCKETS), scheme="blues"),
                    sort=list(AGE_BUCKETS),
                    legend=alt.Legend(orient="bottom", title=None),
                ),
                order=alt.Order("bucket_order:Q"),
                tooltip=["stage", "bucket", "claims"],
            )
            .transform_calculate(
                bucket_order=" + ".join(f"(datum.bucket == '{b}' ? {i} : 0)" for i, b in enumerate(AGE_BUCKETS))
            )
            .properties(height=200)
        )
        st.altair_chart(chart, width="stretch")
        oldest: dict[str, int] = {}
        for row in ages:
            if row["oldest_days"] is not None:
                oldest[row["stage"]] = max(oldest.get(row["stage"], 0), row["oldest_days"])
        st.caption(" · ".join(f"{stage}: longest {days} days" for stage, days in oldest.items()))
    else:
        st.info("No claims yet.")

with right:
    st.subheader("At risk")
    if not risky:
        st.success("No confirmed or refuted claim has stopped meeting its stage.", icon=":material/verified:")
    else:
        st.caption("Confirmed or refuted claims that no longer meet their stage. They are never demoted silently.")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "claim": r["key"],
                        "stage": r["stage"],
                        "why": r["reason"] or "",
                        "flagged": ui.when(r["flagged_at"]),
                    }
                    for r in risky
                ]
            ),
            hide_index=True,
            width="stretch",
        )
        for r in risky:
            ui.claim_link(r["key"], f"Open {r['key']}")
