"""The notification flows on a real Prefect API: the notifier with its deliveries, and the daily digest."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from identity_helpers import as_user, system_identity

from claims import services
from claims.services import Runtime
from claims.services import notify as nt
from claims.settings import get_settings
from flows.notify import digest_flow, notify_flow

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from notify_helpers import Receiver, http_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with http_receiver() as rec:
        yield rec


def test_notify_and_digest_flows_send_each_notice_once(
    loaded: Runtime, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = loaded
    services.assess_claims(rt, system_identity(), services.open_claim_keys(rt))
    monkeypatch.setenv("CLAIMS_NOTIFY_SECRETS", json.dumps({"now": receiver.url("now"), "day": receiver.url("day")}))
    get_settings.cache_clear()
    nt.add_channel(rt, as_user(rt, "bob"), "now", "now")
    nt.add_channel(rt, as_user(rt, "bob"), "day", "day", digest=True)
    nt.subscribe(rt, as_user(rt, "bob"), "signoff")
    services.add_evidence(
        rt,
        as_user(rt, "alice"),
        "factory-exists",
        "us-treasury",
        "supports",
        credibility=2,
        summary="OFAC designation.",
    )
    services.assess_claims(rt, system_identity(), services.open_claim_keys(rt))  # a sign-off request for bob
    first = notify_flow()
    again = notify_flow()
    assert (first.notifications, first.sent, first.kinds) == (1, 1, {"signoff": 1})
    assert (again.notifications, again.sent) == (0, 0)
    assert digest_flow().notifications == 1 and digest_flow().notifications == 0
    assert [p["title"][:12] for p in receiver.posts] == ["Sign-off wai", "Daily digest"]
    get_settings.cache_clear()
