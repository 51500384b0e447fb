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
st.caption(f"{case or 'All cases'} · threshold policy {ui.esc(data.policy_version(d))}")

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
    labels = base.mark_text(align="left", dx=4, color=ui.NEUTRAL_TEXT).encode(text="claims:Q")
    st.altair_chart((bars + labels).properties(height=200), width="stretch")

with right:
    st.subheader("What moved")
    if not moves:
        st.info("No claim changed stage in the last 30 days.")
    else:
        frame = pd.DataFrame(moves)
        frame["transition"] = frame["from_stage"] + " → " + frame["to_stage"]
        order = list(frame["transition"])
        base = alt.Chart(frame).encode(y=alt.Y("transition:N", sort=order, title=None, axis=alt.Axis(labelLimit=220)))
        month = base.mark_bar(color="#aec7e8", size=26).encode(
            x=alt.X("last_30_days:Q", title="claims", axis=alt.Axis(tickMinStep=1)),
            tooltip=[alt.Tooltip("transition:N"), alt.Tooltip("last_30_days:Q", title="last 30 days")],
        )
        week = base.mark_bar(color="#1f77b4", size=12).encode(
            x="last_7_days:Q", tooltip=[alt.Tooltip("transition:N"), alt.Tooltip("last_7_days:Q", title="last 7 days")]
        )
        labels = (
            base.mark_text(align="left", dx=4, color=ui.NEUTRAL_TEXT)
            .encode(x="last_30_days:Q", text=alt.Text("label:N"))
            .transform_calculate(label="datum.last_7_days + ' in 7 days · ' + datum.last_30_days + ' in 30'")
        )
        st.altair_chart((month + week + labels).properties(height=70 + 60 * len(frame)), width="stretch")
        st.dataframe(
            frame[["transition", "last_7_days", "last_30_days"]].rename(
                columns={"last_7_days": "last 7 days", "last_30_days": "last 30 days"}
            ),
            hide_index=True,
            width="stretch",
        )
        st.caption("A claim imported with its history counts on the date it really moved, not on the import day.")

left, right = st.columns(2, gap="large")
with left:
    st.subheader("Time in current stage")
    if ages:
        frame = pd.DataFrame(ages)
        # Position carries the age (a column per bucket) and every cell is labelled with its count:
        # the shade only repeats what the text says, so nothing depends on telling colours apart.
        base = alt.Chart(frame).encode(
            x=alt.X(
                "bucket:O",
                scale=alt.Scale(domain=list(AGE_BUCKETS)),
                title="in stage for",
                axis=alt.Axis(labelAngle=0, orient="top"),
            ),
            y=alt.Y("stage:N", sort=list(ui.STAGES), title=None, scale=alt.Scale(domain=list(ui.STAGES))),
        )
        cells = base.mark_rect(cornerRadius=3, stroke="#8c9bb0", strokeWidth=1).encode(
            color=alt.Color("claims:Q", scale=alt.Scale(scheme="blues"), legend=None),
            tooltip=["stage", "bucket", "claims"],
        )
        counts = base.mark_text(fontSize=13, fontWeight="bold").encode(
            text="claims:Q",
            color=alt.condition(
                f"datum.claims > {frame['claims'].max() / 2}", alt.value("white"), alt.value("#102a43")
            ),
        )
        chart = (cells + counts).properties(height=220)
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
