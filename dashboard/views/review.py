"""Review queue: pending confirm/refute requests with their assessment; approve or reject with a rationale.

Ordered by impact: requests whose claim gates the most policy actions come first, then the
oldest. Filter by case (sidebar) and by action (`?action=`). Each request carries the
assessment the queue service just made; the page does not assess the claim again.
Decisions are taken as the signed-in user. The page offers Approve/Reject only to a role that may
decide and never to the requester; `services.approve` / `services.reject` still check the role and
the four-eyes rule, and the page shows their message when they refuse.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from claims import services
from claims.services.identity import issue_signoff_code
from dashboard import data, ui

d = data.db()
case = ui.case()
actor = ui.acting_user()
who = ui.acting()  # the proven identity, for the services
role = data.role_of(d, actor) or "?"

st.title("Review queue")
st.caption(
    f"Signed in as {ui.esc(actor or 'nobody')} ({ui.esc(role)}). "
    "Reviewers decide, never the requester (four eyes)."
    + ("" if ui.may(role, "approve") else " Your role can follow the queue but not decide.")
)

flash = st.session_state.pop("review_flash", None)
if flash:
    st.success(ui.esc(flash), icon=":material/task_alt:")

needs = data.action_claims(d, case)
action = st.selectbox(
    "Action",
    [None, *sorted(needs)],
    format_func=lambda k: "Any action" if k is None else k,
    key="action",
    bind="query-params",
    help="Only requests on claims this policy action needs.",
)
# Impact first (a sign-off on a claim that gates many actions unblocks the most), then the oldest:
# the service orders, filters and cuts the queue in SQL and assesses only the page shown.
PAGE = 10  # each request shows its full assessment; a page of ten keeps the page light however long the queue
total = data.review_page(d, case, action, 0).total
if not total:
    st.info("No review requests are waiting.", icon=":material/inbox:")
pages = max(1, -(-total // PAGE))
if total:
    st.caption(f"{total:,} request{'s' if total != 1 else ''} waiting · most actions gated first")
number = 1
if pages > 1:
    number = st.pagination(pages, key="review_page", bind="query-params")
number = min(max(1, number), pages)
shown = data.review_page(d, case, action, PAGE, (number - 1) * PAGE).items if total else []
offer = ui.may(role, "approve")


def decide(review: dict, verb: str, rationale: str) -> None:
    """Call the service as the acting user; on success refresh every cached page."""
    rt = data.runtime(d)
    try:
        if verb == "approve":
            decision = services.approve(rt, who, review["id"], rationale.strip() or None)
        else:
            decision = services.reject(rt, who, review["id"], rationale)
    except Exception as exc:
        if not ui.is_refusal(exc):
            raise
        ui.refusal(exc)
        return
    data.clear()
    st.session_state["review_flash"] = (
        f"Review #{decision.review_id} {decision.status} by {actor}: {decision.claim} is now {decision.stage.value}."
    )
    st.rerun()


for r in shown:
    with st.container(border=True):
        row = st.container(horizontal=True, vertical_alignment="center")
        with row:
            st.markdown(f"**#{r['id']} · {ui.esc(r['claim'])}**")
            ui.stage_badge(r["from"])
            st.markdown("→")
            ui.stage_badge(r["to"])
            if r["gates"]:
                n = r["gates"]
                st.badge(f"gates {n} action{'s' if n != 1 else ''}", color="blue", icon=":material/gavel:")
            if r["evidence_met"]:
                st.badge("evidence criteria hold", color="green", icon=":material/check:")
            else:
                st.badge("evidence criteria no longer hold", color="red", icon=":material/warning:")
        st.text(r["statement"])
        st.caption(
            f"Requested by {ui.esc(r['requested_by'])} at {ui.when(r['requested_at'])} "
            f"under policy {ui.esc(r['policy_version'])}"
        )
        if r["reason"]:
            st.text(f"Reason: {r['reason']}")
        ui.criteria_table(r["criteria"], with_gap=True)
        ui.claim_link(r["claim"], f"Open {r['claim']}")
        if r["requested_by"] == actor:
            st.caption("You requested this; another reviewer decides it (four eyes).")
            continue
        if not offer:
            st.caption("Your role does not sign off; a reviewer other than the requester decides.")
            continue
        rationale = st.text_area(
            "Rationale",
            key=f"rationale_{r['id']}",
            placeholder="Why you approve or reject (recorded in the audit log; required to reject)",
            height=80,
        )
        b1, b2, b3, _ = st.columns([1, 1, 2, 2])
        if b1.button("Approve", key=f"approve_{r['id']}", type="primary", icon=":material/check:"):
            decide(r, "approve", rationale or "")
        if b2.button("Reject", key=f"reject_{r['id']}", icon=":material/close:"):
            decide(r, "reject", rationale or "")
        if b3.button("Code for the Prefect form", key=f"code_{r['id']}", icon=":material/pin:"):
            try:
                code, until = issue_signoff_code(data.runtime(d), who, r["id"])
            except Exception as exc:
                if not ui.is_refusal(exc):
                    raise
                ui.refusal(exc)
            else:
                st.code(code, language=None)
                st.caption(f"One use, for review #{r['id']} only, until {until:%H:%M} UTC.")

ui.grade_legend()
decided = data.recent_decisions(d, case)
if decided:
    st.subheader("Recently decided")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "#": r["id"],
                    "claim": r["claim"],
                    "to": r["to_stage"],
                    "decision": r["status"],
                    "requested by": r["requested_by"],
                    "decided by": r["decided_by"] or "",
                    "when": ui.when(r["decided_at"]),
                    "rationale": r["rationale"] or "",
                }
                for r in decided
            ]
        ),
        hide_index=True,
        width="stretch",
    )
