"""The dashboard's router: `streamlit run dashboard/app.py` (or `claims dashboard`).

The landing page is policy readiness: the manager's question ("what is missing before action
X?") comes first. Every page has its own path (/readiness, /pipeline, /work, /inbox, /claims, /claim, /review);
the root forwards to /readiness with its query. The sidebar holds the choices every page shares:
the case (also `?case=` in the address), who is signed in and the sign-out. Nothing shows before
sign-in (dashboard/auth.py); the services enforce roles and the four-eyes rule.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# `streamlit run` puts dashboard/ on sys.path, not the project root; make `import dashboard` work
# from a source checkout even when the package was installed before dashboard/ existed.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from dashboard import auth, data, ui  # noqa: E402

# An emoji icon: drawn locally as an inline SVG (a :material/ icon makes the browser fetch it from a font CDN).
st.set_page_config(page_title="Claims dashboard", page_icon="⚖️", layout="wide")

who = auth.identity()
if who is None:
    # The sign-in answers at every page's address, so a shared link (/claims?grade=B2) opens after sign-in.
    paths = [
        "home", "readiness", "pipeline", "claims", "claim", "review", "author", "report-new", "report", "work", "inbox"
    ]  # fmt: skip
    gate = [st.Page(auth.sign_in_page, title="Sign in", url_path=p, default=p == "home") for p in paths]
    st.navigation(gate, position="hidden").run()
    st.stop()

d = data.db()
pending = data.pending_count(d, None)
unread = data.unread(d, who)


def _home() -> None:
    """The root address: forward to the readiness page (so /readiness itself is a working, shareable path)."""
    st.switch_page(ui.READINESS, query_params=dict(st.query_params))


pages = {
    "": [st.Page(_home, title="Home", url_path="home", default=True, visibility="hidden")],
    "Overview": [
        st.Page(ui.READINESS, title="Policy readiness", icon=":material/gavel:", url_path="readiness"),
        st.Page(ui.PIPELINE, title="Pipeline", icon=":material/filter_alt:", url_path="pipeline"),
        st.Page(ui.WORK, title="Work", icon=":material/assignment:", url_path="work"),
        st.Page(ui.INBOX, title=f"Inbox ({unread})" if unread else "Inbox", icon=":material/inbox:", url_path="inbox"),
    ],
    "Verification": [
        st.Page(ui.CLAIMS, title="Claims", icon=":material/list:", url_path="claims"),
        st.Page(ui.DETAIL, title="Claim detail", icon=":material/description:", url_path="claim"),
        st.Page(
            ui.REVIEW,
            title=f"Review queue ({pending})" if pending else "Review queue",
            icon=":material/how_to_reg:",
            url_path="review",
        ),
        st.Page("views/authoring.py", title="Author", icon=":material/edit_note:", url_path="author"),
        st.Page(ui.REPORT_NEW, title="New report", icon=":material/post_add:", url_path="report-new"),
        st.Page(ui.REPORT, title="Report", icon=":material/article:", url_path="report"),
    ],
}
page = st.navigation(pages)

with st.sidebar:
    auth.sidebar(who)
    case_keys = [c["key"] for c in data.cases(d)]
    st.selectbox(
        "Case",
        [None, *case_keys],
        format_func=lambda k: "All cases" if k is None else k,
        key="case",
        bind="query-params",
        help="Every page shows this case only.",
    )
    if st.button("Refresh data", icon=":material/refresh:"):
        data.clear()
        st.rerun()
    st.caption(f"Threshold policy {ui.esc(data.policy_version(d))}")

page.run()
