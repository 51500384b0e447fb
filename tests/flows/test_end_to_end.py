"""Beyond one machine, on one machine: a real Prefect server, a real `claims serve`, a Dask cluster of worker
processes, and the claims database on PostgreSQL.

The test triggers the assessment deployment, waits for the run, checks the claims database, checks the
batch ran on Dask, then decides the review through the CLI and sees the served sign-off run end. Every
process it started is stopped in `finally`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from distributed import Client, LocalCluster
from identity_helpers import as_user
from prefect import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings

from claims import services
from claims.demo import DEMO_USERS, signed_demo_case
from claims.services import Runtime
from flows.serve import ASSESSMENT, SIGNOFF
from flows.serve import stop_process as stop

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check: Callable[[], Any], timeout: float, procs: list[subprocess.Popen[bytes]]) -> Any:
    """Poll `check` until it returns something truthy; fail early if a started process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"{what}: {p.args[2:5]} exited with {p.returncode}")
        try:
            if value := check():
                return value
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout}s")


def started(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def signoff_runs(client: Any) -> list[Any]:
    deployment = client.read_deployment_by_name(SIGNOFF)
    return client.read_flow_runs(deployment_filter=DeploymentFilter(id={"any_": [deployment.id]}))


def test_served_assessment_fans_out_on_dask_and_updates_the_postgres_claims_database(postgres_url: str, tmp_path: Path):
    rt = Runtime(postgres_url)
    services.ensure_users(rt, DEMO_USERS)
    services.import_case(
        rt, as_user(rt, "alice"), services.read_case_file(signed_demo_case(tmp_path))
    )  # history vouched for
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
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CLAIMS_"))}
    env |= {
        "PREFECT_HOME": str(tmp_path / "prefect-home"),  # the server's own SQLite database lives here
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "CLAIMS_DATABASE_URL": postgres_url,
        "CLAIMS_TOKEN": services.identity.issue_token(rt, as_user(rt, "admin"), "system").token,  # serve acts as system
        "CLAIMS_CONFIG_DIR": str(tmp_path / "claims-config"),  # serve's TLS certificate (tls/), pinned by commands
        "CLAIMS_API_PORT": str(free_port()),
    }
    inbox = str(tmp_path / "inbox")
    procs: list[subprocess.Popen[bytes]] = []
    cluster: LocalCluster | None = None
    try:
        procs.append(
            started(
                [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                env,
                tmp_path / "server.log",
            )
        )
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        )
        wait_for("prefect server", lambda: httpx.get(f"{api}/health", timeout=2).status_code == 200, 120, procs)
        procs.append(
            started(
                [
                    sys.executable,
                    "-m",
                    "claims.cli",
                    "serve",
                    "--dask",
                    cluster.scheduler_address,
                    "--every",
                    "60",
                    "--inbox",
                    inbox,
                    "--poll",
                    "1",
                ],
                env | {"PREFECT_API_URL": api},
                tmp_path / "serve.log",
            )
        )
        with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:
            wait_for(
                "deployments served",
                lambda: client.read_deployments(
                    deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["scheduled", "on-request"]))
                ),
                90,
                procs,
            )
            run = run_deployment(ASSESSMENT, timeout=180, poll_interval=1, as_subflow=False)
            assert run.state.is_completed(), (run.state, (tmp_path / "serve.log").read_text()[-3000:])

            # the claims database, after the served run
            detail = services.claim_detail(rt, "factory-exists")
            assert detail["stage"] == "corroborated"
            judged = [h for h in detail["history"] if not h["kind"].startswith("task.")]  # tasks: test_tasks.py
            assert [(h["kind"], h["actor"]) for h in judged[-2:]] == [
                ("claim.stage_changed", "system"),
                ("review.requested", "system"),
            ]
            assert [services.claim_detail(rt, k)["stage"] for k in ("lethal-production", "beijing-aware")] == [
                "reported",
                "reported",
            ]
            # the batch ran on the Dask workers, not in the flow-run process
            with Client(cluster) as dask:
                prefixes = dask.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
            assert "assess_batch" in prefixes

            # the assessment started a sign-off run; the served run suspends for a reviewer
            paused = wait_for(
                "sign-off run paused",
                lambda: [r for r in signoff_runs(client) if r.state and r.state.name == "Suspended"],
                90,
                procs,
            )
            (review,) = services.review_queue(rt)
            services.approve(rt, as_user(rt, "bob"), review["id"], "three independent lines, one of them B2")
            # the sign-off run is suspended (no process watches the store): the next assessment resumes it
            again = run_deployment(ASSESSMENT, timeout=180, poll_interval=1, as_subflow=False)
            assert again.state.is_completed(), again.state
            done = wait_for(
                "sign-off run ended",
                lambda: client.read_flow_run(paused[0].id).state.is_completed(),
                60,
                procs,
            )
            assert done

            # a person's `claims assess` runs on the served API (HTTPS, the certificate pinned), as that person,
            # without importing Prefect
            services.add_evidence(
                rt,
                as_user(rt, "alice"),
                "beijing-aware",
                "eu-official",
                "supports",
                credibility=3,
                summary="One more line.",
            )
            changed = services.open_claim_keys(rt, changed_only=True)  # the new item's claim, the approved one
            assert "beijing-aware" in changed
            alice = services.identity.issue_token_unchecked(rt, "alice", reason="end-to-end test").token
            command = subprocess.run(
                [sys.executable, "-X", "importtime", "-m", "claims.cli", "assess", "--json"],
                env=env | {"CLAIMS_TOKEN": alice, "CLAIMS_API_URL": f"https://127.0.0.1:{env['CLAIMS_API_PORT']}"},
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert command.returncode == 0, command.stderr[-2000:]
            assert json.loads(command.stdout)["assessed"] == len(changed)
            modules = {line.split("|")[-1].strip() for line in command.stderr.splitlines() if "|" in line}
            assert "claims.cli.remote" in modules and not {m for m in modules if m.startswith("prefect")}
            assert services.open_claim_keys(rt, changed_only=True) == []  # judged by the served run
        assert services.claim_detail(rt, "factory-exists")["stage"] == "confirmed"
        assert services.audit_verify(rt).ok
    finally:
        for proc in reversed(procs):  # serve first: its shutdown still talks to the server
            stop(proc)
        if cluster is not None:
            cluster.close()
