"""Shared page pieces: the sidebar's choices, safe text, stage colours, links to a claim.

User text (statements, summaries, names, rationales, gap sentences that quote them) is shown
with `st.text`, in dataframe cells, or - where only Markdown is accepted (alerts, labels) -
after `esc()`. Nothing here or in the pages passes `unsafe_allow_html`.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import streamlit as st

from claims.domain.errors import DomainError
from claims.domain.events import EventKind
from claims.domain.grades import Credibility, Reliability
from claims.services.errors import ConcurrencyConflict
from claims.services.identity import Identity
from claims.services.runtime import PERMISSIONS, Role

# Page scripts live in views/, not pages/: a pages/ folder beside the entrypoint switches Streamlit to its
# legacy multipage mode, where AppTest.switch_page (and a fresh server's first run) skip the router.
PIPELINE = "views/pipeline.py"
CLAIMS = "views/claims.py"
DETAIL = "views/claim_detail.py"
READINESS = "views/readiness.py"
REVIEW = "views/review.py"
REPORT_NEW = "views/report_new.py"
REPORT = "views/report.py"
WORK = "views/work.py"
INBOX = "views/inbox.py"

STAGES = ("reported", "corroborated", "confirmed", "refuted")
STAGE_COLOURS = {"reported": "#8c9bb0", "corroborated": "#e3a21a", "confirmed": "#2e8b57", "refuted": "#c0392b"}
NEUTRAL_TEXT = "#8c9bb0"  # chart labels readable on the light and the dark theme alike
BADGE_COLOURS = {"reported": "gray", "corroborated": "orange", "confirmed": "green", "refuted": "red"}

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:=^&])")


def esc(text: object) -> str:
    """Backslash-escape Markdown and HTML punctuation so text shows literally where Streamlit parses Markdown."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", str(text)).replace("\n", " ")


def case() -> str | None:
    """The case chosen in the sidebar (None: all cases)."""
    return st.session_state.get("case")


def acting_user() -> str | None:
    """Who acts on every page, by name (to show it): the signed-in user (dashboard/auth.py proved it)."""
    return (st.session_state.get("signed_in") or {}).get("name")


def acting() -> Identity | None:
    """Who acts on every page, as the services take it: the Identity sign-in proved, re-read this run
    (dashboard/auth.py). The ONE place pages learn it; a name is never turned into one."""
    return (st.session_state.get("signed_in") or {}).get("who")


def role() -> str | None:
    """The signed-in user's role, to leave out controls the role cannot use."""
    return (st.session_state.get("signed_in") or {}).get("role")


def may(role: str | None, permission: str) -> bool:
    """Whether to OFFER a control to this role; the service still decides when it is used."""
    try:
        return permission in PERMISSIONS[Role(role or "")]
    except ValueError:
        return False


def query_param(name: str) -> str | None:
    """One value from the address bar (links carry case, claim, action and filters)."""
    value = st.query_params.get(name)
    return value or None


def sync_query(**values: object) -> None:
    """Write the page's choices into the address so the view can be shared and reloaded."""
    for name, value in values.items():
        text = ",".join(map(str, value)) if isinstance(value, list | tuple) else ("" if value is None else str(value))
        if text:
            if st.query_params.get(name) != text:
                st.query_params[name] = text
        elif name in st.query_params:
            del st.query_params[name]


RELIABILITY_LABELS = {r.value: f"{r.value} · {r.label}" for r in Reliability}
CREDIBILITY_LABELS = {int(c): f"{int(c)} · {c.name.replace('_', ' ').lower()}" for c in Credibility}


def grade_legend() -> None:
    """The Admiralty code in words, on every page that shows a grade."""
    with st.expander("What the grades mean (Admiralty code)", icon=":material/help:"):
        left, right = st.columns(2)
        left.markdown("**Source reliability**\n\n" + "\n".join(f"- **{r.value}**: {r.label}" for r in Reliability))
        right.markdown(
            "**Information credibility**\n\n"
            + "\n".join(f"- **{int(c)}**: {c.name.replace('_', ' ').lower()}" for c in Credibility)
        )
        st.markdown(
            "A grade joins both, e.g. **B2** = usually reliable source, probably true. "
            '**"C3 or better"** means *both* parts at least as good: reliability A, B or C *and* '
            "credibility 1, 2 or 3 (so B4 and D2 do not qualify). F and 6 never qualify."
        )


EVENT_LABELS = {
    EventKind.CASE_IMPORTED: "case imported",
    EventKind.CLAIM_REPORTED: "claim reported",
    EventKind.CLAIM_LINKED: "claim linked",
    EventKind.CLAIM_STAGE_CHANGED: "stage changed",
    EventKind.CLAIM_AT_RISK: "flagged at risk",
    EventKind.CLAIM_AT_RISK_CLEARED: "no longer at risk",
    EventKind.EVIDENCE_ADDED: "evidence added",
    EventKind.EVIDENCE_IMPORTED: "evidence imported",
    EventKind.EVIDENCE_RETRACTED: "evidence retracted",
    EventKind.REVIEW_REQUESTED: "sign-off requested",
    EventKind.REVIEW_APPROVED: "sign-off approved",
    EventKind.REVIEW_REJECTED: "sign-off rejected",
    EventKind.REVIEW_WITHDRAWN: "request withdrawn",
    EventKind.REVIEW_IMPORTED: "review imported",
    EventKind.USER_ADDED: "user added",
    EventKind.USER_PASSWORD_SET: "password set",
    EventKind.USER_EMAIL_SET: "e-mail set",
    EventKind.USER_DISABLED: "user disabled",
    EventKind.USER_LOCKED: "account locked",
    EventKind.USER_CLEARANCE_SET: "clearance set",
    EventKind.USER_ALL_CASES_SET: "access to every case set",
    EventKind.CASE_MEMBER_ADDED: "case member added",
    EventKind.CASE_MEMBER_REMOVED: "case member removed",
    EventKind.MARKING_CHANGED: "marking changed",
    EventKind.SIGN_IN: "signed in",
    EventKind.SIGN_IN_FAILED: "sign-in failed",
    EventKind.TOKEN_ISSUED: "token issued",
    EventKind.TOKEN_SETUP: "token issued by setup",
    EventKind.TOKEN_REVOKED: "token revoked",
    EventKind.SIGNOFF_CODE_ISSUED: "sign-off code issued",
    EventKind.SIGNOFF_CODE_REFUSED: "sign-off code refused",
    EventKind.TRUST_ADDED: "signing key trusted",
    EventKind.CASE_CREATED: "case created",
    EventKind.CASE_EDITED: "case edited",
    EventKind.SOURCE_ADDED: "source added",
    EventKind.SOURCE_EDITED: "source edited",
    EventKind.SOURCE_WITHDRAWN: "source withdrawn",
    EventKind.REPORT_ADDED: "report added",
    EventKind.REPORT_SENTENCE_ACCEPTED: "report sentence accepted",
    EventKind.TASK_OPENED: "task opened",
    EventKind.TASK_UPDATED: "task updated",
    EventKind.TASK_ASSIGNED: "task assigned",
    EventKind.TASK_TAKEN: "task taken",
    EventKind.TASK_CLOSED: "task closed",
    EventKind.TASK_WITHDRAWN: "task withdrawn",
    EventKind.CLAIM_EDITED: "claim reworded",
    EventKind.CLAIM_WITHDRAWN: "claim withdrawn",
    EventKind.ACTION_ADDED: "policy action added",
    EventKind.ACTION_EDITED: "policy action edited",
    EventKind.NOTE_ADDED: "note added",
    EventKind.NOTE_WITHDRAWN: "note withdrawn",
    EventKind.SUBSCRIPTION_ADDED: "subscribed",
    EventKind.SUBSCRIPTION_REMOVED: "unsubscribed",
    EventKind.CHANNEL_ADDED: "notification channel added",
    EventKind.CHANNEL_REMOVED: "notification channel removed",
    EventKind.INBOX_READ: "notifications read",
    EventKind.DELIVERY_RETRIED: "delivery retried",
}


def event_label(kind: str) -> str:
    """A human label for an audit event kind (unknown kinds shown readably, never raw dotted names)."""
    labels = {k.value: v for k, v in EVENT_LABELS.items()}
    return labels.get(str(kind), str(kind).replace(".", " ").replace("_", " "))


def stage_badge(stage: str | None, *, suffix: str = "") -> None:
    if stage:
        st.badge(f"{stage}{suffix}", color=BADGE_COLOURS.get(stage, "gray"))  # type: ignore[arg-type]


def refusal(exc: Exception) -> None:
    """Show the service's own one-line message when it refuses."""
    st.error(esc(str(exc)), icon=":material/block:")


def is_refusal(exc: Exception) -> bool:
    """Errors the user can cause: rule and role refusals, and a lost concurrent update."""
    return isinstance(exc, DomainError | ConcurrencyConflict)


def claim_link(key: str, label: str | None = None) -> None:
    st.page_link(DETAIL, label=label or key, icon=":material/arrow_forward:", query_params={"claim": key})


def tick(value: Any) -> str:
    return "✓" if value else "✗"


def when(value: Any) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM' (UTC), or '' for none."""
    if value is None or value == "":
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text.replace("T", " ")[:16]


def dot_quote(text: object) -> str:
    """A Graphviz double-quoted string: backslashes and quotes escaped, no line breaks.

    Doubling backslashes also defuses Graphviz's own escapes (\\N, \\G, \\l); labels are always
    quoted strings, never HTML-like `<...>` labels, so no markup reaches the renderer.
    """
    flat = " ".join(str(text).split())
    return '"' + flat.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _short(text: str, limit: int = 38) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def lineage_dot(claim: str, evidence: list[dict[str, Any]], sources: list[dict[str, Any]]) -> str:
    """Which source repeats which, and which independent line each evidence item belongs to.

    One dashed box per independent line (lineage root); inside it the sources of that line,
    arrows from a repeating source to the one it repeats; one edge per evidence item into the
    claim, green for supporting, red for contradicting, grey and dotted when retracted.
    """
    by_key = {s["key"]: s for s in sources}
    # The independent line of each source comes from the service (evidence["independent_root"]);
    # the sources between an evidence item's source and its root belong to the same line.
    line_of: dict[str, str] = {}
    for e in evidence:
        key, root = e["source"], e["independent_root"]
        while key and key not in line_of:
            line_of[key] = root
            if key == root:
                break
            key = by_key.get(key, {}).get("derived_from")
    lines: dict[str, list[str]] = {}
    for e in evidence:
        lines.setdefault(e["independent_root"], [])
    for key in sorted(line_of):
        lines.setdefault(line_of[key], []).append(key)
    shown = set(line_of)

    out = [
        "digraph lineage {",
        '  rankdir=LR; bgcolor="transparent"; fontcolor="#7f8c8d";',
        '  node [shape=box, style="rounded,filled", fillcolor="#f4f6f8", fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for i, (root, members) in enumerate(sorted(lines.items())):
        out.append(f"  subgraph cluster_{i} {{")
        out.append(f'    label={dot_quote(f"independent line {i + 1}: {root}")}; style="dashed"; color="#9aa5b1";')
        for key in members:
            s = by_key.get(key, {"name": key, "reliability": "?", "kind": ""})
            label = f"{key} ({s['reliability']}) · {_short(str(s['name']))}"
            out.append(f"    {dot_quote('src:' + key)} [label={dot_quote(label)}];")
        out.append("  }")
    for key in sorted(shown):
        parent = by_key.get(key, {}).get("derived_from")
        if parent:
            out.append(
                f"  {dot_quote('src:' + key)} -> {dot_quote('src:' + parent)} "
                '[label="repeats", style="dashed", color="#7f8c8d"];'
            )
    out.append(f'  {dot_quote("claim")} [label={dot_quote(claim)}, shape=ellipse, fillcolor="#fff4d6", fontsize=12];')
    for e in evidence:
        if e["retracted"]:
            colour, style, label = "#b0b0b0", "dotted", f"{e['grade']} retracted"
        elif e["stance"] == "supports":
            colour, style, label = "#2e8b57", "solid", f"{e['grade']} supports"
        else:
            colour, style, label = "#c0392b", "solid", f"{e['grade']} contradicts"
        out.append(
            f"  {dot_quote('src:' + e['source'])} -> {dot_quote('claim')} "
            f'[label={dot_quote(label)}, color="{colour}", fontcolor="{colour}", style="{style}"];'
        )
    out.append("}")
    return "\n".join(out)


def criteria_table(criteria: list[dict[str, Any]], *, with_gap: bool = False) -> None:
    """The criteria of one target stage: met or not, have and need, optionally the gap sentence."""
    rows = []
    for c in criteria:
        row = {
            "criterion": c["criterion"],
            "met": tick(c["met"]),
            "have": "" if c["have"] is None else str(c["have"]),
            "need": "" if c["need"] is None else str(c["need"]),
        }
        if with_gap:
            row["gap"] = c["gap"] or ""
        rows.append(row)
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def act(call: Any, done: str, flash: str) -> None:
    """Run a page's write: a refusal is one line on the page; success clears the cached reads and
    shows `done` after the rerun (from `st.session_state[flash]`)."""
    try:
        call()
    except Exception as exc:
        if not is_refusal(exc):
            raise
        refusal(exc)
        return
    from dashboard import data  # here: data's queries are not needed by every page that imports ui

    data.clear()
    st.session_state[flash] = done
    st.rerun()
