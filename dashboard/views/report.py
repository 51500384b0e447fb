"""Report: its text with accepted sentences highlighted and linked to their claim, the ranked candidates with
their reasons, and Accept (as a new claim, or as evidence on a known claim). Analysts accept; managers read."""

from __future__ import annotations

import streamlit as st

from claims.domain.errors import DomainError
from claims.services import Runtime
from claims.services import reports as rep
from dashboard import data, ui

d = data.db()
actor = ui.acting_user() or ""
who = ui.acting()  # the proven identity, for the services
role = data.role_of(d, actor) or "?"
rt = Runtime(d.url)
st.title("Report")

raw = ui.query_param("id")
if not raw or not raw.isdigit():
    st.info("Open a report from the New report page (`?id=N`).")
    st.stop()
try:
    page = rep.show_report(rt, who, int(raw))
except DomainError as err:
    st.error(ui.esc(str(err)))
    st.stop()

r = page.report
st.caption(ui.esc(f"#{r.id} · {r.case} · {r.title} · added by {r.added_by} · sha256 {r.sha256[:12]}…"))
flash = st.session_state.pop("report_flash", None)
if flash:
    st.success(ui.esc(flash))


def _plain(text: str) -> str:
    """Escaped text with its paragraphs kept (ui.esc folds newlines)."""
    return "\n\n".join(ui.esc(line) for line in text.split("\n"))


parts, at = [], 0
for a in sorted(page.accepted, key=lambda a: a.start):
    parts.append(_plain(page.text[at : a.start]))
    sentence = ui.esc(page.text[a.start : a.end])
    parts.append(f":orange-background[**{sentence}**] [→ {ui.esc(a.claim)}](claim?claim={a.claim})")
    at = a.end
parts.append(_plain(page.text[at:]))
st.markdown("".join(parts))

st.subheader("Candidates")
if page.sources:
    st.caption(ui.esc("Speakers: " + "; ".join(f"{s.speaker} → {s.source or 'new source'}" for s in page.sources)))
may_accept = ui.may(role, "add_evidence")
claims = data.claim_keys(d, r.case) if may_accept else []
for rank, c in enumerate(page.candidates[:15], start=1):
    with st.expander(f"{rank}. #{c.number} [{c.score:g}] {c.text[:110]}"):
        st.write(ui.esc(c.text))
        st.caption(ui.esc("Why: " + ("; ".join(c.reasons) or "no cue")))
        for hit in page.similar.get(c.number, ()):
            hint = "Same claim as" if hit.kind == "same" else "Related to"
            link = f"[{ui.esc(hit.claim_key)}](claim?claim={hit.claim_key})"
            st.markdown(f"{hint} {link} ({hit.score:.2f}): {ui.esc(hit.statement)}")
        if not may_accept:
            continue
        with st.form(f"accept_{c.number}"):
            kind = st.radio("Accept as", ["new claim", "evidence"], horizontal=True)
            key = st.text_input("Claim key (new claim; default from the statement)")
            claim = st.selectbox("Claim (evidence)", claims)
            stance = st.radio("Stance", ["supports", "contradicts"], horizontal=True)
            source = st.text_input("Source key", value=next((s.source for s in page.sources if s.source), "") or "")
            credibility = st.number_input("Credibility", 1, 6, 3)
            if st.form_submit_button("Accept"):
                try:
                    done = rep.accept_sentence(
                        rt, who, r.id, c.number, as_claim=kind == "new claim", key=key or None,
                        claim_key=None if kind == "new claim" else claim, stance=stance, source=source,
                        credibility=int(credibility),
                    )  # fmt: skip
                except DomainError as err:
                    st.error(ui.esc(str(err)))
                else:
                    data.clear()
                    st.session_state["report_flash"] = f"Sentence #{c.number} accepted on {done.claim}."
                    st.rerun()
