"""Runs: import a case file, assess claims through the assessment flow (in this server's process)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from claims import services
from claims.api.deps import Rt, Who
from claims.api.routers.errors import PROBLEMS
from claims.api.schemas import AssessIn, AssessOut, ImportOut
from claims.domain.errors import RunFailed
from claims.services.identity import check_permission

router = APIRouter(tags=["runs"], responses=PROBLEMS)

_CASE_FILE = {
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "object"}},
        "application/yaml": {"schema": {"type": "string"}},
    },
}


@router.post("/imports", response_model=ImportOut, status_code=201, openapi_extra={"requestBody": _CASE_FILE})
async def import_case_file(request: Request, rt: Rt, who: Who) -> dict[str, Any]:
    """Import a case file (YAML or JSON, as the body) or a STIX 2.1 bundle; idempotent, one transaction.

    A bundle made by another tool gives what has a meaning here; `left_out` lists the rest, and why.

    The body goes to a temporary file as it arrives (never whole in memory), then through the
    same import pipeline as `claims import FILE`.
    """
    is_json = "json" in request.headers.get("content-type", "")
    fd, name = tempfile.mkstemp(prefix="claims-import-", suffix=".json" if is_json else ".yaml")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            async for chunk in request.stream():
                await anyio.to_thread.run_sync(fh.write, chunk)
        report = await run_in_threadpool(services.import_path, rt, who, path)
    finally:
        path.unlink(missing_ok=True)
    return {"case": report.case, "created": report.created, "left_out": [x.as_json() for x in report.left_out]}


@router.post("/assessments", response_model=AssessOut)
def assess(body: AssessIn, rt: Rt, who: Who) -> dict[str, Any]:
    """Assess claims against the threshold policy through the assessment flow, as the token's user.

    The run executes where this server is configured to run it (its own process, or the Dask
    scheduler its operator set with `claims serve --dask`); no request chooses.
    """
    import httpx

    from flows.assessment import BatchesFailed
    from flows.runner import assess as run

    check_permission(rt, who, "assess")  # refused before any flow run, even with nothing to assess
    try:
        report = run(rt, who, body.keys or None, case=body.case, batch_size=body.batch_size, quiet=True, full=body.full)
    except BatchesFailed as exc:
        raise RunFailed(f"assessment: {exc}") from exc
    except Exception as exc:  # a configured Prefect API that does not answer (Prefect: "Failed to reach API")
        if isinstance(exc, httpx.TransportError) or isinstance(exc.__cause__, httpx.TransportError):
            raise RunFailed(f"assessment: no answer from the Prefect API ({exc.__cause__ or exc})") from exc
        raise
    outcomes = report.outcomes
    return {
        "assessed": len(outcomes),
        "moved": [{"claim": o.claim, "from": o.from_stage.value, "to": o.stage.value} for o in outcomes if o.moved],
        "review_requested": [
            {"claim": o.claim, "to": o.review_requested.value} for o in outcomes if o.review_requested
        ],
        "at_risk": [o.claim for o in outcomes if o.at_risk],
        "changes": {o.claim: list(o.changes) for o in outcomes if o.changes},
        "batches": report.batches,
        "policy_version": report.policy_version,
        "flow_run_id": report.flow_run_id,
    }
