"""Faults (issue 9, point 3): kill -9 of an import and of an assessment, and on PostgreSQL the importing
session terminated by the server, at seeded random points, in bounded trials.

Afterwards no claim is partial (an import is one transaction: none or all of a file's claims, each with all
its evidence), no claim is half-moved (its stage is the replay of its stage events; no review request without
its event), the event chain verifies, the next run finishes the work and a third changes nothing.
That a flow-running command with no Prefect API starts no process at all (so a killed one leaves none) is
shown by test_prefect_runtime.py::test_assess_without_a_prefect_api_starts_no_server_and_imports_no_prefect.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from identity_helpers import as_user, system_identity
from process_helpers import env_for
from sqlalchemy import create_engine, func, select, text

from bench.synthetic import write_case_json
from claims import services
from claims.demo import DEMO_USERS
from claims.services import Runtime
from claims.services.identity import issue_token_unchecked
from claims.store.models import Case, Claim, Event, Evidence, ReviewRequest

pytestmark = pytest.mark.slow

CLAIMS_PER_FILE = 2500
IMPORT_TRIALS = 3
ASSESS_TRIALS = 3
ASSESS_CLAIMS = 1000
SEED = 9

# The assessment service in batches, as the flow calls it, without Prefect's start-up.
_ASSESS = """
import sys
from claims import services
from claims.services.identity import system_identity
rt = services.Runtime(sys.argv[1])
keys = services.open_claim_keys(rt, sys.argv[2], changed_only=True)
print("ready", flush=True)
for i in range(0, len(keys), 50):
    services.assess_claims(rt, system_identity(), keys[i : i + 50])
    print("batch", flush=True)
"""
ASSESS_BATCHES = ASSESS_CLAIMS // 50


def claims_cmd(url: str, token: str, *args: object, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "claims.cli", *map(str, args)],
        env=env_for(url, CLAIMS_TOKEN=token),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_after(proc: subprocess.Popen[str], delay: float) -> bool:
    """kill -9 after `delay` seconds; True if the process was still running (so really killed mid-way)."""
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return True


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    stdout, stderr = proc.communicate(timeout=300)
    return proc.returncode, stdout, stderr


def evidence_per_claim(path: Path) -> dict[str, int]:
    return {c["key"]: len(c["evidence"]) for c in json.loads(path.read_text())["claims"]}


def stored_evidence(rt: Runtime, case_key: str) -> dict[str, int]:
    with rt.uow(write=False) as uow:
        rows = uow.session.execute(
            select(Claim.key, func.count(Evidence.id))
            .join(Case, Claim.case_id == Case.id)
            .outerjoin(Evidence, Evidence.claim_id == Claim.id)
            .where(Case.key == case_key)
            .group_by(Claim.key)
        )
        return dict(rows.all())


def assert_nothing_half_done(rt: Runtime) -> None:
    """Every claim's stage is the replay of its stage events; every review request has its event."""
    with rt.uow(write=False) as uow:
        events = list(uow.session.scalars(select(Event).order_by(Event.id)))
        stages = dict(uow.session.execute(select(Claim.key, Claim.stage)).all())
        reviews = set(uow.session.scalars(select(ReviewRequest.id)))
        replay: dict[str, str] = {}
        for e in events:
            if e.kind == "claim.stage_changed":
                assert e.from_stage == replay.get(e.claim_key, "reported"), (e.claim_key, e.id)
                replay[e.claim_key] = e.to_stage
        requested = Counter(e.payload["review"] for e in events if e.kind == "review.requested")
    for key, stage in stages.items():
        assert replay.get(key, "reported") == stage, key
    assert set(requested) == reviews and all(n == 1 for n in requested.values())
    assert services.audit_verify(rt).ok


def event_total(rt: Runtime) -> int:
    with rt.uow(write=False) as uow:
        return uow.session.scalar(select(func.count(Event.id))) or 0


def test_import_killed_at_random_points_leaves_none_or_all_and_reruns_finish(rt: Runtime, db_url: str, tmp_path: Path):
    token = issue_token_unchecked(rt, "alice", reason="fault test").token
    rng = random.Random(SEED)
    # How long one such import takes here, start-up included: the kills fall inside it on a fast or a slow machine.
    calibration = tmp_path / "calibration.json"
    write_case_json(calibration, CLAIMS_PER_FILE, key="calibration", seed=99)
    began = time.monotonic()
    assert finish(claims_cmd(db_url, token, "import", calibration, cwd=tmp_path))[0] == 0
    took = time.monotonic() - began
    killed, figures = 0, []
    for trial in range(IMPORT_TRIALS):
        key = f"fault{trial}"
        path = tmp_path / f"{key}.json"
        write_case_json(path, CLAIMS_PER_FILE, key=key, seed=trial)
        expected = evidence_per_claim(path)
        delay = rng.uniform(0.5, 0.95) * took  # past the CLI's start-up, before the import's end
        started = time.time()
        was_running = kill_after(claims_cmd(db_url, token, "import", path, cwd=tmp_path), delay)
        killed += was_running
        stored = stored_evidence(rt, key)
        assert stored in ({}, expected), f"trial {trial}: {len(stored)} of {len(expected)} claims after kill -9"
        assert services.audit_verify(rt).ok
        second = finish(claims_cmd(db_url, token, "import", path, cwd=tmp_path))
        assert second[0] == 0, second[2]
        assert stored_evidence(rt, key) == expected
        if trial == 0:  # the command's own words once; later trials ask the service (no CLI start-up)
            third = finish(claims_cmd(db_url, token, "import", path, cwd=tmp_path))
            assert third[0] == 0 and third[1].strip() == f"{key}: nothing new", third
        else:
            assert not services.import_path(rt, as_user(rt, "alice"), path).changed
        figures.append(
            f"trial {trial}: kill at {delay:.1f}s ({'mid-run' if was_running else 'after it ended'}), "
            f"{'all' if stored else 'none'} stored; trial {time.time() - started:.1f}s"
        )
    assert services.audit_verify(rt).ok
    print(f"\nimport faults {db_url.split(':')[0]}: " + "; ".join(figures))
    assert killed >= 1, "no trial killed the import mid-run: the file is too small for this machine"


def test_assessment_killed_at_random_points_leaves_no_claim_half_moved(rt: Runtime, db_url: str, tmp_path: Path):
    rng = random.Random(SEED)
    killed, figures = 0, []
    for trial in range(ASSESS_TRIALS):
        key = f"assess{trial}"
        path = tmp_path / f"{key}.json"
        write_case_json(path, ASSESS_CLAIMS, key=key, seed=trial)
        services.import_path(rt, as_user(rt, "alice"), path)
        # Killed inside a random batch: after `done` batches have committed, a random moment into the next
        # (a fixed delay from start-up ended before the kill on a fast machine).
        done, delay = rng.randrange(1, ASSESS_BATCHES - 2), rng.uniform(0.0, 0.01)
        proc = subprocess.Popen(
            [sys.executable, "-c", _ASSESS, db_url, key],
            env=env_for(db_url),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n", proc.stderr
        for _ in range(done):
            assert proc.stdout.readline() == "batch\n", proc.stderr
        was_running = kill_after(proc, delay)
        killed += was_running
        assert_nothing_half_done(rt)
        left = len(services.open_claim_keys(rt, key, changed_only=True))
        services.assess_claims(rt, system_identity(), services.open_claim_keys(rt, key, changed_only=True))
        assert_nothing_half_done(rt)
        assert services.open_claim_keys(rt, key, changed_only=True) == []
        before = event_total(rt)
        services.assess_claims(rt, system_identity(), services.open_claim_keys(rt, key))
        assert event_total(rt) == before, "a third assessment wrote events"
        state = "mid-run" if was_running else "ended"
        figures.append(f"trial {trial}: kill in batch {done + 1} ({state}), {left} left")
    print(f"\nassessment faults {db_url.split(':')[0]}: " + "; ".join(figures))
    assert killed == ASSESS_TRIALS, "a trial's assessment ended before its kill"


@pytest.mark.postgres
def test_importing_session_terminated_by_postgres_is_one_line_and_changes_nothing(
    postgres_url: str, tmp_path: Path, db_snapshot
):
    rt = Runtime(postgres_url)
    services.ensure_users(rt, DEMO_USERS)
    token = issue_token_unchecked(rt, "alice", reason="fault test").token
    path = tmp_path / "terminated.json"
    write_case_json(path, CLAIMS_PER_FILE, key="terminated")
    url = postgres_url + ("&" if "?" in postgres_url else "?") + "application_name=claims-fault-test"
    before = db_snapshot(postgres_url)
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    proc = claims_cmd(url, token, "import", path, cwd=tmp_path)
    terminated = False
    try:
        deadline = time.time() + 120
        with admin.connect() as conn:
            while proc.poll() is None and time.time() < deadline and not terminated:
                # The importing transaction: it has started writing the file's claims.
                pids = (
                    conn.execute(
                        text(
                            "SELECT pid FROM pg_stat_activity WHERE application_name = 'claims-fault-test' "
                            "AND xact_start IS NOT NULL AND query ILIKE '%INSERT INTO%'"
                        )
                    )
                    .scalars()
                    .all()
                )
                for pid in pids:
                    terminated |= bool(conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar())
                time.sleep(0.05)
    finally:
        admin.dispose()
    code, _, stderr = finish(proc)
    assert terminated, "never caught the import mid-transaction"
    assert code != 0
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr[-3000:]
    assert db_snapshot(postgres_url) == before
    again = finish(claims_cmd(url, token, "import", path, cwd=tmp_path))
    assert again[0] == 0, again[2]
    assert len(stored_evidence(rt, "terminated")) == CLAIMS_PER_FILE
    assert services.audit_verify(rt).ok
    print(f"\nterminated session: {lines[0]}")


def test_claims_assess_killed_mid_batches_leaves_no_claim_half_moved(sqlite_url: str, tmp_path: Path):
    """One trial through the real command (in its own process, no Prefect API): killed once its first batch is in.
    Small batches: the command no longer waits for a Prefect server, so 2,000 claims in batches of 50 were
    all judged before the kill."""
    rt = Runtime(sqlite_url)
    services.ensure_users(rt, DEMO_USERS)
    token = issue_token_unchecked(rt, "alice", reason="fault test").token
    path = tmp_path / "cli.json"
    write_case_json(path, ASSESS_CLAIMS * 2, key="cli")
    services.import_path(rt, as_user(rt, "alice"), path)
    total = len(services.open_claim_keys(rt, "cli", changed_only=True))
    env = {**env_for(sqlite_url, CLAIMS_TOKEN=token), "CLAIMS_PREFECT_API_URL": "none"}
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "claims.cli", "assess", "--case", "cli", "--batch-size", "5"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        if len(services.open_claim_keys(rt, "cli", changed_only=True)) < total:
            break  # the first batch is committed: the flow is inside its batches
        time.sleep(0.1)
    delay = random.Random(SEED).uniform(0.0, 1.0)
    was_running = kill_after(proc, delay)
    left = len(services.open_claim_keys(rt, "cli", changed_only=True))
    assert_nothing_half_done(rt)
    services.assess_claims(rt, system_identity(), services.open_claim_keys(rt, "cli", changed_only=True))
    assert_nothing_half_done(rt)
    before = event_total(rt)
    services.assess_claims(rt, system_identity(), services.open_claim_keys(rt, "cli"))
    assert event_total(rt) == before, "a third assessment wrote events"
    print(
        f"\nclaims assess killed {delay:.2f}s into its batches ({'mid-run' if was_running else 'ended'}): "
        f"{left} of {total} claims left"
    )
    assert was_running, "the command ended before the kill: give it more claims"
