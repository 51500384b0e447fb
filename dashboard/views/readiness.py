"""Policy readiness: for each action, ready or not, the gating claims and what would close each gap.

The what-if panel re-runs the same rules with hypothetical evidence held in this session
only; nothing is written to the database.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from claims.domain.grades import Credibility, Reliability
from claims.services.whatif import NEW_SOURCE
from dashboard import data, ui

d = data.db()
case = ui.case()
actions = data.readiness(d, case)

st.title("Policy readiness")
ready = [a for a in actions if a.ready]
st.caption(
    f"{case or 'All cases'} · threshold policy {ui.esc(data.policy_version(d))} · "
    f"{len(ready)} of {len(actions)} action{'s' if len(actions) != 1 else ''} ready"
)
if not actions:
    st.info("No policy actions are recorded for this selection.")
elif case or len(data.cases(d)) == 1:  # the brief covers one case; built only when clicked
    from claims.services.exports.brief import brief

    st.download_button(
        "Download the brief (PDF)",
        lambda: brief(data.runtime(d), case, "pdf"),
        file_name=f"brief-{case or actions[0].key}.pdf",
        mime="application/pdf",
        icon=":material/download:",
        key="brief_pdf",
        on_click="ignore",
    )

overview, whatif_tab = st.tabs(["Actions", "What if…"])

with overview:
    if actions:
        grid = pd.DataFrame(
            [
                {
                    "action": a.key,
                    "claim": r.claim,
                    "status": "met"
                    if r.met
                    else ("refuted: blocks" if r.stage and r.stage.value == "refuted" else "open"),
                    "needs": r.required_stage.value,
                    "is": r.stage.value if r.stage else "unknown",
                    "label": ("✓ " if r.met else "")
                    + (r.stage.value if r.stage else "?")
                    + ("" if r.met else f" → {r.required_stage.value}"),
                }
                for a in actions
                for r in a.requirements
            ]
        )
        claim_order = list(dict.fromkeys(grid["claim"]))
        chart = (
            alt.Chart(grid)
            .mark_rect(stroke="white", strokeWidth=2, cornerRadius=3)
            .encode(
                x=alt.X("claim:N", sort=claim_order, title=None, axis=alt.Axis(labelAngle=0, orient="top")),
                y=alt.Y("action:N", sort=[a.key for a in actions], title=None, axis=alt.Axis(labelLimit=260)),
                color=alt.Color(
                    "status:N",
                    scale=alt.Scale(domain=["met", "open", "refuted: blocks"], range=["#2e8b57", "#e3a21a", "#c0392b"]),
                    legend=alt.Legend(orient="bottom", title="requirement"),
                ),
                tooltip=["action", "claim", "needs", "is", "status"],
            )
        )
        text = (
            alt.Chart(grid)
            .mark_text(fontSize=11, color="white")
            .encode(
                x=alt.X("claim:N", sort=claim_order),
                y=alt.Y("action:N", sort=[a.key for a in actions]),
                text=alt.Text("label:N"),
            )
        )
        st.altair_chart((chart + text).properties(height=46 * len(actions) + 90), width="stretch")
        st.caption("Each cell is a claim an action depends on: its stage now, and the stage the action needs.")

    for a in actions:
        with st.container(border=True):
            row = st.container(horizontal=True, vertical_alignment="center")
            with row:
                st.markdown(f"**{ui.esc(a.title)}**")
                if a.ready:
                    st.badge("ready", color="green", icon=":material/check_circle:")
                else:
                    st.badge("not ready", color="red", icon=":material/pending:")
                st.badge(a.key, color="gray")
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "claim": r.claim,
                            "needs": r.required_stage.value,
                            "is": r.stage.value if r.stage else "unknown",
                            "met": ui.tick(r.met),
                        }
                        for r in a.requirements
                    ]
                ),
                hide_index=True,
                width="stretch",
            )
            for r in a.requirements:
                if r.met and not r.gaps:
                    continue
                at_risk = r.stage is not None and r.stage.satisfies(r.required_stage)  # on paper only
                st.markdown(
                    f"**{ui.esc(r.claim)}** is {r.stage.value} but at risk, so this action is not ready:"
                    if at_risk and r.stage
                    else f"**{ui.esc(r.claim)}** is {r.stage.value if r.stage else 'unknown'}, "
                    f"needs {r.required_stage.value}. What would close the gap:"
                )
                st.text("\n".join(f"• {gap}" for gap in r.gaps))
                ui.claim_link(r.claim, f"Open {r.claim}")

# --- what if -------------------------------------------------------------------------------

with whatif_tab:
    st.caption(
        "Add evidence that does not exist yet and see which claims would move and which actions would "
        "become ready under the same policy. It lives only in this browser session: nothing is written."
    )
    case_keys = [c["key"] for c in data.cases(d)]
    if not case_keys:
        st.stop()
    wcase = case or st.selectbox("Case", case_keys, key="whatif_case")
    state = st.session_state
    if state.get("whatif_for") != wcase:
        state["whatif_for"], state["whatif"] = wcase, []

    claim_keys = data.claim_keys(d, wcase)
    sources = data.lineage(d, wcase)
    reliability = {s["key"]: s["reliability"] for s in sources}
    cred_labels = {c.value: f"{c.value} · {c.name.replace('_', ' ').lower()}" for c in Credibility}

    c1, c2, c3, c4, c5 = st.columns([3, 3, 2, 2, 2])
    h_claim = c1.selectbox("Claim", claim_keys, key="whatif_claim")
    h_source = c2.selectbox(
        "Source",
        [*reliability, NEW_SOURCE],
        format_func=lambda k: k if k == NEW_SOURCE else f"{k} (reliability {reliability[k]})",
        key="whatif_source",
        help="An existing source repeats its own lineage; a new source is its own independent line.",
    )
    h_rel = c3.selectbox(
        "Reliability",
        [r.value for r in Reliability],
        index=1,
        key="whatif_reliability",
        disabled=h_source != NEW_SOURCE,
        help="Only for a new source; an existing source keeps its own reliability.",
    )
    h_stance = c4.radio("Stance", ["supports", "contradicts"], key="whatif_stance", horizontal=True)
    h_cred = c5.selectbox("Credibility", list(cred_labels), index=1, format_func=cred_labels.get, key="whatif_cred")

    b1, b2, _ = st.columns([2, 1, 5])
    if b1.button("Add hypothetical item", key="whatif_add", type="primary", disabled=not claim_keys):
        new = (h_claim, h_stance, int(h_cred), None if h_source == NEW_SOURCE else h_source)
        state["whatif"] = [*state["whatif"], (*new, h_rel if h_source == NEW_SOURCE else None)]
    if b2.button("Clear", key="whatif_clear", disabled=not state["whatif"]):
        state["whatif"] = []

    hypotheses = tuple(state["whatif"])
    if not hypotheses:
        st.info("No hypothetical evidence yet: pick a claim, a source, a stance and a credibility, then add it.")
        st.stop()

    st.dataframe(
        pd.DataFrame(
            [
                {
                    "claim": h[0],
                    "source": h[3] or f"new independent source ({h[4]})",
                    "grade": f"{h[4] if h[3] is None else reliability.get(h[3], '?')}{h[2]}",
                    "stance": h[1],
                }
                for h in hypotheses
            ]
        ),
        hide_index=True,
        width="stretch",
    )

    try:
        result = data.whatif(d, wcase, hypotheses)
    except Exception as exc:
        if not ui.is_refusal(exc):
            raise
        ui.refusal(exc)
        st.stop()

    st.markdown("##### Claims")
    moving = [p for p in result.claims if p.moves or p.affected]
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "claim": p.claim,
                    "now": p.stage.value,
                    "without it": p.baseline.value,
                    "with it": p.projected.value + (" (after sign-off)" if p.needs_sign_off else ""),
                    "moves": "yes" if p.moves else "no",
                    "how": "; ".join(p.steps) if p.moves else "",
                }
                for p in moving
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    for p in result.claims:
        if p.moves:
            after = " once a second reviewer signs off" if p.needs_sign_off else ""
            st.success(f"{ui.esc(p.claim)} would move to {p.projected.value}{after}.", icon=":material/trending_up:")

    st.markdown("##### Actions")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "action": a.key,
                    "ready now": ui.tick(a.ready_now),
                    "ready with it": ui.tick(a.ready_then) + (" (after sign-off)" if a.needs_sign_off else ""),
                    "still missing": " | ".join(f"{r.claim}: {g}" for r in a.requirements if not r.met for g in r.gaps),
                }
                for a in result.actions
            ]
        ),
        hide_index=True,
        width="stretch",
        column_config={"still missing": st.column_config.TextColumn("still missing", width="large")},
    )
    for a in result.actions:
        if a.becomes_ready:
            after = " after sign-off" if a.needs_sign_off else ""
            st.success(f"{ui.esc(a.title)} would become ready{after}.", icon=":material/check_circle:")
    if not any(a.becomes_ready for a in result.actions):
        st.warning("No further action would become ready with this evidence.", icon=":material/info:")
    st.caption("Nothing was written to the database.")
