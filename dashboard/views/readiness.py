"""Policy readiness, the landing page: what is missing before each action, the manager's answer first.

Not-ready actions come first, one line each; the claims that block them are said once each,
with what would close the gap. The action x claim grid is drawn only while it stays readable;
beyond that a searchable, paged table. The what-if tab re-runs the same rules with hypothetical
evidence held in this session only; nothing is written to the database.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from claims.domain.grades import Reliability
from claims.domain.readiness import ActionReadiness
from claims.services.whatif import NEW_SOURCE
from dashboard import data, summary, ui

GRID_MAX_CLAIMS = 10  # beyond this the grid's labels no longer fit; a table takes over
TABLE_PAGE = 25
LIST_MAX = 10  # not-ready actions and blocking claims listed one by one; the rest in one element below
ACTIONS, WHATIF = "Actions", "What if"

d = data.db()
case = ui.case()
actions = summary.ordered(data.readiness(d, case))
by_key = {a.key: a for a in actions}
not_ready = [a for a in actions if not a.ready]
ready = [a for a in actions if a.ready]
state = st.session_state


def start_whatif(claim: str) -> None:
    """A what-if begun from a gap: open the what-if tab with that claim picked."""
    state["view"] = WHATIF
    state["whatif_claim"] = claim


st.title("Policy readiness")
st.caption(
    f"{ui.esc(case or 'All cases')} · threshold policy {ui.esc(data.policy_version(d))} · "
    f"**{len(ready)} of {len(actions)} action{'s' if len(actions) != 1 else ''} ready**"
)
if not actions:
    st.info("No policy actions are recorded for this selection.")
elif case or len(data.cases(d)) == 1:  # the brief covers one case; built only when clicked
    from claims.services.exports.brief import brief

    st.download_button(
        "Download the brief (PDF)",
        lambda: brief(data.runtime(d), case, "pdf", who=data.proven(d)),  # at the reader's clearance
        file_name=f"brief-{case or actions[0].key}.pdf",
        mime="application/pdf",
        icon=":material/download:",
        key="brief_pdf",
        on_click="ignore",
    )

overview, whatif_tab = st.tabs([ACTIONS, WHATIF], key="view", bind="query-params", on_change="rerun")

with overview:
    if actions:
        left, right = st.columns([1, 1], gap="medium")
        with left:
            st.markdown(f"##### Not ready ({len(not_ready)})")
            if not not_ready:
                st.success("Every action is ready.", icon=":material/check_circle:")

            def not_ready_line(a: ActionReadiness) -> str:
                n = len(summary.blocking(a))
                return (
                    f":red-badge[not ready] **{ui.esc(a.title)}** · blocked by {n} claim{'s' if n != 1 else ''}  \n"
                    f"shortest gap: {ui.esc(summary.shortest_gap(a))}"
                )

            for a in not_ready[:LIST_MAX]:
                st.markdown(not_ready_line(a))
            if len(not_ready) > LIST_MAX:  # one element for the rest: hundreds of them slow the browser
                with st.expander(f"{len(not_ready) - LIST_MAX} more not ready"):
                    st.markdown("\n\n".join(not_ready_line(a) for a in not_ready[LIST_MAX:]))
            if ready:
                st.markdown(
                    f"##### Ready ({len(ready)})\n"
                    + "\n".join(f"- :green-badge[ready] {ui.esc(a.title)}" for a in ready)
                )
        with right:
            st.markdown("##### What blocks them, claim by claim")
            blockers = [
                f"**{ui.esc(g.claim)}** ({g.stage}, needs {g.needs}) blocks {len(g.actions)} "
                f"action{'s' if len(g.actions) != 1 else ''}: {ui.esc(summary.phrase(g.gaps))}"
                for g in summary.gaps_by_claim(actions)
            ]
            for line in blockers[:LIST_MAX]:
                st.markdown(line)
            if len(blockers) > LIST_MAX:
                with st.expander(f"{len(blockers) - LIST_MAX} more blocking claims"):
                    st.markdown("\n\n".join(blockers[LIST_MAX:]))

        st.markdown("##### What is missing before…")
        keys = [a.key for a in actions]
        if state.get("action") not in keys:
            state.pop("action", None)
        focus = by_key[
            st.selectbox(
                "Action",
                keys,
                key="action",
                bind="query-params",  # the key, not the title, goes into the address: ?action=KEY
                label_visibility="collapsed",
                help="Type to search. Not-ready actions come first.",
            )
        ]
        with st.container(border=True):
            st.markdown(
                f"{':green-badge[ready]' if focus.ready else ':red-badge[not ready]'} **{ui.esc(focus.title)}**"
            )
            if focus.ready:
                st.success(f"{ui.esc(focus.title)} is ready.", icon=":material/check_circle:")
            for r in focus.requirements:
                row = st.columns([3, 6, 2, 2], vertical_alignment="center")
                on_paper = not r.met and r.stage is not None and r.stage.satisfies(r.required_stage)
                row[0].markdown(
                    f"{'✓' if r.met else '✗'} **{ui.esc(r.claim)}**  \n"
                    + (
                        f"is {r.stage.value} but at risk"
                        if on_paper and r.stage
                        else f"is {r.stage.value if r.stage else 'unknown'}, needs {r.required_stage.value}"
                    )
                )
                if r.gaps:
                    row[1].text("\n".join(f"• {gap}" for gap in r.gaps))
                else:
                    row[1].caption("met")
                with row[2]:
                    ui.claim_link(r.claim, "Open claim")
                if not r.met:
                    row[3].button(
                        "What if…",
                        key=f"whatif_from_{focus.key}_{r.claim}",
                        icon=":material/science:",
                        on_click=start_whatif,
                        args=(r.claim,),
                        help="Try hypothetical evidence for this claim (nothing is written).",
                    )
            plan = data.action_plans(d, case).get(focus.key, {})
            if plan.get("tasks"):  # the smallest set of collection tasks that would make it ready (issue 18)
                st.markdown(f"**Plan to ready: {plan['items']} item{'s' if plan['items'] != 1 else ''}**")
                st.text("\n".join(f"• task #{t['task']} · {t['claim']}: {t['need']}" for t in plan["tasks"]))
                st.page_link(
                    ui.WORK,
                    label="Open the Work page",
                    icon=":material/assignment:",
                    query_params={"work_action": focus.key},
                )
            for claim, roots in plan.get("rests_on_one_line", {}).items():
                st.warning(
                    f"{ui.esc(claim)} rests on one line: losing {ui.esc(' or '.join(roots))} drops it below its stage",
                    icon=":material/warning:",
                )
        ui.grade_legend()

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
                    "label": ("✓ " if r.met else "✗ ")
                    + (r.stage.value if r.stage else "?")
                    + ("" if r.met else f" → {r.required_stage.value}"),
                    "gap": summary.phrase(r.gaps),
                }
                for a in actions
                for r in a.requirements
            ]
        )
        claim_order = list(dict.fromkeys(grid["claim"]))
        st.markdown("##### Every action and the claims it needs")
        if len(claim_order) <= GRID_MAX_CLAIMS:
            chart = (
                alt.Chart(grid)
                .mark_rect(stroke="white", strokeWidth=2, cornerRadius=3)
                .encode(
                    x=alt.X("claim:N", sort=claim_order, title=None, axis=alt.Axis(labelAngle=0, orient="top")),
                    y=alt.Y("action:N", sort=[a.key for a in actions], title=None, axis=alt.Axis(labelLimit=260)),
                    color=alt.Color(
                        "status:N",
                        scale=alt.Scale(
                            domain=["met", "open", "refuted: blocks"], range=["#2e8b57", "#b36b00", "#c0392b"]
                        ),
                        legend=alt.Legend(orient="bottom", title="requirement"),
                    ),
                    tooltip=["action", "claim", "needs", "is", "status", "gap"],
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
            st.caption("Each cell: ✓ met or ✗ open, the claim's stage now → the stage the action needs.")
        else:
            find = st.text_input(
                "Find an action or claim", key="find", bind="query-params", placeholder="action or claim key"
            )
            shown = grid
            if find and find.strip():
                needle = find.strip().lower()
                shown = grid[
                    grid["action"].str.lower().str.contains(needle, regex=False)
                    | grid["claim"].str.lower().str.contains(needle, regex=False)
                ]
            pages = max(1, -(-len(shown) // TABLE_PAGE))
            number = st.pagination(pages, key="grid_page") if pages > 1 else 1
            st.caption(f"{len(shown):,} requirement{'s' if len(shown) != 1 else ''} of {len(grid):,}")
            st.dataframe(
                shown.iloc[(number - 1) * TABLE_PAGE : number * TABLE_PAGE][
                    ["action", "claim", "is", "needs", "label", "gap"]
                ].rename(columns={"label": "status"}),
                hide_index=True,
                width="stretch",
                column_config={"gap": st.column_config.TextColumn("what would close it", width="large")},
            )

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

    search = (state.get("whatif_search") or "").strip() or None
    claim_keys = data.claim_keys(d, wcase, search)
    if search or len(claim_keys) >= data.PICK:  # a long list: the first PICK, and a search for the rest
        st.text_input("Find a claim", key="whatif_search", placeholder="part of its key or statement")
    sources = data.lineage(d, wcase)
    reliability = {s["key"]: s["reliability"] for s in sources}
    cred_labels = ui.CREDIBILITY_LABELS

    c1, c2, c3, c4, c5 = st.columns([3, 3, 2, 2, 2])
    gates = data.claim_gates(d, wcase)
    if state.get("whatif_claim") not in claim_keys:
        state.pop("whatif_claim", None)
    h_claim = c1.selectbox(
        "Claim",
        claim_keys,
        key="whatif_claim",
        format_func=lambda k: f"{k} · gates {gates[k]}" if k in gates else k,
        help="Type to search; claims that gate policy actions come first.",
    )
    h_source = c2.selectbox(
        "Source",
        [*reliability, NEW_SOURCE],
        format_func=lambda k: k if k == NEW_SOURCE else f"{k} · {ui.RELIABILITY_LABELS[reliability[k]]}",
        key="whatif_source",
        help="An existing source repeats its own lineage; a new source is its own independent line.",
    )
    h_rel = c3.selectbox(
        "Reliability",
        [r.value for r in Reliability],
        index=1,
        format_func=ui.RELIABILITY_LABELS.get,
        key="whatif_reliability",
        disabled=h_source != NEW_SOURCE,
        help="Only for a new source; an existing source keeps its own reliability.",
    )
    h_stance = c4.radio("Stance", ["supports", "contradicts"], key="whatif_stance", horizontal=True)
    h_cred = c5.selectbox("Credibility", list(cred_labels), index=1, format_func=cred_labels.get, key="whatif_cred")

    ui.grade_legend()
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
