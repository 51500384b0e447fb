"""Claim detail: statement, stage timeline, evidence (retracted struck through), lineage, assessment."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import data, ui

d = data.db()
keys = data.claim_keys(d, ui.case())
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
elif step["kind"] == "demote":
    st.warning(
        f"{ui.esc(step['reason'])}. The next assessment run moves it back to {step['to']}.", icon=":material/warning:"
    )
elif step["kind"] == "at_risk":
    st.warning(ui.esc(step["reason"]), icon=":material/warning:")

if judgement := detail.get("likelihood"):  # ICD 203: the term and the confidence word in separate sentences
    st.markdown(f"**{ui.esc(judgement['sentence'])}**")
    st.caption(ui.esc(judgement["confidence"]["sentence"]))

st.markdown("#### Stage history")
times = {
    stage: (pd.Timestamp(t).tz_localize("UTC") if pd.Timestamp(t).tzinfo is None else pd.Timestamp(t))
    for stage, t in detail["stage_times"].items()
    if t
}
ending = "refuted" if detail["stage"] == "refuted" or ("refuted" in times and "confirmed" not in times) else "confirmed"
path = ["reported", "corroborated", ending]
steps, previous = [], None
for i, stage in enumerate(path):
    at = times.get(stage)
    note = ""
    if at is not None:
        note = at.strftime("%Y-%m-%d %H:%M")
        if previous is not None:
            note += f" (+{max(0, (at - previous).days)} d)"
        previous = at
    steps.append(
        {
            "i": i,
            "stage": stage,
            "reached": at is not None,
            "when": note or "not reached",
            "current": stage == detail["stage"],
        }
    )
frame = pd.DataFrame(steps)
scale = alt.Scale(domain=list(ui.STAGES), range=[ui.STAGE_COLOURS[s] for s in ui.STAGES])
base = alt.Chart(frame).encode(x=alt.X("i:O", axis=None, scale=alt.Scale(paddingOuter=0.3)), y=alt.value(40))
line = base.mark_line(color="#c8ced6", strokeWidth=3)
dots = base.mark_circle(opacity=1).encode(
    color=alt.condition("datum.reached", alt.Color("stage:N", scale=scale, legend=None), alt.value("#e6e9ed")),
    size=alt.condition("datum.current", alt.value(900), alt.value(420)),
    tooltip=["stage", "when"],
)
names = base.mark_text(dy=-30, fontSize=13, fontWeight="bold").encode(text="stage:N")
dates = base.mark_text(dy=32, fontSize=11, color="#5f6b7a").encode(text="when:N")
st.altair_chart((line + dots + names + dates).properties(height=110), width="stretch")
st.caption("When the claim last entered each stage; every change is in the audit history below.")

st.markdown("#### Source lineage")
sources = data.lineage(d, detail["case"])
if detail["evidence"]:
    st.graphviz_chart(ui.lineage_dot(detail["key"], detail["evidence"], sources), width="content")
    st.caption(
        "Each dashed box is one independent line (a lineage root); a source that repeats another "
        "adds no line. Green supports, red contradicts, dotted grey is retracted."
    )
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
        ui.criteria_table(sa["criteria"])
        if sa["gaps"]:
            st.text("\n".join(f"• {gap}" for gap in sa["gaps"]))

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
