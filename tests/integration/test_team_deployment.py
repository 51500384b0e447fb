"""The team deployment, as far as one machine allows: a real `prefect server start`, two process workers on
the `claims` pool, the claims database on PostgreSQL, deployed from prefect.yaml with Prefect's own CLI.

Four runs of the assessment deployment are triggered at once. Its concurrency limit (1, ENQUEUE) makes
them queue instead of overlapping, so every claim is judged once, nothing moves or asks for review twice,
the audit chain verifies, and both workers took runs. The sign-off run the assessment starts SUSPENDS:
its process ends while the review waits; approved meanwhile through the services, it is resumed by the
next assessment and ends. Every process the test started is stopped in `finally`, also on failure.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psutil
import pytest
from identity_helpers import as_user
from sqlalchemy import create_engine, text

from claims import services
from claims.demo import DEMO_USERS, signed_demo_case
from claims.services import Runtime

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
AUTH = "claims-ops:not-a-real-secret"  # PREFECT_SERVER_API_AUTH_STRING: the API answers no one without it
ASSESSMENT = "claims-assessment/scheduled"
SIGNOFF = "claims-signoff/on-request"
STARTUP = 300  # seconds for the server on a 2-core machine kept busy by others
RUNS = 600  # seconds for the four queued runs


def table_count(url: str, table: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return int(found)


def event_counts(url: str) -> Counter[tuple[str, str | None]]:
    """How many events of each (kind, claim) the audit log holds."""
    engine = create_engine(url)
    with engine.connect() as conn:
        found = Counter((k, c) for k, c in conn.execute(text("SELECT kind, claim_key FROM events")))
    engine.dispose()
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout: float, procs: list[subprocess.Popen[bytes]]) -> Any:
    """Poll `check` until it returns something truthy; fail at once if a started process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"{what}: {' '.join(map(str, p.args[1:6]))} exited with {p.returncode}")
        try:
            if value := check():
                return value
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(1)
    raise AssertionError(f"{what}: not within {timeout}s")


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            args,
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process, its group and every descendant; SIGKILL what is left after 20 s."""
    try:
        family = [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))]
    except psutil.NoSuchProcess:
        family = [proc.pid]
    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            continue
        _gone, alive = psutil.wait_procs([p for p in map(_proc, family) if p], timeout=grace)
        if not alive:
            return


def _proc(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def prefect_cli(*args: str, env: dict[str, str], timeout: float = STARTUP) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"prefect {' '.join(args)}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done.stdout


def test_four_assessments_at_once_on_two_workers_judge_every_claim_once(postgres_url: str, tmp_path: Path):
    rt = Runtime(postgres_url)
    services.ensure_users(rt, DEMO_USERS)
    services.import_case(rt, as_user(rt, "alice"), services.read_case_file(signed_demo_case(tmp_path)))
    # a third independent line (B2): the assessment moves factory-exists and asks a reviewer to confirm it
    services.add_evidence(
        rt,
        as_user(rt, "alice"),
        "factory-exists",
        "eu-official",
        "supports",
        credibility=2,
        summary="A third independent line.",
    )
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CLAIMS_"))}
    base |= {
        "PREFECT_HOME": str(tmp_path / "prefect-home"),  # the server's database, the workers' result storage
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PYTHONPATH": str(ROOT),
    }
    server_env = base | {
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_SERVER_API_AUTH_STRING": AUTH,
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",  # only the runs this test triggers
        "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "2",  # a queued run looks again soon
    }
    client_env = base | {"PREFECT_API_URL": api, "PREFECT_API_AUTH_STRING": AUTH}
    worker_env = client_env | {
        "CLAIMS_DATABASE_URL": postgres_url,
        "CLAIMS_INBOX": str(tmp_path / "inbox"),
        "CLAIMS_CONFIG_DIR": str(tmp_path / "claims-config"),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            start(
                [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                server_env,
                tmp_path / "server.log",
            )
        )
        wait_for(
            "prefect server",
            lambda: httpx.get(f"{api}/health", auth=tuple(AUTH.split(":")), timeout=5).status_code == 200,
            STARTUP,
            procs,
        )
        assert httpx.get(f"{api}/flow_runs/filter", timeout=10).status_code == 401  # no auth string, no answer

        # what an operator runs once (README "Team deployment"), from prefect.yaml
        prefect_cli("work-pool", "create", "claims", "--type", "process", "--overwrite", env=client_env)
        prefect_cli("gcl", "create", "claims-database-writes", "--limit", "1", env=client_env)
        deployed = prefect_cli("deploy", "--all", env=client_env)
        for name in (ASSESSMENT, "claims-intake/inbox", SIGNOFF):
            assert name in deployed, deployed[-2000:]
        for name in ("worker-a", "worker-b"):
            cmd = [sys.executable, "-m", "prefect", "worker", "start", "--pool", "claims", "--name", name]
            procs.append(start([*cmd, "--limit", "1"], worker_env, tmp_path / f"{name}.log"))

        from prefect import get_client
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, DeploymentFilter
        from prefect.deployments import run_deployment
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

        before = event_counts(postgres_url)
        with (
            temporary_settings(updates={PREFECT_API_URL: api, PREFECT_API_AUTH_STRING: AUTH}),
            get_client(sync_client=True) as client,
        ):

            def trigger() -> UUID:
                return run_deployment(ASSESSMENT, timeout=0, as_subflow=False).id

            def finished(ids: list[UUID]) -> list[Any] | None:
                runs = [client.read_flow_run(i) for i in ids]
                return runs if all(r.state and r.state.is_final() for r in runs) else None

            four = [trigger() for _ in range(4)]
            runs = wait_for("four assessment runs", lambda: finished(four), RUNS, procs)
            logs = {p.name: p.read_text()[-3000:] for p in tmp_path.glob("worker-*.log")}
            assert [r.state.type.value for r in runs] == ["COMPLETED"] * 4, (runs, logs)

            # the deployment's limit (1, ENQUEUE): the runs did not overlap, and a run that found the slot taken waited
            spans = sorted((r.start_time, r.end_time) for r in runs)
            assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(spans)), spans
            waited = [
                s.name for r in runs for s in client.read_flow_run_states(r.id) if s.name == "AwaitingConcurrencySlot"
            ]
            assert waited, "no run waited for the deployment's concurrency slot"

            # every claim judged once: the runs' own reports (artifacts) add up to the five claims
            assessed = []
            for run in runs:
                (artifact,) = client.read_artifacts(
                    artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
                )
                assessed.append(int(re.match(r"(\d+) claim", artifact.description or "").group(1)))
            assert sorted(assessed) == [0, 0, 0, 5], assessed
            assert services.open_claim_keys(rt, changed_only=True) == []

            # no double transition, no double review request
            delta = event_counts(postgres_url) - before
            opened = sum(n for (kind, _), n in delta.items() if kind == "task.opened")
            delta = Counter({k: n for k, n in delta.items() if not k[0].startswith("task.")})
            assert delta == {("claim.stage_changed", "factory-exists"): 1, ("review.requested", "factory-exists"): 1}
            # and each collection task opened once: as many opening events as task rows
            assert opened == table_count(postgres_url, "collection_tasks") > 0
            assert services.claim_detail(rt, "factory-exists")["stage"] == "corroborated"
            assert services.audit_verify(rt).ok

            # both workers took runs (the pool hands the queued runs to whichever polls; more runs if one was lucky)
            def workers(ids: list[UUID]) -> set[str]:
                return {client.read_flow_run(i).labels.get("prefect.worker.name") for i in ids} - {None}

            extra: list[UUID] = []
            while workers(four + extra) != {"worker-a", "worker-b"} and len(extra) < 6:
                extra.append(trigger())
                wait_for("one more assessment run", lambda: finished(extra), RUNS, procs)
            assert workers(four + extra) == {"worker-a", "worker-b"}

            # one sign-off run for the one review, however many assessments asked: suspended, its process gone
            (review,) = services.review_queue(rt)
            signoff = client.read_deployment_by_name(SIGNOFF)

            def suspended() -> Any:
                found = client.read_flow_runs(deployment_filter=DeploymentFilter(id={"any_": [signoff.id]}))
                return found if len(found) == 1 and found[0].state.name == "Suspended" else None

            (waiting,) = wait_for("the sign-off run suspended", suspended, RUNS, procs)
            assert waiting.parameters["review_id"] == review["id"]
            pid = int(str(waiting.infrastructure_pid).rsplit(":", 1)[-1])
            assert wait_for("its process gone", lambda: not psutil.pid_exists(pid) or _zombie(pid), 60, procs)

            # decided elsewhere; the next assessment resumes the suspended run, which ends without deciding again
            services.approve(rt, as_user(rt, "carol"), review["id"], "three independent lines, one of them B2")
            follow_up = trigger()
            wait_for("the follow-up assessment", lambda: finished([follow_up]), RUNS, procs)
            done = wait_for(
                "the sign-off run ended",
                lambda: (r := client.read_flow_run(waiting.id)).state.is_final() and r,
                RUNS,
                procs,
            )
            assert done.state.is_completed(), done.state
        assert services.claim_detail(rt, "factory-exists")["stage"] == "confirmed"
        assert (event_counts(postgres_url) - before)[("review.approved", "factory-exists")] == 1
        assert services.audit_verify(rt).ok
    finally:
        for proc in reversed(procs):  # the workers first: their shutdown still talks to the server
            stop(proc)
    assert not [p for p in procs if p.poll() is None]


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
