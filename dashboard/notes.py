"""The notes block of a page: threaded notes on a claim (and its items), a form to add one or reply, withdrawal.

Note text is Markdown rebuilt by the service (`claims.services.notes.safe_markdown`) from its parsed
tokens: the author's characters all escaped, raw HTML only as text, links only to http(s)/mailto.
Writes go through the notes use cases, which check the role.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from claims.services import notes as svc
from claims.services.identity import Identity
from dashboard import data, ui


def notes_section(d: data.Db, claim_key: str, who: Identity | None, role: str | None) -> None:
    """Notes on `claim_key`, its evidence and its reviews, oldest thread first; replies indented."""
    st.markdown("#### Notes")
    notes = data.notes(d, claim_key, who)
    if not notes:
        st.caption("No notes yet.")
    for note, depth in svc.threads(notes):
        box = st.container(border=True)
        with box:
            if depth:
                st.caption("↳ reply" + (" " * depth))
            where = "" if note.target == f"claim:{claim_key}" else f" on {note.target}"
            st.caption(f"#{note.id} · {ui.esc(note.author)} · {note.created_at:%Y-%m-%d %H:%M} UTC{ui.esc(where)}")
            if note.withdrawn:
                st.caption(
                    f"Withdrawn by {ui.esc(note.withdrawn['by'])}: {ui.esc(note.withdrawn['reason'])}",
                )
                st.text(note.text)
            else:
                st.markdown(note.markdown)  # rebuilt by the service: no HTML, only http(s)/mailto links
                if (who is not None and who.name == note.author) or role == "admin":
                    with st.popover("Withdraw", icon=":material/undo:"):
                        reason = st.text_input("Reason", key=f"note_withdraw_reason_{note.id}")
                        if st.button("Withdraw note", key=f"note_withdraw_{note.id}"):
                            _do(
                                lambda n=note.id, r=reason: svc.withdraw_note(data.runtime(d), who, n, r),
                                "Note withdrawn.",
                            )
    if not ui.may(role, svc.NOTE_PERMISSION):
        st.caption(f"{ui.esc(role or 'no role')}: your role reads notes; analysts and reviewers write them.")
        return
    threads = {f"#{n.id} {n.author}: {n.text[:40]}": n.id for n in notes if not n.withdrawn}
    with st.form("add_note", clear_on_submit=True):
        text = st.text_area("Add a note (Markdown; no HTML)", key="note_text", height=90)
        parent = st.selectbox("In reply to", [None, *threads], format_func=lambda k: k or "a new thread")
        if st.form_submit_button("Add note", icon=":material/chat:"):
            reply_to = threads.get(parent) if parent else None
            _do(
                lambda: svc.add_note(
                    data.runtime(d),
                    who,
                    "claim" if reply_to is None else "",
                    claim_key,
                    text,
                    reply_to=reply_to,
                ),
                "Note added.",
            )
    if msg := st.session_state.pop("note_flash", None):
        st.success(msg)


def _do(call: Any, done: str) -> None:
    ui.act(call, done, "note_flash")
