"""Inbox: my notices with the unread count, what I am subscribed to, my channels; admins: failed deliveries.

Managers subscribe to policy actions, analysts to cases, reviewers to sign-offs (issue 18). Opening the
page first lets the notifier catch up with the event log (`claims.services.notify.catch_up`), so the
inbox is current even where no `claims serve` runs; the notices themselves are written once per change.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from claims.services import notify as nt
from claims.settings import get_settings
from dashboard import data, ui

d = data.db()
actor = ui.acting_user() or ""
who = ui.acting()  # the proven identity, for the services
role = data.role_of(d, actor)
rt = data.runtime(d)

try:
    if nt.catch_up(rt).notifications:
        st.rerun()  # the navigation counted the unread notices before these were written: count again
except Exception as exc:  # another writer held the database: the notices come on the next run
    if not ui.is_refusal(exc):
        raise
    st.caption(f"The notifier could not run just now ({ui.esc(exc)}).")


def _do(call: Any, done: str) -> None:
    ui.act(call, done, "inbox_flash")


box = nt.inbox(rt, who, limit=100)
st.title("Inbox")
st.metric("Unread", box.unread)
if msg := st.session_state.pop("inbox_flash", None):
    st.success(msg)
if box.unread and st.button("Mark all read", icon=":material/done_all:"):
    _do(lambda: nt.mark_read(rt, who), "Everything marked read.")
if not box.items:
    st.caption("No notices yet. Subscribe below to be told when an action becomes ready or a sign-off waits.")
for n in box.items:
    with st.container(border=True):
        line = st.container(horizontal=True, vertical_alignment="center")
        with line:
            st.badge(n["kind"], color="gray" if n["read"] else "blue")
            st.markdown(("" if n["read"] else "**") + ui.esc(n["title"]) + ("" if n["read"] else "**"))
        if n["body"]:
            st.text(n["body"])
        links = st.container(horizontal=True)
        with links:
            st.caption(f"{n['at'][:16].replace('T', ' ')} UTC")
            if n["claim"]:
                st.page_link(ui.DETAIL, label=f"Open {n['claim']}", query_params={"claim": n["claim"]})
            if n["action"]:
                st.page_link(ui.READINESS, label="Open readiness", query_params={"action": n["action"]})
            if not n["read"] and st.button("Mark read", key=f"read_{n['id']}"):
                _do(lambda i=n["id"]: nt.mark_read(rt, who, [i]), "Marked read.")

st.markdown("#### My subscriptions")
for s in nt.subscriptions(rt, who):
    row = st.container(horizontal=True, vertical_alignment="center")
    with row:
        st.text(f"{nt.KINDS[s.kind].label} · {s.scope}")
        if st.button("Unsubscribe", key=f"unsub_{s.id}"):
            _do(lambda i=s.id: nt.unsubscribe(rt, who, i), "Unsubscribed.")
kinds = [k for k, v in nt.KINDS.items() if ui.may(role, v.permission)]
with st.form("subscribe"):
    kind = st.selectbox("Tell me when", kinds, format_func=lambda k: nt.KINDS[k].label, key="sub_kind")
    actions = [a.key for a in data.readiness(d, None)]
    cases = [c["key"] for c in data.cases(d)]
    action = st.selectbox(
        "Policy action (readiness)", [None, *actions], format_func=lambda k: k or "-", key="sub_action"
    )
    case = st.selectbox("Case", [None, *cases], format_func=lambda k: k or "every case", key="sub_case")
    if st.form_submit_button("Subscribe", icon=":material/notifications:"):
        _do(lambda: nt.subscribe(rt, who, kind, action=action, case=case), "Subscribed.")

st.markdown("#### My channels")
st.caption(
    "Besides this inbox, notices go to channels (e-mail, Matrix, Slack, Teams, webhooks via Apprise). A channel names "
    "a secret the operator put in CLAIMS_NOTIFY_SECRETS; its URL never enters the database."
)
for c in nt.channels(rt, who):
    row = st.container(horizontal=True, vertical_alignment="center")
    with row:
        st.text(f"{c.name} · secret {c.secret}{' · daily digest' if c.digest else ''}")
        if st.button("Remove", key=f"chan_{c.id}"):
            _do(lambda n=c.name: nt.remove_channel(rt, who, n), "Channel removed.")
names = sorted(get_settings().notify_secrets)
if names:
    with st.form("channel"):
        cname = st.text_input("Channel name", key="chan_name")
        secret = st.selectbox("Secret", names, key="chan_secret")
        digest = st.checkbox("Only the daily digest", key="chan_digest")
        if st.form_submit_button("Add channel"):
            _do(lambda: nt.add_channel(rt, who, cname, secret, digest=digest), "Channel added.")
else:
    st.caption("No channel secrets are configured (CLAIMS_NOTIFY_SECRETS).")

if ui.may(role, "manage_users"):
    st.markdown("#### Deliveries that failed")
    failed = [r for r in nt.delivery_rows(rt, who, limit=200) if r["status"] in ("failed", "dead")]
    if not failed:
        st.caption("Every delivery went through (or is waiting for its first try).")
    else:
        st.dataframe(failed, hide_index=True, width="stretch")
        pick = st.selectbox("Delivery", [r["id"] for r in failed], key="retry_pick")
        if st.button("Retry now", key="retry_delivery"):
            _do(lambda: nt.retry_delivery(rt, who, int(pick)), f"Delivery #{pick} queued again.")
