"""New report: paste a report's text or upload its file; it is stored whole and its candidates ranked (issue 17).

Analysts add reports; managers read them (the service checks the role, the page says so first).
"""

from __future__ import annotations

import streamlit as st

from claims.domain.errors import DomainError
from claims.services import Runtime
from claims.services import reports as rep
from dashboard import data, ui

d = data.db()
actor = ui.acting_user()
who = ui.acting()  # the proven identity, for the services
role = data.role_of(d, actor) or "?"
st.title("New report")

queue = rep.list_reports(Runtime(d.url), who, ui.case(), untriaged=True) if actor else []
if queue:
    st.subheader(f"To triage ({len(queue)})")
    for r in queue:
        st.page_link(ui.REPORT, label=f"#{r.id} {r.case}: {r.title}", query_params={"id": str(r.id)})

if not ui.may(role, "import"):
    st.info(f"Signed in as {ui.esc(actor or 'nobody')} ({ui.esc(role)}): your role can read reports, not add them.")
    st.stop()

cases = [c["key"] for c in data.cases(d)]
with st.form("new_report"):
    case_key = st.selectbox("Case", cases, index=cases.index(ui.case()) if ui.case() in cases else 0)
    title = st.text_input("Title (default: the first sentence)")
    url = st.text_input("Origin URL")
    published = st.date_input("Published", value=None)
    pasted = st.text_area("Paste the report's text", height=240)
    upload = st.file_uploader("or upload a file", type=["txt", "md", "html", "htm", "pdf"])
    submitted = st.form_submit_button("Add report")
if submitted:
    content = upload.getvalue() if upload is not None else pasted.encode("utf-8")
    name = upload.name if upload is not None else None
    try:
        page = rep.add_report(
            Runtime(d.url), who, case_key, content, filename=name, title=title or None,
            published=published, url=url or None,
        )  # fmt: skip
    except DomainError as err:
        st.error(ui.esc(str(err)))
    else:
        data.clear()
        st.success(f"Report #{page.report.id} added with {len(page.candidates)} sentences ranked.")
        st.page_link(ui.REPORT, label=f"Open report #{page.report.id}", query_params={"id": str(page.report.id)})
