"""`claims demo`, `claims serve`, `claims dashboard`: the long-running and all-in-one commands."""

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from claims import services
from claims.cli.common import DaskOpt, VerboseOpt, err, fail, identity, out, runtime
from claims.cli.db import db_upgrade
from claims.cli.read import readiness_cmd
from claims.cli.transitions import flow_errors, prefect_console, print_outcomes
from claims.demo import DEMO_CASE, DEMO_USERS, signed_demo_case


def demo(
    file: Annotated[Path, typer.Option(help="Case file to load.")] = DEMO_CASE,
    dashboard: Annotated[bool, typer.Option(help="Start the dashboard afterwards.")] = False,
    port: Annotated[int, typer.Option(help="Port of the dashboard.")] = 8501,
    verbose: VerboseOpt = False,
) -> None:
    """Migrate, create the demo users, load the EU drones case and assess it through the flows, print readiness.

    With PREFECT_API_URL configured the intake and the assessment are flow runs on that server;
    without it they run in this process (no Prefect server is started for the demo).
    """
    from flows.runner import assess, flow_api, run_intake

    db_upgrade("head")
    rt = runtime()
    prefect_console(verbose)
    with flow_errors(), flow_api(quiet=not verbose) as api:
        err.print(f"flows run on the Prefect API at {api}" if api else "flows run in this process", markup=False)
        created = sign_in_demo_users(rt)
        if created:
            err.print(f"users created: {', '.join(created)}", markup=False)
        if file.resolve() == DEMO_CASE.resolve():  # the shipped example, vouched for by this instance's key
            file = signed_demo_case(Path(tempfile.mkdtemp(prefix="claims-demo-")))
        err.print(f"importing {file.name} through the intake flow…", markup=False)
        intake = run_intake(rt, identity("alice"), file, quiet=not verbose)  # alice's sign-in, just stored
        loaded = intake.files[0]
        made = ", ".join(f"{n} {k}" for k, n in loaded.created.items() if n) or "nothing new"
        out.print(f"imported {loaded.case}: {made}", markup=False)
        err.print(f"assessing {loaded.case} through the assessment flow…", markup=False)
        report = assess(rt, services.system_identity(), None, case=loaded.case, progress=True, quiet=not verbose)
    print_outcomes(report.outcomes, False)
    readiness_cmd(case=loaded.case, as_json=False)
    if dashboard:
        dashboard_cmd(port=port)


def sign_in_demo_users(rt: "services.Runtime") -> list[str]:
    """Create the demo users with generated passwords and sign each in, so the README's `--as NAME` examples run.

    The passwords and tokens go only to the person's own config file (mode 0600), keyed by this database;
    alice is the current sign-in afterwards. Users that exist already are signed in again only when this
    config file holds their demo password.
    """
    import secrets

    from claims.cli.tokenstore import TokenStore
    from claims.services import identity as ident

    store = TokenStore()
    entry = store.entry(rt.database_url)
    passwords: dict[str, str] = entry.setdefault("demo_passwords", {})
    with rt.uow(write=False) as uow:
        existing = {u.name for u in uow.users.list()}
    for name in DEMO_USERS:
        if name not in existing:
            passwords[name] = secrets.token_urlsafe(15)
    created = services.ensure_users(rt, DEMO_USERS, passwords)
    for name in (n for n in DEMO_USERS if n != "alice"):
        if name in passwords:
            store.put(rt.database_url, name, ident.login(rt, name, passwords[name]).token)
    if "alice" in passwords:
        store.put(rt.database_url, "alice", ident.login(rt, "alice", passwords["alice"]).token)
    store.save()
    err.print(
        f"demo users signed in (passwords in {store.path}); acting as alice, `--as NAME` for the others", markup=False
    )
    return created


def serve_cmd(
    every: Annotated[float, typer.Option(min=0.1, help="Minutes between scheduled assessments.")] = 10,
    inbox: Annotated[Path | None, typer.Option(help="Inbox folder for case files (default $CLAIMS_INBOX).")] = None,
    intake_every: Annotated[float, typer.Option(min=1, help="Seconds between looks into the inbox.")] = 60,
    dask: DaskOpt = None,
    poll: Annotated[float, typer.Option(min=0.1, help="Seconds between checks of a waiting sign-off run.")] = 10,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many flow runs at once.")] = None,
    port: Annotated[
        int, typer.Option(help="Port of the local Prefect server started when PREFECT_API_URL is unset.")
    ] = 4200,
    api_host: Annotated[
        str | None, typer.Option(help="Address of the claims API (default $CLAIMS_API_HOST, 127.0.0.1).")
    ] = None,
    api_port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Port of the claims API (default $CLAIMS_API_PORT, 8443).")
    ] = None,
) -> None:
    """Serve the claims HTTP API and the flows: assessment on a schedule, intake of the inbox, sign-off runs on
    request (Ctrl-C stops).

    The API speaks HTTPS with a certificate made once in $CLAIMS_API_TLS_DIR (clients pin it with
    CLAIMS_API_CERT). The flows run against PREFECT_API_URL when set (a `prefect server start` anywhere,
    or Prefect Cloud); otherwise a local Prefect server with its UI on 127.0.0.1:PORT for as long as it serves.
    """
    from flows.serve import ServerDidNotStart, serve

    who = identity(None)
    if who.role != services.Role.SYSTEM:
        fail(
            f"serve: runs as the system user, not {who.name}; an admin issues a service token with "
            "`claims user token-issue system` and you set it as CLAIMS_TOKEN",
            4,
        )
    try:
        serve(
            limit=limit,
            every_minutes=every,
            inbox=inbox,
            intake_seconds=intake_every,
            dask=dask,
            poll_seconds=poll,
            port=port,
            api_host=api_host,
            api_port=api_port,
        )
    except ServerDidNotStart as exc:
        fail(f"serve: {exc}", 1)


def dashboard_cmd(
    port: Annotated[int, typer.Option(help="Port.")] = 8501,
    headless: Annotated[bool, typer.Option(help="Do not open a browser.")] = True,
    address: Annotated[
        str, typer.Option(help="Address to listen on; 127.0.0.1 keeps it on this machine, 0.0.0.0 opens it to all.")
    ] = "127.0.0.1",
) -> None:
    """Start the Streamlit dashboard on the configured database (this machine only unless --address says otherwise)."""
    from claims.settings import get_settings
    from claims.store.db import dispose_engines, get_engine

    get_engine(get_settings().database_url)  # a missing or unmigrated database is one line here, not in the browser
    app_path = Path(__file__).resolve().parent.parent.parent / "dashboard" / "app.py"
    if not app_path.exists():
        fail("dashboard: dashboard/app.py is not installed")
    args = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path),
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--server.headless",
        str(headless).lower(),
        "--browser.gatherUsageStats",
        "false",
    ]
    err.print(f"dashboard on http://{address}:{port}", markup=False)
    dispose_engines()  # exec skips every `finally`: checkpoint the SQLite WAL and close the files now
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, args)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("serve")(serve_cmd)
    app.command("dashboard")(dashboard_cmd)
