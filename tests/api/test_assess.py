"""POST /assessments runs the assessment flow in the server's process as the token's user (both databases);
two people assessing at once move each claim once. On the flow tests' Prefect harness."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import httpx
import pytest
from api_helpers import auth
from fastapi.testclient import TestClient
from prefect_support import start_harness
from sqlalchemy import func, select

from claims import services
from claims.services import Runtime
from claims.services.signoff import pending_reviews
from claims.store.models import Event


@pytest.fixture(scope="module", autouse=True)
def harness() -> Iterator[None]:
    start_harness()
    yield


def events(rt: Runtime, kind: str | None = None) -> int:
    with rt.uow(write=False) as uow:
        query = select(func.count()).select_from(Event)
        if kind:
            query = query.where(Event.kind == kind)
        return int(uow.session.scalar(query) or 0)


def test_the_run_acts_as_the_tokens_user(client: TestClient, token: Callable[[str], str], loaded: Runtime):
    bob = auth(token("bob"))
    already = events(loaded)
    r = client.post("/assessments", json={"full": True, "batch_size": 2}, headers=bob)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["assessed"] == 5 and report["batches"] == 3 and report["flow_run_id"]
    assert {"claim": "factory-exists", "from": "reported", "to": "corroborated"} in report["moved"]
    with loaded.uow(write=False) as uow:
        actors = set(uow.session.scalars(select(Event.actor).order_by(Event.id).offset(already)))
    assert actors == {"bob"}  # every event of the run: the token's user, never a name the request carried
    again = client.post("/assessments", json={}, headers=bob).json()
    assert again["assessed"] == 0  # incremental through the API too


def test_two_people_assessing_at_once_move_each_claim_once(
    client: TestClient, token: Callable[[str], str], loaded: Runtime
):
    tokens = [token("alice"), token("bob")]
    moves_before = events(loaded, "claim.stage_changed")
    barrier = threading.Barrier(2)
    answers: list[httpx.Response] = []

    def run(secret: str) -> None:
        barrier.wait()
        answers.append(client.post("/assessments", json={"full": True}, headers=auth(secret)))

    threads = [threading.Thread(target=run, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert sorted(a.status_code for a in answers) in ([200, 200], [200, 409]), [a.text for a in answers]
    assert events(loaded, "claim.stage_changed") == moves_before + 1  # factory-exists moved once, whoever won
    assert events(loaded, "review.requested") == len(pending_reviews(loaded))
    assert services.claim_detail(loaded, "factory-exists")["stage"] == "corroborated"
