"""Who uses the dashboard, proven: a local account's password, or an OIDC identity through `st.login`.

There is no acting-user picker. A session holds the verified identity (in Streamlit's server-side
session state, which a browser cannot write) and ends after `CLAIMS_SESSION_IDLE_HOURS` (8) without
use, when the account is disabled, or on sign-out. OIDC is on when the operator configures an
`[auth]` section in `.streamlit/secrets.toml`: the provider's verified e-mail maps to the claims user
with that e-mail (`claims user email NAME ADDRESS`). The services still check every role and the
four-eyes rule; the pages only stop offering what a role cannot use.
"""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from claims.domain.errors import DomainError
from claims.services.identity import Identity, current_identity, sign_in, sign_in_by_email
from claims.settings import get_settings
from dashboard import data, ui

SESSION = data.SESSION  # {"who" (the proven Identity), "name", "role", "method", "last"} in st.session_state


def _oidc_configured() -> bool:
    """Streamlit adds `is_logged_in` to st.user only when an [auth] section is configured."""
    try:
        return "is_logged_in" in st.user
    except Exception:  # no script context or unreadable secrets: local accounts only
        return False


def _start(who: Identity, method: str) -> None:
    st.session_state[SESSION] = {"who": who, "name": who.name, "role": who.role, "method": method, "last": time.time()}


def identity() -> Identity | None:
    """The signed-in person of this session, or None (expired after idle time, disabled, or never signed in)."""
    session: dict[str, Any] | None = st.session_state.get(SESSION)
    if session is None and _oidc_configured() and st.user.get("is_logged_in"):
        try:
            _start(sign_in_by_email(data.runtime(data.db()), str(st.user.get("email") or "")), "oidc")
        except DomainError as exc:
            st.session_state["sign_in_error"] = str(exc)
            return None
        session = st.session_state[SESSION]
    if session is None:
        return None
    idle = get_settings().session_idle_hours * 3600
    if time.time() - session["last"] > idle:
        st.session_state.pop(SESSION, None)
        st.session_state["sign_in_error"] = "session: expired after inactivity; sign in again"
        return None
    proven = session.get("who")
    who = current_identity(data.runtime(data.db()), proven) if isinstance(proven, Identity) else None
    if who is None:
        st.session_state.pop(SESSION, None)
        return None
    session["last"] = time.time()
    session["who"], session["role"] = who, who.role
    return who


def sign_out() -> None:
    method = (st.session_state.pop(SESSION, None) or {}).get("method")
    for key in [k for k in st.session_state if k != SESSION]:
        del st.session_state[key]  # nothing of the last person's choices stays for the next
    if method == "oidc" and _oidc_configured() and st.user.get("is_logged_in"):
        st.logout()
    st.rerun()


def _source() -> str:
    """The browser's address as Streamlit sees it (the per-source sign-in limits); "dashboard" when unknown."""
    try:
        address = st.context.ip_address
    except Exception:  # no script context (AppTest) or an older Streamlit
        address = None
    return f"web:{address}" if address else "dashboard"


def sign_in_page() -> None:
    """The only page shown before sign-in."""
    st.title("Sign in")
    error = st.session_state.pop("sign_in_error", None)
    if error:
        st.error(ui.esc(error), icon=":material/block:")
    if _oidc_configured():
        if st.user.get("is_logged_in"):
            st.button("Sign out of the identity provider", on_click=st.logout)
        else:
            st.button("Sign in with your organisation", type="primary", icon=":material/key:", on_click=st.login)
        st.caption("Or with a local account:")
    with st.form("sign_in", enter_to_submit=True):
        name = st.text_input("User name", key="sign_in_name", autocomplete="username")
        password = st.text_input("Password", type="password", key="sign_in_password", autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            who = sign_in(data.runtime(data.db()), name.strip(), password, method="dashboard", source=_source())
        except DomainError as exc:
            st.error(ui.esc(str(exc)), icon=":material/block:")
            return
        _start(who, "password")
        st.rerun()


def sidebar(who: Identity) -> None:
    """Who is signed in, and the way out."""
    st.caption(f"Signed in as **{ui.esc(who.name)}** ({ui.esc(who.role)})")
    if st.button("Sign out", icon=":material/logout:", key="sign_out"):
        sign_out()
