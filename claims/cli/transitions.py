"""`claims assess`, `claims advance`, `claims reopen`: moving claims between stages."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from claims import services
from claims.cli.common import (
    AsUser,
    BatchOpt,
    DaskOpt,
    JsonOut,
    VerboseOpt,
    credentials,
    emit_json,
    err,
    fail,
    identity,
    out,
    runtime,
    stage_arg,
)


def assess_cmd(
    keys: Annotated[
        list[str] | None, typer.Argument(help="Claim keys (default: every claim changed since it was last assessed).")
    ] = None,
    case: Annotated[str | None, typer.Option(help="Only this case.")] = None,
    full: Annotated[bool, typer.Option("--all", help="Re-assess every claim, changed or not.")] = False,
    dask: DaskOpt = None,
    batch_size: BatchOpt = None,
    verbose: VerboseOpt = False,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Assess claims against the threshold policy through the assessment flow, and apply what it says.

    With CLAIMS_API_URL set the flow runs on that `claims serve`, warm, as your token's user (no
    Prefect start-up here); otherwise, or with --dask or --verbose (Prefect's run log on this
    terminal), it runs in this process.
    """
    from claims.cli import remote

    if remote.configured() and not verbose and not dask:
        if not as_json and sys.stderr.isatty():  # for a person watching; logs and errors stay one line
            err.print("assessing on the claims API…", markup=False)
        data = remote.call(
            "POST",
            "/assessments",
            as_user=as_user,
            json={"keys": keys or None, "case": case, "full": full, "batch_size": batch_size},
            long=True,
        )
        print_report(data, as_json)
        return
    rt = runtime()
    who, _ = credentials(as_user)
    from flows.runner import assess

    prefect_console(verbose)
    with flow_errors():
        report = assess(
            rt,
            who,
            keys or None,
            case=case,
            progress=not as_json,
            dask=dask,
            batch_size=batch_size,
            quiet=not verbose,
            full=full,
        )
    print_outcomes(report.outcomes, as_json)


def prefect_console(verbose: bool) -> None:
    """Prefect's own run log goes to stderr only with --verbose; otherwise the summary and errors are ours.
    (With no Prefect API configured the flows run without Prefect: nothing to silence, nothing imported.)"""
    from flows.runner import prefect_api_url

    if not verbose and prefect_api_url():
        from flows.common import silence_console

        silence_console()


@contextmanager
def flow_errors() -> Iterator[None]:
    """Batches that failed on I/O after retries, or a configured Prefect API that does not answer, exit 1
    with one line (rule and input errors keep their own codes)."""
    import httpx

    from flows.work import BatchesFailed

    try:
        yield
    except BatchesFailed as exc:
        fail(f"assessment: {exc}", 1)
    except (httpx.TransportError, RuntimeError) as exc:
        lost = exc if isinstance(exc, httpx.TransportError) else exc.__cause__  # Prefect: "Failed to reach API"
        if not isinstance(lost, httpx.TransportError):
            raise
        from flows.runner import prefect_api_url

        fail(
            f"prefect: no answer from the Prefect API at {prefect_api_url()} ({lost or exc}); "
            "start that server or unset PREFECT_API_URL to run the flows in this process",
            1,
        )


def print_report(data: dict[str, Any], as_json: bool) -> None:
    """The API's report, printed as `print_outcomes` prints a run of this process."""
    if as_json:
        emit_json({k: data[k] for k in ("assessed", "moved", "review_requested", "at_risk", "changes")})
        return
    changes: dict[str, list[str]] = data["changes"]
    out.print(f"assessed {data['assessed']} claim(s); {len(changes)} changed", markup=False)
    for claim, said in changes.items():
        for change in said:
            out.print(f"  {claim}: {change}", markup=False)


def print_outcomes(outcomes: "list[services.Outcome]", as_json: bool) -> None:
    """What moved and why."""
    changed = [o for o in outcomes if o.changes]
    assessed = len(outcomes)
    if as_json:
        emit_json(
            {
                "assessed": assessed,
                "moved": [
                    {"claim": o.claim, "from": o.from_stage.value, "to": o.stage.value} for o in outcomes if o.moved
                ],
                "review_requested": [
                    {"claim": o.claim, "to": o.review_requested.value} for o in outcomes if o.review_requested
                ],
                "at_risk": [o.claim for o in outcomes if o.at_risk],
                "changes": {o.claim: list(o.changes) for o in changed},
            }
        )
        return
    out.print(f"assessed {assessed} claim(s); {len(changed)} changed", markup=False)
    for o in changed:
        for change in o.changes:
            out.print(f"  {o.claim}: {change}", markup=False)


def advance_cmd(
    key: str,
    to: Annotated[str, typer.Option(help="Target stage.")],
    reason: Annotated[str | None, typer.Option(help="Why.")] = None,
    if_version: Annotated[int | None, typer.Option(help="Fail if the claim changed since this version.")] = None,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Request a transition: corroborate/demote apply now, confirm/refute open a review."""
    from claims.cli import remote

    target = stage_arg(to)
    if remote.configured():
        body = {"to": target.value, "reason": reason, "if_version": if_version}
        data = remote.call("POST", f"/claims/{remote.part(key)}/advance", as_user=as_user, json=body)
    else:
        result = services.advance(runtime(), identity(as_user), key, target, expect_version=if_version, reason=reason)
        data = {
            "claim": result.claim,
            "from": result.from_stage.value,
            "stage": result.stage.value,
            "review": result.review_id,
        }
    if as_json:
        emit_json(data)
    elif data["review"]:
        out.print(f"review #{data['review']} requested: {key} {data['from']} -> {target}", markup=False)
    else:
        out.print(f"{key}: {data['from']} -> {data['stage']}", markup=False)


def reopen_cmd(
    key: str,
    to: Annotated[str, typer.Option(help="corroborated or reported")],
    rationale: Annotated[str, typer.Option(help="Why the claim is reopened.")],
    if_version: Annotated[int | None, typer.Option(help="Fail if the claim changed since.")] = None,
    as_user: AsUser = None,
) -> None:
    """Reopen a confirmed or refuted claim (reviewer; audited with the rationale)."""
    target = stage_arg(to)
    services.reopen(runtime(), identity(as_user), key, target, rationale, expect_version=if_version)
    out.print(f"{key} reopened to {target}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("assess")(assess_cmd)
    app.command("advance")(advance_cmd)
    app.command("reopen")(reopen_cmd)
