"""Work: the collection tasks planned from the gaps (issue 18), in work order.

Each task says what to collect (stance, how many independent lines, the minimum grade, which
lineage roots it must be independent of) or who must sign off, which actions it unblocks and by
when. A person takes a task ("I'm on it"); a manager or analyst assigns one. The services decide
who may; the page only offers.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from claims.services.tasks import assign, take
from dashboard import data, ui

d = data.db()
case = ui.case()
me = ui.acting_user()
who = ui.acting()  # the proven identity, for the services
role = ui.role()

st.title("Work")
show = st.segmented_control(
    "Show", ["Unassigned", "Mine", "All open"], default="Unassigned", key="work_show", bind="query-params"
)
items = data.tasks(d, case, who)
if show == "Mine":
    items = [t for t in items if t["assignee"] == me]
elif show == "Unassigned":
    items = [t for t in items if t["assignee"] is None]
actions = sorted({a for t in data.tasks(d, case, who) for a in t["actions"]})
pick = st.selectbox(
    "For action",
    [None, *actions],
    format_func=lambda a: "every action" if a is None else a,
    key="work_action",
    bind="query-params",
)
if pick:
    items = [t for t in items if pick in t["actions"]]
st.caption(
    f"{len(items)} task{'s' if len(items) != 1 else ''} · most actions unblocked first, then the action "
    "nearest to ready, then the earliest due date"
)
if not items:
    st.info("No open tasks for this selection.")
    st.stop()

st.dataframe(
    pd.DataFrame(
        [
            {
                "#": t["id"],
                "claim": t["claim"],
                "what is needed": t["need"],
                "unblocks": ", ".join(t["actions"]),
                "nearest action, items to ready": t["closest"],
                "due": t["due"] or "",
                "who": t["assignee"] or "unassigned",
            }
            for t in items
        ]
    ),
    hide_index=True,
    width="stretch",
    column_config={"what is needed": st.column_config.TextColumn(width="large")},
)

labels = {t["id"]: f"#{t['id']} {t['claim']}: {t['need']}" for t in items}
chosen = st.selectbox("Task", list(labels), key="work_task", format_func=labels.get)
task = next(t for t in items if t["id"] == chosen)
left, right = st.columns([1, 2])


def _act(fn, *args) -> None:  # type: ignore[no-untyped-def]
    try:
        fn(data.runtime(d), who, *args)
    except Exception as exc:
        if not ui.is_refusal(exc):
            raise
        st.session_state["work_refused"] = str(exc)
    else:
        st.session_state.pop("work_refused", None)
    data.clear()


if ui.may(role, "take_task") and task["assignee"] is None:
    left.button(
        "I'm on it", key="work_take", type="primary", icon=":material/front_hand:", on_click=_act, args=(take, chosen)
    )
if ui.may(role, "assign_task"):
    people = [u["name"] for u in data.users(d)]
    to = right.selectbox("Assign to", people, key="work_to")
    right.button(
        "Assign", key="work_assign", icon=":material/assignment_ind:", on_click=_act, args=(assign, chosen, to)
    )
if refused := st.session_state.get("work_refused"):
    st.error(ui.esc(refused), icon=":material/block:")
ui.claim_link(task["claim"], "Open claim")
