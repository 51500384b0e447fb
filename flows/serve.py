"""Deployments of the three flows, and `serve` to run them from one long-lived process (`claims serve`).

- `claims-assessment/scheduled`: every 10 minutes by default; starts a sign-off run per pending review.
- `claims-intake/inbox`: polls the inbox folder (CLAIMS_INBOX) every minute by default.
- `claims-signoff/on-request`: no schedule; started by the assessment, one run per review request.

Against whatever Prefect API is configured: PREFECT_API_URL (a `prefect server start`, or Prefect
Cloud), else a temporary local API started for this process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from claims.settings import get_settings
from flows.assessment import assessment_flow
from flows.intake import intake_flow
from flows.review import signoff_flow

ASSESSMENT = "claims-assessment/scheduled"
INTAKE = "claims-intake/inbox"
SIGNOFF = "claims-signoff/on-request"


def deployments(
    *,
    every_minutes: float = 10,
    inbox: Path | None = None,
    intake_seconds: float = 60,
    poll_seconds: float = 10,
) -> list[Any]:
    """The three RunnerDeployments: scheduled assessment, inbox intake, sign-off on request."""
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
    ]


@contextmanager
def prefect_api() -> Iterator[str]:
    """The configured PREFECT_API_URL, or a temporary local API server shared with the flow-run processes."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = PREFECT_API_URL.value()
    if url:
        yield url
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    with temporary_settings(updates={"server.analytics_enabled": False}):
        server.start()
    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = server.api_url  # flow runs start in child processes: they inherit it
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous
        server.stop()


def serve(*, limit: int | None = None, dask: str | None = None, **options: Any) -> None:
    """Serve the deployments until interrupted; each flow run executes in a child process.

    Each run imports its flow from the entrypoint in a fresh process, so the assessment's task
    runner is chosen there from CLAIMS_DASK_ADDRESS, which `dask` sets for those processes.
    """
    from prefect import serve as prefect_serve

    if dask:
        os.environ["CLAIMS_DASK_ADDRESS"] = dask
    with prefect_api():
        prefect_serve(*deployments(**options), limit=limit)
