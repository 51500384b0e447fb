"""Claim detail: statement, stage timeline, evidence (retracted struck through), lineage, assessment."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import data, ui

d = data.db()
keys = [r["key"] for r in data.claim_table(d, ui.case())]
wanted = st.query_params.get("claim")
if wanted and wanted not in keys:
    keys = [wanted, *keys]  # a link from another case's page still opens

st.title("Claim detail")
if not keys:
    st.info("No claims yet.")
    st.stop()

state = st.session_state
# A link (?claim=KEY) picks the claim when it is new, or when the picker was not on screen last run;
# otherwise the picker wins and the address follows it, so the page can be bookmarked.
if wanted and (wanted != state.get("detail_from_link") or "detail_claim" not in state):
    state["detail_claim"] = wanted
    state["detail_from_link"] = wanted
elif state.get("detail_claim") not in keys:
    state.pop("detail_claim", None)
key = st.selectbox("Claim", keys, key="detail_claim")
if key != wanted:
    st.query_params["claim"] = key
    state["detail_from_link"] = key

try:
    detail = data.claim_detail(d, key)
except Exception as exc:
    if not ui.is_refusal(exc):
        raise
    ui.refusal(exc)
    st.stop()

head = st.container(horizontal=True, vertical_alignment="center")
with head:
    st.subheader(detail["key"])
    ui.stage_badge(detail["stage"])
    if detail["at_risk"]:
        st.badge("at risk", color="red", icon=":material/warning:")
    st.badge(f"case {detail['case']}", color="gray")
    st.badge(f"policy {detail['policy_version']}", color="gray")
st.text(detail["statement"])

step = detail["next_step"]
if step["kind"] == "awaiting_review":
    st.info(f"Awaiting sign-off to {step['to']}: {ui.esc(step['reason'])}", icon=":material/hourglass_top:")
elif step["kind"] == "request_review":
    st.info(f"The criteria for {step['to']} hold; the next assessment run asks for a review.", icon=":material/flag:")
elif step["kind"] == "at_risk":
    st.warning(ui.esc(step["reason"]), icon=":material/warning:")

left, right = st.columns([3, 2], gap="large")
with left:
    st.markdown("#### Stage history")
    reached = [
        {"stage": s, "at": pd.Timestamp(t).tz_localize("UTC") if pd.Timestamp(t).tzinfo is None else pd.Timestamp(t)}
        for s, t in detail["stage_times"].items()
        if t
    ]
    if reached:
        frame = pd.DataFrame(reached).sort_values("at")
        frame["when"] = frame["at"].dt.strftime("%Y-%m-%d")
        scale = alt.Scale(domain=list(ui.STAGES), range=[ui.STAGE_COLOURS[s] for s in ui.STAGES])
        base = alt.Chart(frame).encode(
            x=alt.X("at:T", title=None), y=alt.Y("stage:N", sort=list(ui.STAGES), title=None)
        )
        chart = (
            base.mark_line(color="#9aa5b1", interpolate="step-after")
            + base.mark_circle(size=160).encode(
                color=alt.Color("stage:N", scale=scale, legend=None), tooltip=["stage", "when"]
            )
            + base.mark_text(dy=-14).encode(text="when:N")
        )
        st.altair_chart(chart.properties(height=180), width="stretch")
with right:
    st.markdown("#### Source lineage")
    sources = data.lineage(d, detail["case"])
    if detail["evidence"]:
        st.graphviz_chart(ui.lineage_dot(detail["key"], detail["evidence"], sources), width="stretch")
        st.caption("Each dashed box is one independent line; a source that repeats another adds no line.")
    else:
        st.caption("No evidence yet.")

st.markdown("#### Evidence")
if detail["evidence"]:
    ev = pd.DataFrame(
        [
            {
                "source": e["source"],
                "grade": e["grade"],
                "stance": e["stance"],
                "lineage root": e["independent_root"],
                "summary": e["summary"],
                "observed": e["observed_at"] or "",
                "added by": e["added_by"],
                "status": (f"retracted by {e['retracted_by']}: {e['retraction_reason']}" if e["retracted"] else "live"),
            }
            for e in detail["evidence"]
        ]
    )
    retracted = [i for i, e in enumerate(detail["evidence"]) if e["retracted"]]
    struck = ["source", "grade", "stance", "lineage root", "summary", "observed"]

    def strike(value: object) -> str:
        return "".join(ch + "\u0336" for ch in str(value))  # combining long stroke: struck-through text

    styler = ev.style
    if retracted:
        styler = styler.format(strike, subset=pd.IndexSlice[retracted, struck]).apply(
            lambda row: ["color: #9e9e9e" if row.name in retracted else "" for _ in row], axis=1
        )
    st.dataframe(
        styler,
        hide_index=True,
        width="stretch",
        column_config={"summary": st.column_config.TextColumn("summary", width="large")},
    )
    st.caption("Retracted items stay on record, struck through and greyed; they never count towards a stage.")
else:
    st.caption("No evidence yet.")

st.markdown("#### Assessment")
for stage, sa in detail["assessment"].items():
    with st.container(border=True):
        row = st.container(horizontal=True, vertical_alignment="center")
        with row:
            st.markdown(f"**To {stage}**")
            if sa["met"]:
                st.badge("met", color="green", icon=":material/check:")
            elif sa["evidence_met"]:
                st.badge("evidence met, sign-off missing", color="orange")
            else:
                st.badge("not met", color="red", icon=":material/close:")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "criterion": c["criterion"],
                        "met": ui.tick(c["met"]),
                        "have": "" if c["have"] is None else str(c["have"]),
                        "need": "" if c["need"] is None else str(c["need"]),
                    }
                    for c in sa["criteria"]
                ]
            ),
            hide_index=True,
            width="stretch",
        )
        for gap in sa["gaps"]:
            st.text(f"• {gap}")

with st.expander("Audit history"):
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "at": ui.when(h["at"]),
                    "who": h["actor"],
                    "what": h["kind"],
                    "from": h["from"] or "",
                    "to": h["to"] or "",
                    "why": h["rationale"] or "",
                    "policy": h["policy_version"] or "",
                }
                for h in detail["history"]
            ]
        ),
        hide_index=True,
        width="stretch",
    )
