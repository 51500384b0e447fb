"""The deployments `claims serve` serves, without serving them (the end-to-end test does that)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import cloudpickle
import pytest
from typer.testing import CliRunner

from claims.cli import app
from flows.assessment import assessment_flow
from flows.serve import ASSESSMENT, DIGEST, INTAKE, NOTIFY, SIGNOFF, deployments


def test_the_deployments_with_their_schedules_and_parameters(tmp_path: Path):
    assess, intake, signoff, notify, digest = deployments(inbox=tmp_path / "inbox")
    assert [f"{d.flow_name}/{d.name}" for d in (notify, digest)] == [NOTIFY, DIGEST]
    assert notify.schedules[0].schedule.interval == timedelta(minutes=1)
    assert digest.schedules[0].schedule.cron == "0 7 * * *"  # CLAIMS_DIGEST_HOUR, default 7 (UTC)
    assert [f"{d.flow_name}/{d.name}" for d in (assess, intake, signoff)] == [ASSESSMENT, INTAKE, SIGNOFF]
    assert assess.schedules[0].schedule.interval == timedelta(minutes=10)  # the default
    assert assess.parameters == {"signoff_deployment": SIGNOFF}
    assert intake.schedules[0].schedule.interval == timedelta(seconds=60)
    assert intake.parameters == {"path": str((tmp_path / "inbox").resolve())}
    assert signoff.schedules == [] and signoff.parameters == {"poll_seconds": 10}
    assert [d.entrypoint for d in (assess, intake, signoff)] == [
        "flows.assessment.assessment_flow",
        "flows.intake.intake_flow",
        "flows.review.signoff_flow",
    ]


def test_the_schedule_follows_the_options(tmp_path: Path):
    assess, intake, *_ = deployments(every_minutes=2.5, intake_seconds=15, inbox=tmp_path)
    assert assess.schedules[0].schedule.interval == timedelta(minutes=2.5)
    assert intake.schedules[0].schedule.interval == timedelta(seconds=15)


def test_the_assessment_flow_can_travel_to_dask_workers():
    """Dask pickles the flow with every task it sends; nothing in the flow body may be unpicklable."""
    cloudpickle.loads(cloudpickle.dumps(assessment_flow))


@pytest.mark.parametrize("args", [["serve", "--help"], ["assess", "--help"], ["demo", "--help"]])
def test_the_flow_commands_document_their_options(args: list[str]):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0
    assert "--dask" in result.output or "--verbose" in result.output


LEAN = """
import sys
from claims.cli import main
sys.argv = ["claims", "assess", "--help"]
try:
    main()
except SystemExit:
    pass
import prefect  # after main(), as a flow-running command imports it
print(sys.modules.get("rfc3987_syntax") is None)
"""


def test_the_claims_process_imports_prefect_without_the_iri_grammar():
    """jsonschema builds a Lark grammar for IRIs at import when rfc3987-syntax is installed (the dev extras):
    half of Prefect's import time, for a format check Prefect never makes (issue 11)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", LEAN], capture_output=True, text=True, cwd=root, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "True"


PARENT = """
import subprocess, sys, time
from flows.serve import _die_with_parent
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], preexec_fn=_die_with_parent,
                         start_new_session=True)
print(child.pid, flush=True)
time.sleep(600)
"""


def test_a_prefect_server_started_by_serve_dies_with_a_killed_serve():
    """Issue 21 point 2: after `kill -9` of serve nothing it started is left (the local Prefect server is
    started with PR_SET_PDEATHSIG; here the same start, with a sleeper in the server's place)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[2]
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, cwd=root)

    def running(pid: int) -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1]
        except (FileNotFoundError, ProcessLookupError):
            return False
        return state != "Z"  # a zombie has ended: only its exit status waits for its new parent

    child = 0
    try:
        child = int(parent.stdout.readline())  # type: ignore[union-attr]
        assert running(child)  # alive while serve lives
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 30
        while running(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running(child), f"the child {child} outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
        if child and running(child):
            os.kill(child, signal.SIGKILL)  # a failed run leaves nothing either
