"""Deployments of the three flows, and `serve` to run them from one long-lived process (`claims serve`).

- `claims-assessment/scheduled`: every 10 minutes by default; starts a sign-off run per pending review.
- `claims-intake/inbox`: polls the inbox folder (CLAIMS_INBOX) every minute by default.
- `claims-signoff/on-request`: no schedule; started by the assessment, one run per review request.
- `claims-notify/scheduled`: every minute: notices from the event log, then their deliveries (issue 18).
- `claims-digest/daily`: once a day at CLAIMS_DIGEST_HOUR (UTC): each person's digest.

Against whatever Prefect API is configured: PREFECT_API_URL (a `prefect server start` anywhere, or
Prefect Cloud); without one, a local `prefect server start` (with its UI) for as long as we serve.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from claims.settings import get_settings
from flows.assessment import assessment_flow
from flows.intake import intake_flow
from flows.notify import digest_flow, notify_flow
from flows.review import signoff_flow

ASSESSMENT = "claims-assessment/scheduled"
INTAKE = "claims-intake/inbox"
SIGNOFF = "claims-signoff/on-request"
NOTIFY = "claims-notify/scheduled"
DIGEST = "claims-digest/daily"

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment


def deployments(
    *,
    every_minutes: float = 10,
    inbox: Path | None = None,
    intake_seconds: float = 60,
    poll_seconds: float = 10,
) -> list[RunnerDeployment]:
    """The RunnerDeployments: scheduled assessment, inbox intake, sign-off on request, notifier, daily digest."""
    from prefect.types.entrypoint import EntrypointType

    folder = (inbox or get_settings().inbox).resolve()
    module = EntrypointType.MODULE_PATH  # runs import `flows.…` from the installed package, wherever they start
    return [
        assessment_flow.to_deployment(
            name=ASSESSMENT.split("/")[1],
            entrypoint_type=module,
            interval=timedelta(minutes=every_minutes),
            parameters={"signoff_deployment": SIGNOFF},
            concurrency_limit=1,
            description="Assess every claim in batches; open review requests; start a sign-off run for each.",
            tags=["claims"],
        ),
        intake_flow.to_deployment(
            name=INTAKE.split("/")[1],
            entrypoint_type=module,
            interval=timedelta(seconds=intake_seconds),
            parameters={"path": str(folder)},
            concurrency_limit=1,
            description=f"Import case files dropped into {folder}, each once, then assess the changed cases.",
            tags=["claims"],
        ),
        signoff_flow.to_deployment(
            name=SIGNOFF.split("/")[1],
            entrypoint_type=module,
            parameters={"poll_seconds": poll_seconds},
            description="Wait for a reviewer's decision on one review request (four eyes).",
            tags=["claims"],
        ),
        notify_flow.to_deployment(
            name=NOTIFY.split("/")[1],
            entrypoint_type=module,
            interval=timedelta(minutes=1),
            concurrency_limit=1,
            description="Notices from the event log (once per change), then their deliveries with back-off.",
            tags=["claims"],
        ),
        digest_flow.to_deployment(
            name=DIGEST.split("/")[1],
            entrypoint_type=module,
            cron=f"0 {get_settings().digest_hour} * * *",
            concurrency_limit=1,
            description="Each person's daily digest to their digest channels.",
            tags=["claims"],
        ),
    ]


class ServerDidNotStart(RuntimeError):
    """The local Prefect server did not answer in time (a port taken by something else, a broken PREFECT_HOME)."""


@contextmanager
def prefect_api(port: int = 4200, startup_timeout: float = 120) -> Iterator[str]:
    """The configured PREFECT_API_URL; else a local `prefect server start` on 127.0.0.1:`port` while serving.

    An ephemeral API (what `claims demo` uses) runs no scheduler, so schedules would never fire: serving
    needs a real server. One already listening on the port is used as it is; one started here gets
    its own session (Ctrl-C reaches the runner first, which still needs the API to shut down) and
    is stopped afterwards. Its log goes to $PREFECT_HOME/claims-serve-server.log.
    """
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    configured = PREFECT_API_URL.value()
    if configured:
        yield configured
        return
    url = f"http://127.0.0.1:{port}/api"
    server: subprocess.Popen[bytes] | None = None
    if not _healthy(url):
        log = Path(PREFECT_HOME.value()) / "claims-serve-server.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + startup_timeout
        while not _healthy(url):
            if server.poll() is not None or time.monotonic() > deadline:
                stop_process(server)
                raise ServerDidNotStart(f"prefect server on port {port} did not start; see {log}")
            time.sleep(0.5)
    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url  # flow runs start in child processes: they inherit it
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield url
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous
        if server is not None:
            stop_process(server)


def _die_with_parent() -> None:
    """In the child: Linux sends it SIGTERM when `claims serve` dies, even by kill -9 (nothing left behind)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _healthy(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def stop_process(proc: subprocess.Popen[bytes], grace: float = 20) -> None:
    """SIGTERM the process group, SIGKILL what is left after `grace` seconds."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def checkpoints(interval: float, stop: threading.Event) -> None:
    """Sign the audit chain head now and every `interval` seconds until `stop` (issue 9.8).

    Runs beside the runner in a daemon thread; without an instance key there is nothing to sign
    with. A failed checkpoint (the log no longer matches an earlier one) is said on stderr and
    serving goes on: `claims audit verify` names the problem.
    """
    from claims.services import Runtime
    from claims.services.audit import make_checkpoint
    from claims.services.provenance import load_private_key

    while True:
        try:
            if load_private_key() is not None:
                make_checkpoint(Runtime.from_settings())
        except Exception as exc:  # a checkpoint problem must not stop the flows
            print(f"audit checkpoint failed: {exc}", file=sys.stderr, flush=True)
        if stop.wait(interval):
            return


def serve(
    *,
    limit: int | None = None,
    dask: str | None = None,
    port: int = 4200,
    api_host: str | None = None,
    api_port: int | None = None,
    **options: Any,
) -> None:
    """Serve the claims HTTP API (claims.api, HTTPS) and the deployments until interrupted; each deployment
    run executes in a child process, the API's assessments here, warm, as the token's user.

    Each run imports its flow from the entrypoint in a fresh process, so the assessment's task
    runner is chosen there from CLAIMS_DASK_ADDRESS, which `dask` sets for those processes.
    """
    from prefect import serve as prefect_serve

    from claims.api.server import serving
    from claims.services import Runtime

    if dask:
        os.environ["CLAIMS_DASK_ADDRESS"] = dask
    (options.get("inbox") or get_settings().inbox).mkdir(parents=True, exist_ok=True)  # ready for the first file
    stop = threading.Event()
    every = get_settings().checkpoint_minutes
    if every > 0:
        threading.Thread(target=checkpoints, args=(every * 60, stop), name="audit-checkpoints", daemon=True).start()
    try:
        with prefect_api(port) as api, serving(Runtime.from_settings(), host=api_host, port=api_port) as claims_api:
            print(f"Prefect API: {api} (UI: {api.removesuffix('/api')})", file=sys.stderr, flush=True)
            print(f"claims API: {claims_api.url} (certificate: {claims_api.cert})", file=sys.stderr, flush=True)
            prefect_serve(*deployments(**options), limit=limit)
    finally:
        stop.set()
