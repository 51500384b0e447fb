"""Every endpoint with a real token, on both databases; 401 for no proof, 403 for a role that may not act."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from api_helpers import auth
from fastapi.testclient import TestClient
from sqlalchemy import update

from claims import services
from claims.api import create_app
from claims.api.guard import Limits
from claims.domain.stages import Stage
from claims.services import Runtime
from claims.services.identity import revoke_token
from claims.store.models import Token

PROBLEM = "application/problem+json"


def is_problem(r: httpx.Response, status: int, kind: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    data = r.json()
    assert set(data) == {"type", "title", "status", "detail"} and data["status"] == status
    assert data["type"] == f"urn:claims:problem:{kind}", data
    return data


def test_reads_with_a_real_token(client: TestClient, token: Callable[[str], str], loaded: Runtime):
    h = auth(token("mia"))  # a manager: reads only
    page = client.get("/claims", params={"limit": 2}, headers=h).json()
    assert page["total"] == 5 and page["limit"] == 2 and len(page["claims"]) == 2
    keys = [c["key"] for c in client.get("/claims", params={"limit": 10}, headers=h).json()["claims"]]
    reported = [k for k in keys if services.claim_detail(loaded, k)["stage"] == "reported"]
    assert 0 < len(reported) < 5
    assert client.get("/claims", params={"stage": "reported"}, headers=h).json()["total"] == len(reported)
    detail = client.get("/claims/factory-exists", headers=h).json()
    assert json.loads(json.dumps(services.claim_detail(loaded, "factory-exists"), default=str)) == detail
    ready = client.get("/readiness", headers=h).json()
    assert ready == services.readiness_json(services.action_readiness(loaded))
    assert client.get("/reviews", params={"status": "all"}, headers=h).json()["total"] == len(
        services.review_queue(loaded, None)
    )
    is_problem(client.get("/claims/nope", headers=h), 404, "not-found")
    is_problem(client.get("/readiness", params={"case": "nope"}, headers=h), 404, "not-found")
    assert client.get("/health").json() == {"status": "ok"}  # and nothing else


def test_writes_act_as_the_tokens_user(client: TestClient, token: Callable[[str], str], loaded: Runtime, db_snapshot):
    alice, bob = auth(token("alice")), auth(token("bob"))
    body = {"source": "eu-official", "stance": "supports", "summary": "One more line.", "credibility": 2}
    added = client.post("/claims/factory-exists/evidence", json=body, headers=alice)
    assert added.status_code == 201, added.text
    assert added.json()["claim"] == "factory-exists"
    assert services.claim_detail(loaded, "factory-exists")["history"][-1]["actor"] == "alice"
    moved = client.post("/claims/factory-exists/advance", json={"to": "corroborated"}, headers=alice).json()
    assert moved == {"claim": "factory-exists", "from": "reported", "stage": "corroborated", "review": None}
    asked = client.post("/claims/factory-exists/advance", json={"to": "confirmed", "reason": "3 lines"}, headers=alice)
    review = asked.json()["review"]
    assert review and asked.json()["stage"] == "corroborated"
    # four eyes: alice may not approve her own request; a manager may not approve at all
    is_problem(client.post(f"/reviews/{review}/approve", json={}, headers=alice), 403, "forbidden")
    mia = auth(token("mia"))
    before = db_snapshot(loaded.database_url)
    is_problem(client.post(f"/reviews/{review}/approve", json={}, headers=mia), 403, "forbidden")
    assert db_snapshot(loaded.database_url) == before
    done = client.post(f"/reviews/{review}/approve", json={"rationale": "ok"}, headers=bob).json()
    assert done == {"review": review, "claim": "factory-exists", "status": "approved", "stage": "confirmed"}
    is_problem(client.post(f"/reviews/{review}/reject", json={"rationale": "no"}, headers=bob), 409, "already-done")
    retracted = client.post(f"/evidence/{added.json()['id']}/retract", json={"reason": "wrong"}, headers=alice)
    assert retracted.json()["id"] == added.json()["id"]


def test_bad_input_is_one_line_naming_the_field_and_leaves_the_database(
    client: TestClient, token: Callable[[str], str], loaded: Runtime, db_snapshot
):
    alice = auth(token("alice"))
    before = db_snapshot(loaded.database_url)
    body = {"source": "eu-official", "stance": "sideways", "summary": "x", "credibility": 2}
    bad = is_problem(client.post("/claims/factory-exists/evidence", json=body, headers=alice), 422, "unknown-word")
    assert "sideways" in str(bad["detail"])
    body |= {"stance": "supports", "credibility": 9}
    wrong = client.post("/claims/factory-exists/evidence", json=body, headers=alice)
    assert "9" in str(is_problem(wrong, 422, "invalid-grade")["detail"])
    typed = client.post("/claims/factory-exists/evidence", json={"source": 1}, headers=alice)
    assert str(is_problem(typed, 422, "invalid-input")["detail"]).startswith("source: 1 ")
    assert db_snapshot(loaded.database_url) == before


def test_no_proof_is_401_and_nothing_is_read_or_written(
    client: TestClient, token: Callable[[str], str], loaded: Runtime, db_snapshot
):
    body = {"source": "eu-official", "stance": "supports", "summary": "x", "credibility": 2}
    expired, revoked = token("alice"), token("alice")
    with loaded.uow() as uow:
        uow.session.execute(
            update(Token)
            .where(Token.token_hash == services.identity.digest(expired))
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
        uow.commit()
    revoke_token(loaded, revoked)
    before = db_snapshot(loaded.database_url)
    for headers in ({}, {"Authorization": "Basic YWxpY2U6eA=="}, auth("alice"), auth(expired), auth(revoked)):
        r = client.post("/claims/factory-exists/evidence", json=body, headers=headers)
        is_problem(r, 401, "unauthenticated")
        assert r.headers["www-authenticate"].startswith("Bearer")
        is_problem(client.get("/claims", headers=headers), 401, "unauthenticated")
    assert db_snapshot(loaded.database_url) == before


def test_a_request_cannot_choose_where_code_runs(client: TestClient, token: Callable[[str], str], loaded: Runtime):
    """Issue 21 point 1: a Dask address (or any unknown field) in a body is refused, nothing connects."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        r = client.post("/assessments", json={"dask": f"tcp://127.0.0.1:{port}"}, headers=auth(token("alice")))
        assert "dask" in str(is_problem(r, 422, "invalid-input")["detail"])
        with pytest.raises(TimeoutError):
            listener.accept()  # nobody came


def test_body_over_the_limit_is_refused_before_it_is_read(loaded: Runtime, token: Callable[[str], str]):
    with TestClient(create_app(loaded, Limits(max_body=1000)), raise_server_exceptions=False) as c:
        r = c.post("/imports", content=b"x" * 5000, headers=auth(token("alice")) | {"content-type": "application/yaml"})
        is_problem(r, 413, "body-too-large")
        chunks = (b"x" * 400 for _ in range(5))  # no Content-Length: counted as it arrives
        r = c.post("/imports", content=chunks, headers=auth(token("alice")) | {"content-type": "application/yaml"})
        is_problem(r, 413, "body-too-large")


@pytest.mark.postgres
def test_two_reviewers_approving_at_once_exactly_one_wins(postgres_url: str, own_config_dir, tmp_path):
    from claims.demo import DEMO_USERS, signed_demo_case
    from claims.services.identity import issue_token_unchecked

    rt = Runtime(postgres_url)
    services.ensure_users(rt, DEMO_USERS)
    services.import_case(rt, "alice", services.read_case_file(signed_demo_case(tmp_path / "demo")))
    services.add_evidence(rt, "alice", "factory-exists", "eu-official", "supports", credibility=2, summary="third")
    services.advance(rt, "alice", "factory-exists", Stage.CORROBORATED)
    review = services.advance(rt, "alice", "factory-exists", Stage.CONFIRMED).review_id
    tokens = [issue_token_unchecked(rt, n, reason="race").token for n in ("bob", "admin")]
    barrier = threading.Barrier(2)
    answers: list[httpx.Response] = []
    with TestClient(create_app(rt, Limits()), raise_server_exceptions=False) as c:

        def approve(secret: str) -> None:
            barrier.wait()
            answers.append(c.post(f"/reviews/{review}/approve", json={"rationale": "ok"}, headers=auth(secret)))

        threads = [threading.Thread(target=approve, args=(t,)) for t in tokens]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409], [a.text for a in answers]
    loser = next(a for a in answers if a.status_code == 409)
    assert loser.headers["content-type"].startswith(PROBLEM)
    history = [h for h in services.claim_detail(rt, "factory-exists")["history"] if h["kind"] == "review.approved"]
    assert len(history) == 1 and services.claim_detail(rt, "factory-exists")["stage"] == "confirmed"


def test_the_token_is_checked_before_a_byte_of_the_body_is_read(loaded: Runtime):
    """Issue 21 point 8: the guard answers 401 without ever calling the app's receive (no body read)."""
    import asyncio

    from claims.api.guard import Guard

    reached: list[str] = []

    async def app(scope, receive, send):  # the routes: must not be reached
        reached.append("app")

    async def receive():
        reached.append("receive")
        return {"type": "http.request", "body": b"{}" * 1000, "more_body": False}

    sent: list[dict[str, object]] = []

    async def send(message):
        sent.append(message)

    guard = Guard(app, lambda: loaded, Limits())
    for headers in ([], [(b"authorization", b"Bearer forged")]):
        reached.clear()
        scope = {"type": "http", "path": "/imports", "method": "POST", "headers": headers}
        asyncio.run(guard(scope, receive, send))
        assert reached == [] and sent[-2]["status"] == 401


def test_the_bad_input_corpus_through_the_api_is_a_problem_and_changes_nothing(
    client: TestClient, token: Callable[[str], str], loaded: Runtime, db_snapshot
):
    """Every hostile or broken case file of tests/badinput, POSTed as a body: a 4xx problem, never a 5xx,
    and the database exactly as before."""
    from pathlib import Path

    alice = auth(token("alice"))
    before = db_snapshot(loaded.database_url)
    files = sorted((Path(__file__).parents[1] / "badinput").glob("*.*"))
    assert len(files) > 40
    for path in files:
        kind = "application/json" if path.suffix == ".json" else "application/yaml"
        r = client.post("/imports", content=path.read_bytes(), headers=alice | {"content-type": kind})
        assert 400 <= r.status_code < 500, (path.name, r.status_code, r.text)
        assert r.headers["content-type"].startswith(PROBLEM) and "\n" not in r.json()["detail"], path.name
    assert db_snapshot(loaded.database_url) == before


def test_a_foreign_stix_bundle_imports_and_the_answer_lists_what_was_left_out(
    client: TestClient, token: Callable[[str], str], loaded: Runtime, tmp_path
):
    """Issue 21.11: a bundle made by `stix2`, not by this project; POST /imports answers with `left_out`."""
    import stix_bundles

    o = stix_bundles.feed()
    body = o.bundle.serialize().encode()
    r = client.post("/imports", content=body, headers=auth(token("alice")) | {"content-type": "application/json"})
    assert r.status_code == 201, r.text
    data = r.json()
    assert data["case"] == o.report.id and data["created"]["claims"] == 3
    why = {x["id"]: x["why"] for x in data["left_out"]}
    assert why[o.neutral.id] == "opinion: 'neutral' neither supports nor contradicts" and o.location.id in why
    assert all(set(x) == {"type", "id", "why"} for x in data["left_out"])
    nothing = stix_bundles.nothing_to_import().serialize().encode()
    refused = client.post(
        "/imports", content=nothing, headers=auth(token("alice")) | {"content-type": "application/json"}
    )
    assert "nothing to import" in is_problem(refused, 422, "invalid-input")["detail"]
