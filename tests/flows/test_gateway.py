"""`claims assess` hands its run to a running `claims serve` (flows.gateway): warm, as the token's user.

The gateway runs here in the test process (on the flow tests' Prefect harness); the command runs in
a real process of its own, as a person runs it, and must not import Prefect at all.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from claims import services
from claims.services import NotFound, PermissionDenied, Runtime
from claims.services.identity import issue_token_unchecked
from claims.services.signoff import pending_reviews
from claims.store.db import database_key
from claims.store.models import Claim, Event
from flows import gateway
from flows.gateway import Registration, find, registry_path, serving

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def served(loaded: Runtime) -> Iterator[Registration]:
    with serving(loaded) as reg:
        yield reg


def token(rt: Runtime, name: str) -> str:
    return issue_token_unchecked(rt, name, reason="gateway test").token


def events(rt: Runtime, kind: str | None = None) -> int:
    with rt.uow(write=False) as uow:
        query = select(func.count()).select_from(Event)
        if kind:
            query = query.where(Event.kind == kind)
        return int(uow.session.scalar(query) or 0)


def stages(rt: Runtime) -> dict[str, str]:
    with rt.uow(write=False) as uow:
        return {key: stage for key, stage in uow.session.execute(select(Claim.key, Claim.stage))}


def command(rt: Runtime, *args: str) -> subprocess.CompletedProcess[str]:
    """`claims ...` in its own process on the test database, as alice (signed in by the fixtures), with
    Python's import log on stderr; no Prefect API configured, so a run that did not go to serve would
    have to start its own (and import Prefect)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CLAIMS_"))}
    env |= {
        "CLAIMS_DATABASE_URL": rt.database_url,
        "CLAIMS_CONFIG_DIR": os.environ["CLAIMS_CONFIG_DIR"],
        "CLAIMS_KEY_DIR": os.environ["CLAIMS_KEY_DIR"],
        "CLAIMS_PREFECT_API_URL": "none",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "claims.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def imported(stderr: str) -> set[str]:
    return {line.split("|")[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("import time:") and line.strip()]


def test_the_command_hands_the_run_to_serve_and_imports_no_prefect(loaded: Runtime, served: Registration):
    before = stages(loaded)
    done = command(loaded, "assess", "--json")
    assert done.returncode == 0, messages(done.stderr)
    modules = imported(done.stderr)
    assert "flows.gateway" in modules  # it looked for serve ...
    assert not {m for m in modules if m.split(".")[0] in ("prefect", "streamlit")}  # ... and ran nothing itself
    data = json.loads(done.stdout)
    assert list(data) == ["assessed", "moved", "review_requested", "at_risk", "changes"]
    assert data["assessed"] == len(before) == 5
    assert data["moved"] == [{"claim": "factory-exists", "from": "reported", "to": "corroborated"}]
    assert stages(loaded)["factory-exists"] == "corroborated" != before["factory-exists"]
    assert services.open_claim_keys(loaded, changed_only=True) == []  # every claim judged and stamped
    again = command(loaded, "assess", "--json")
    assert json.loads(again.stdout)["assessed"] == 0  # incremental through serve too


def test_the_run_acts_as_the_tokens_user_and_is_a_flow_run_on_the_server(loaded: Runtime, served: Registration):
    bobs = token(loaded, "bob")
    already = events(loaded)
    progress: list[tuple[int, int]] = []
    report = gateway.assess(
        served,
        bobs,
        keys=None,
        case=None,
        full=True,
        batch_size=2,
        dask=None,
        progress=lambda done, total: progress.append((done, total)),
    )
    assert report.assessed == 5 and report.batches == 3
    # the served run's progress, batch by batch: batches of 2, 2 and 1 finish in any order under load
    steps = [b - a for (a, _), (b, _) in itertools.pairwise(progress) if b > a]
    assert progress[-1] == (5, 5) and sorted(steps) == [1, 2, 2], progress
    with loaded.uow(write=False) as uow:
        actors = set(uow.session.scalars(select(Event.actor).order_by(Event.id).offset(already)))
    assert actors == {"bob"}  # every event of the run: the token's user, never a name the request carried

    from prefect import get_client

    async def state() -> str:
        async with get_client() as client:
            run = await client.read_flow_run(report.flow_run_id)  # type: ignore[arg-type]
            return run.state.type.value if run.state else ""

    import asyncio

    assert asyncio.run(state()) == "COMPLETED"


def test_a_token_proves_the_user_a_name_or_a_forged_token_gets_nothing(loaded: Runtime, served: Registration):
    manager = token(loaded, "mia")
    before, moves = stages(loaded), events(loaded)
    with pytest.raises(PermissionDenied, match="token: unknown or revoked"):
        gateway.assess(served, "alice", keys=None, case=None, full=True, batch_size=None, dask=None)
    with pytest.raises(PermissionDenied, match="may not assess"):  # a manager's real token: proven, not allowed
        gateway.assess(served, manager, keys=None, case=None, full=True, batch_size=None, dask=None)
    assert stages(loaded) == before and events(loaded) == moves


def test_errors_keep_their_exit_codes_and_one_line(loaded: Runtime, served: Registration):
    with pytest.raises(NotFound, match="unknown claim 'nope'"):
        gateway.assess(served, token(loaded, "alice"), keys=["nope"], case=None, full=False, batch_size=None, dask=None)
    done = command(loaded, "assess", "nope")
    assert done.returncode == 3
    assert messages(done.stderr) == ["error: claim: unknown claim 'nope'"]
    assert not {m for m in imported(done.stderr) if m.startswith("prefect")}


def test_only_a_live_gateway_of_this_database_policy_and_host_is_used(loaded: Runtime, served: Registration):
    assert find(loaded.database_url, loaded.policy.version) == served
    other = loaded.database_url + "-other"
    assert find(other, loaded.policy.version) is None  # another database: its own entry or none
    path = registry_path()
    entry = json.loads(path.read_text())
    mine = database_key(loaded.database_url)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    elsewhere = {"url": "http://192.0.2.1:" + served.url.rsplit(":", 1)[1]}
    for change in ({"id": "someone-else"}, {"pid": 2**22 + 12345}, {"host": "elsewhere"}, elsewhere):
        path.write_text(json.dumps({mine: entry[mine] | change}))  # a port reused, a dead process, another host
        assert find(loaded.database_url, loaded.policy.version) is None, change
    path.write_text(json.dumps(entry))
    assert find(loaded.database_url, loaded.policy.version) == served
    assert find(loaded.database_url, "another-policy") is None  # the command's own policy file wins: it runs itself


def test_the_entry_goes_when_serve_stops(loaded: Runtime):
    with serving(loaded) as reg:
        assert find(loaded.database_url, loaded.policy.version) == reg
    assert find(loaded.database_url, loaded.policy.version) is None
    assert json.loads(registry_path().read_text()) == {}


def test_two_people_assessing_at_once_through_serve_move_each_claim_once(loaded: Runtime, served: Registration):
    """Two commands at the same moment (both databases): one run applies each move, the other finds it done."""
    tokens = [token(loaded, "alice"), token(loaded, "bob")]
    moves_before = events(loaded, "claim.stage_changed")
    barrier = threading.Barrier(2)
    reports: list[object] = []

    def run(secret: str) -> None:
        barrier.wait()
        try:
            reports.append(gateway.assess(served, secret, keys=None, case=None, full=True, batch_size=None, dask=None))
        except Exception as exc:  # a lost race is a clear error, never a double move
            reports.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(reports) == 2
    assert events(loaded, "claim.stage_changed") == moves_before + 1  # factory-exists moved once, whoever won
    assert events(loaded, "review.requested") == len(pending_reviews(loaded))
    assert stages(loaded)["factory-exists"] == "corroborated"
    for r in reports:
        assert isinstance(r, gateway.RemoteReport) or type(r).__name__ == "ConcurrencyConflict", r
