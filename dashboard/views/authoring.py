"""Author: cases, sources, claims and policy actions created, edited and withdrawn by hand (issue 17).

Analysts and admins get the forms; managers and reviewers see the same lists read-only. Every
write goes through `claims.services.authoring` as the signed-in user, which checks the role,
the rationale and the version; a refusal is shown as its one line. The version an edit sends is
the one the editor first saw (kept in the session when the item was picked), so an edit someone
else made meanwhile is refused (a conflict), not overwritten.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from claims.services import authoring
from dashboard import data, ui

d = data.db()
rt = data.runtime(d)
actor = ui.acting_user() or ""
who = ui.acting()  # the proven identity, for the services
role = data.role_of(d, actor) or "?"
writer = ui.may(role, "author")

st.title("Author")
st.caption(
    f"Signed in as {ui.esc(actor or 'nobody')} ({ui.esc(role)}). "
    + ("Every change is audited with its old and new value." if writer else "Your role reads these lists only.")
)
flash = st.session_state.pop("author_flash", None)
if flash:
    st.success(ui.esc(flash), icon=":material/task_alt:")
for hit in st.session_state.pop("author_similar", []):  # the claim just added may be known already
    hint = "Same claim as" if hit.kind == "same" else "Related to"
    link = f"[{ui.esc(hit.claim_key)}](claim?claim={hit.claim_key})"
    st.warning(f"{hint} {link} ({hit.score:.2f}): {ui.esc(hit.statement)}", icon=":material/content_copy:")


def act(call: Callable[[], Any], done: str, *, forget: str | None = None) -> None:
    """Run one use case; a refusal is one line (st.error), success refreshes the cached pages."""
    try:
        call()
    except Exception as exc:
        if not ui.is_refusal(exc):
            raise
        ui.refusal(exc)
        return
    if forget:
        st.session_state.pop(forget, None)
    data.clear()
    st.session_state["author_flash"] = done
    st.rerun()


def add_claim_offering_similar(statement: str, key: str | None) -> None:
    """Add the claim, then keep the known claims it resembles for the next run to offer (issue 17, 3)."""
    from claims.services.similar import similar_claims

    made = authoring.add_claim(rt, who, case, statement, key=key)
    st.session_state["author_similar"] = similar_claims(rt, who, statement, exclude_claim=made, limit=3)


def seen(kind: str, key: str, version: int) -> int:
    """The version the editor read when first picking this item (not re-read on submit)."""
    return st.session_state.setdefault(f"seen_{kind}_{key}", version)


def table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    if rows:
        st.dataframe(pd.DataFrame(rows)[columns], hide_index=True, width="stretch")
    else:
        st.info("Nothing here yet.", icon=":material/inbox:")


def pick(label: str, rows: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    keys = [r["key"] for r in rows]
    chosen = st.selectbox(label, [None, *keys], key=f"pick_{kind}", format_func=lambda k: "—" if k is None else k)
    return next((r for r in rows if r["key"] == chosen), None)


cases = authoring.list_cases(rt, who)
case_keys = [c["key"] for c in cases]
if st.session_state.get("author_case") not in case_keys:  # e.g. None before the first case was added
    st.session_state.pop("author_case", None)
case = ui.case() or st.selectbox("Case", case_keys or [None], key="author_case")

tab_cases, tab_sources, tab_claims, tab_actions = st.tabs(["Cases", "Sources", "Claims", "Actions"])

with tab_cases:
    table(cases, ["key", "title", "marking", "version"])
    if writer:
        with st.form("case_add", clear_on_submit=True):
            st.subheader("New case")
            key = st.text_input("Key", key="case_add_key")
            title = st.text_input("Title", key="case_add_title")
            marking = st.selectbox(  # need to know (issue 20): None is the deployment's default
                "Marking", [None, *rt.markings.levels], format_func=lambda m: m or "default", key="case_add_marking"
            )
            if st.form_submit_button("Add case"):
                act(lambda: authoring.add_case(rt, who, key, title, marking=marking), f"Case {key} added.")
        row = pick("Edit case", cases, "case")
        if row:
            version = seen("case", row["key"], row["version"])
            with st.form("case_edit"):
                title = st.text_input("Title", value=row["title"], key="case_edit_title")
                if st.form_submit_button("Save case"):
                    act(
                        lambda: authoring.edit_case(rt, who, row["key"], expected_version=version, title=title),
                        f"Case {row['key']} saved.",
                        forget=f"seen_case_{row['key']}",
                    )

if case is None:
    for tab in (tab_sources, tab_claims, tab_actions):
        tab.info("Add a case first.", icon=":material/inbox:")
    st.stop()

sources = authoring.list_sources(rt, who, case)
claims = authoring.list_claims(rt, who, case)
actions = authoring.list_actions(rt, who, case)

with tab_sources:
    table(
        sources,
        ["key", "name", "kind", "reliability", "derived_from", "marking", "version", "withdrawn", "withdrawal_reason"],
    )
    if writer:
        source_keys = [s["key"] for s in sources]
        with st.form("source_add", clear_on_submit=True):
            st.subheader("New source")
            key = st.text_input("Key", key="source_add_key")
            name = st.text_input("Name", key="source_add_name")
            kind = st.selectbox("Kind", authoring.KINDS, key="source_add_kind")
            reliability = st.selectbox("Reliability", list("ABCDEF"), key="source_add_reliability")
            parent = st.selectbox("Derived from", [None, *source_keys], key="source_add_parent")
            source_marking = st.selectbox(
                "Marking",
                [None, *rt.markings.levels],
                format_func=lambda m: m or "the case's",
                key="source_add_marking",
            )
            if st.form_submit_button("Add source"):
                act(
                    lambda: authoring.add_source(
                        rt,
                        who,
                        case,
                        key,
                        name,
                        kind=kind,
                        reliability=reliability,
                        derived_from=parent,
                        marking=source_marking,
                    ),
                    f"Source {key} added.",
                )
        row = pick("Edit or withdraw source", [s for s in sources if not s["withdrawn"]], "source")
        if row:
            version = seen("source", row["key"], row["version"])
            with st.form("source_edit"):
                name = st.text_input("Name", value=row["name"], key="source_edit_name")
                reliability = st.selectbox(
                    "Reliability", list("ABCDEF"), index="ABCDEF".index(row["reliability"]), key="source_edit_rel"
                )
                rationale = st.text_input("Rationale (required for a new reliability)", key="source_edit_why")
                if st.form_submit_button("Save source"):
                    act(
                        lambda: authoring.edit_source(
                            rt,
                            who,
                            case,
                            row["key"],
                            expected_version=version,
                            name=name,
                            reliability=reliability,
                            rationale=rationale or None,
                        ),
                        f"Source {row['key']} saved.",
                        forget=f"seen_source_{row['key']}",
                    )
            with st.form("source_withdraw"):
                reason = st.text_input("Reason for withdrawing", key="source_withdraw_reason")
                if st.form_submit_button("Withdraw source"):
                    act(
                        lambda: authoring.withdraw_source(rt, who, case, row["key"], reason, expected_version=version),
                        f"Source {row['key']} withdrawn.",
                        forget=f"seen_source_{row['key']}",
                    )

with tab_claims:
    table(claims, ["key", "stage", "statement", "version", "withdrawn", "withdrawal_reason"])
    if writer:
        with st.form("claim_add", clear_on_submit=True):
            st.subheader("New claim")
            statement = st.text_area("Statement", key="claim_add_statement")
            key = st.text_input("Key (optional: made from the statement)", key="claim_add_key")
            if st.form_submit_button("Add claim"):
                act(lambda: add_claim_offering_similar(statement, key.strip() or None), "Claim added.")
        row = pick("Edit or withdraw claim", [c for c in claims if not c["withdrawn"]], "claim")
        if row:
            version = seen("claim", row["key"], row["version"])
            with st.form("claim_edit"):
                statement = st.text_area("Statement", value=row["statement"], key="claim_edit_statement")
                rationale = st.text_input("Rationale", key="claim_edit_why")
                if st.form_submit_button("Save claim"):
                    act(
                        lambda: authoring.edit_claim(
                            rt, who, row["key"], expected_version=version, statement=statement, rationale=rationale
                        ),
                        f"Claim {row['key']} saved; it will be re-assessed.",
                        forget=f"seen_claim_{row['key']}",
                    )
            with st.form("claim_withdraw"):
                reason = st.text_input("Reason for withdrawing", key="claim_withdraw_reason")
                if st.form_submit_button("Withdraw claim"):
                    act(
                        lambda: authoring.withdraw_claim(rt, who, row["key"], reason, expected_version=version),
                        f"Claim {row['key']} withdrawn.",
                        forget=f"seen_claim_{row['key']}",
                    )

with tab_actions:
    shown = [{**a, "requires": ", ".join(f"{r['claim']}:{r['stage']}" for r in a["requires"])} for a in actions]
    table(shown, ["key", "title", "severity", "requires", "version"])
    if writer:
        with st.form("action_add", clear_on_submit=True):
            st.subheader("New policy action")
            key = st.text_input("Key", key="action_add_key")
            title = st.text_input("Title", key="action_add_title")
            requires = st.text_input("Requires (claim:stage, comma-separated)", key="action_add_requires")
            if st.form_submit_button("Add action"):
                act(
                    lambda: authoring.add_action(
                        rt,
                        who,
                        case,
                        key,
                        title,
                        requires=authoring.parse_requires([r for r in requires.split(",") if r.strip()]),
                    ),
                    f"Action {key} added.",
                )
        row = pick("Edit action", actions, "action")
        if row:
            version = seen("action", row["key"], row["version"])
            with st.form("action_edit"):
                title = st.text_input("Title", value=row["title"], key="action_edit_title")
                current = ", ".join(f"{r['claim']}:{r['stage']}" for r in row["requires"])
                requires = st.text_input("Requires", value=current, key="action_edit_requires")
                rationale = st.text_input("Rationale (required for new requirements)", key="action_edit_why")
                if st.form_submit_button("Save action"):
                    act(
                        lambda: authoring.edit_action(
                            rt,
                            who,
                            row["key"],
                            expected_version=version,
                            title=title,
                            requires=authoring.parse_requires([r for r in requires.split(",") if r.strip()]),
                            rationale=rationale or None,
                        ),
                        f"Action {row['key']} saved.",
                        forget=f"seen_action_{row['key']}",
                    )
