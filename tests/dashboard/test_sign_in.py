"""Dashboard sign-in (issue 8, point 2): nothing before sign-in, local passwords, OIDC through st.login
(faked with AppTest's `user`), sign-out, idle expiry and disabled accounts."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from dashboard_helpers import APP, texts, unescape
from identity_helpers import as_user
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from claims.services import Runtime
from claims.services import identity as ident
from claims.services.identity import disable_user, set_email, set_password
from claims.store.models import Event

PASSWORD = "bob's long passphrase"


@pytest.fixture
def bob(demo_app: Runtime) -> Runtime:
    set_password(demo_app, as_user(demo_app, "admin"), "bob", PASSWORD)
    return demo_app


def fresh(user: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    if user is not None:
        at.user = user
    return at.run()


def sign_in(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="sign_in_name").input(name)
    at.text_input(key="sign_in_password").input(password)
    return at.button[-1].click().run()  # the form's submit button


def events(rt: Runtime, kind: str) -> list[SimpleNamespace]:
    with rt.uow(write=False) as uow:
        rows = uow.session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id))
        return [SimpleNamespace(actor=e.actor, payload=e.payload) for e in rows]


def test_nothing_but_the_sign_in_page_before_sign_in(bob: Runtime) -> None:
    at = fresh()
    assert [t.value for t in at.title] == ["Sign in"]
    assert not at.metric and not at.sidebar.selectbox  # no data, no acting-user picker
    assert [b.label for b in at.button] == ["Sign in"]  # no OIDC configured: local accounts only


def test_a_wrong_password_gets_nothing_and_is_audited(bob: Runtime) -> None:
    at = sign_in(fresh(), "bob", "not the passphrase")
    assert [unescape(e.value) for e in at.error] == [ident._WRONG]
    assert [t.value for t in at.title] == ["Sign in"] and not at.metric
    assert [e.payload["method"] for e in events(bob, "sign_in.failed")] == ["dashboard"]
    assert "signed_in" not in at.session_state


def test_bob_signs_in_sees_himself_and_signs_out(bob: Runtime) -> None:
    at = sign_in(fresh(), "bob", PASSWORD)
    assert not at.exception
    assert [t.value for t in at.title] == ["Policy readiness"]
    assert "Signed in as **bob** (reviewer)" in [c.value for c in at.sidebar.caption]
    assert [e.actor for e in events(bob, "sign_in")] == ["bob"]
    at.sidebar.button(key="sign_out").click().run()
    assert [t.value for t in at.title] == ["Sign in"] and not at.metric


def test_a_session_ends_after_the_idle_time(bob: Runtime, monkeypatch) -> None:
    at = sign_in(fresh(), "bob", PASSWORD)
    at.session_state["signed_in"] = {**at.session_state["signed_in"], "last": time.time() - 8 * 3600 - 5}
    at.run()
    assert [t.value for t in at.title] == ["Sign in"]
    assert "session: expired after inactivity; sign in again" in unescape(texts(at))


def test_a_disabled_account_is_signed_out_at_its_next_click(bob: Runtime) -> None:
    at = sign_in(fresh(), "bob", PASSWORD)
    disable_user(bob, as_user(bob, "admin"), "bob")
    at.run()
    assert [t.value for t in at.title] == ["Sign in"] and not at.metric


def test_oidc_offers_the_provider_when_configured(bob: Runtime) -> None:
    at = fresh({"is_logged_in": False})
    assert "Sign in with your organisation" in [b.label for b in at.button]


def test_an_oidc_identity_maps_to_the_user_with_that_email(bob: Runtime) -> None:
    set_email(bob, as_user(bob, "admin"), "bob", "Bob@Example.org")
    at = fresh({"is_logged_in": True, "email": "bob@example.org", "name": "Bob"})
    assert not at.exception
    assert [t.value for t in at.title] == ["Policy readiness"]
    assert "Signed in as **bob** (reviewer)" in [c.value for c in at.sidebar.caption]
    assert [e.payload["method"] for e in events(bob, "sign_in")] == ["oidc"]


def test_an_oidc_identity_without_a_claims_user_gets_nothing(bob: Runtime) -> None:
    at = fresh({"is_logged_in": True, "email": "stranger@example.org"})
    assert [t.value for t in at.title] == ["Sign in"] and not at.metric
    assert "no enabled claims user has the e-mail 'stranger@example.org'" in unescape(texts(at))
    assert events(bob, "sign_in.failed")[-1].payload["method"] == "oidc"
