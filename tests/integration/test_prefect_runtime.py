"""The Prefect runtime of flow-running commands, as a user meets it (issue 7 points 7-8; issue 9 points 3-4).

Every test runs real `claims` processes with no Prefect server configured, so each command starts its
own temporary API (`flows.api`): it must start on a loaded machine, be started once per command,
never outlive the command (kill -9 included, and before `claims demo` hands over to the dashboard),
and let four commands run at once. The temporary servers are found as children of the command whose
command line names `flows.api`, recorded while they run, then checked to be gone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from click.testing import Result
from prefect.settings import PREFECT_API_URL, temporary_settings
from typer.testing import CliRunner

from claims import services
from claims.cli import app
from claims.demo import DEMO_CASE, DEMO_USERS
from claims.services import Runtime
from claims.services.identity import issue_token_unchecked
from claims.settings import get_settings
from flows import api

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
STARTUP = 300  # seconds a command may take to get its API on a machine kept busy by others


def command_env(url: str) -> dict[str, str]:
    """No configured Prefect API and no look for `claims serve`: the command must start its own."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return {**env, "PYTHONPATH": str(ROOT), "CLAIMS_DATABASE_URL": url, "CLAIMS_PREFECT_API_URL": "none"}


class Command:
    """`claims ...` in its own process; stderr collected line by line; temporary API servers recorded as seen."""

    def __init__(self, *args: object, cwd: Path, url: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "claims.cli", *map(str, args)],
            cwd=cwd,
            env=command_env(url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stderr: list[str] = []
        self.stdout = ""
        self.servers: set[int] = set()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip("\n"))

    def look(self) -> set[int]:
        """Record the temporary API servers running under the command now."""
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return self.servers
        for child in children:
            try:
                if api.MARKER in " ".join(child.cmdline()):
                    self.servers.add(child.pid)
            except psutil.NoSuchProcess:
                pass
        return self.servers

    def wait_for(self, found: Callable[[], bool], timeout: float = STARTUP) -> None:
        deadline = time.monotonic() + timeout
        while not found():
            self.look()
            if self.proc.poll() is not None:
                raise AssertionError(f"command ended early ({self.proc.returncode}): {self.stderr}")
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout}s: {self.stderr}")
            time.sleep(0.05)

    def said(self, text: str) -> bool:
        return any(text in line for line in self.stderr)

    def finish(self, timeout: float = STARTUP + 120) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.look()
            time.sleep(0.05)
        self.stdout = self.proc.stdout.read() if self.proc.stdout else ""
        return self.proc.wait(1)


def alive(pids: set[int]) -> set[int]:
    """Which of `pids` still run (zombies count as gone: they hold no memory and no port)."""
    left = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                left.add(pid)
        except psutil.NoSuchProcess:
            pass
    return left


def wait_gone(pids: set[int], timeout: float = 30) -> set[int]:
    deadline = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive(pids)


@pytest.fixture
def loaded_sqlite(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An SQLite file with the demo users and the EU drones case imported, not yet assessed; commands
    started by the test act as alice through CLAIMS_TOKEN (they inherit this process's environment)."""
    rt = Runtime(sqlite_url)
    services.ensure_users(rt, DEMO_USERS)
    services.import_case(rt, "alice", services.read_case_file(DEMO_CASE))
    monkeypatch.setenv("CLAIMS_TOKEN", issue_token_unchecked(rt, "alice", reason="runtime test").token)
    get_settings.cache_clear()
    return sqlite_url


@pytest.fixture
def busy_cores() -> Iterator[None]:
    """Both cores of the machine kept busy for the duration of the test."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


@pytest.mark.parametrize("when", ["while the API starts", "while the flow runs"])
def test_a_killed_command_leaves_no_prefect_server(loaded_sqlite: str, tmp_path: Path, when: str):
    cmd = Command("assess", "--verbose", cwd=tmp_path, url=loaded_sqlite)
    if when == "while the API starts":
        cmd.wait_for(lambda: bool(cmd.servers))
    else:
        cmd.wait_for(lambda: cmd.said("Prefect API ready"))
    servers = set(cmd.servers)
    assert servers and alive(servers)
    os.kill(cmd.proc.pid, signal.SIGKILL)
    cmd.proc.wait(10)
    assert wait_gone(servers) == set(), "the temporary Prefect API outlived its kill -9'd command"


def test_four_commands_at_once_all_assess(loaded_sqlite: str, tmp_path: Path):
    cmds = [Command("assess", "--json", cwd=tmp_path, url=loaded_sqlite) for _ in range(4)]
    codes = [cmd.finish() for cmd in cmds]
    assert codes == [0, 0, 0, 0], [cmd.stderr for cmd in cmds]
    assert not any("Traceback" in line for cmd in cmds for line in cmd.stderr)
    assessed = [json.loads(cmd.stdout)["assessed"] for cmd in cmds]
    # incremental: the first to get there judges all 5; one that starts after it finds nothing changed
    assert max(assessed) == 5 and all(0 <= n <= 5 for n in assessed), assessed
    moved = [m["claim"] for cmd in cmds for m in json.loads(cmd.stdout)["moved"]]
    assert moved == ["factory-exists"]  # exactly one of the four moved it; the others found it done
    assert wait_gone(set().union(*(cmd.servers for cmd in cmds))) == set()


def test_the_demo_runs_with_both_cores_busy_and_leaves_its_data_in_the_db_file(tmp_path: Path, busy_cores: None):
    cmd = Command("demo", cwd=tmp_path, url="sqlite:///claims.db")
    assert cmd.finish() == 0, cmd.stderr
    assert "assessed 5 claim(s); 1 changed" in cmd.stdout
    assert len(cmd.servers) == 1  # intake and assessment shared one temporary API
    assert wait_gone(cmd.servers) == set()
    # The .db file alone holds the data (the WAL was checkpointed): copying what a user sees copies everything.
    wal = tmp_path / "claims.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    (tmp_path / "copy").mkdir()
    shutil.copy(tmp_path / "claims.db", tmp_path / "copy" / "claims.db")
    with sqlite3.connect(tmp_path / "copy" / "claims.db") as copy:
        assert copy.execute("SELECT count(*) FROM claims").fetchone()[0] == 5
        assert copy.execute("SELECT stage FROM claims WHERE key = 'factory-exists'").fetchone()[0] == "corroborated"


def test_the_demo_stops_its_server_before_the_dashboard_and_leaves_nothing_after_it(tmp_path: Path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = Command("demo", "--dashboard", "--port", port, cwd=tmp_path, url="sqlite:///claims.db")
    try:
        cmd.wait_for(lambda: cmd.said("dashboard on http://"))
        assert len(cmd.servers) == 1, "intake and assessment share one temporary API"
        assert alive(cmd.servers) == set(), "the temporary API still ran when the dashboard took over"
        cmd.wait_for(lambda: "streamlit" in " ".join(psutil.Process(cmd.proc.pid).cmdline()), timeout=60)
        family = {cmd.proc.pid, *(c.pid for c in psutil.Process(cmd.proc.pid).children(recursive=True))}
    finally:
        cmd.proc.terminate()
        cmd.proc.wait(30)
    assert wait_gone(family | cmd.servers) == set(), "something of the demo outlived its dashboard"


def test_a_temporary_api_that_cannot_start_is_one_line(
    loaded_sqlite: str, monkeypatch: pytest.MonkeyPatch, point_settings_at: Callable[[str], None]
):
    """No traceback when the temporary API does not answer in time (here: 1 s), and no server left running."""
    point_settings_at(loaded_sqlite)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("CLAIMS_PREFECT_API_URL", "none")
    monkeypatch.setattr(api, "startup_seconds", lambda: 1.0)
    before = {c.pid for c in psutil.Process().children(recursive=True)}
    # a test harness of an earlier test may still hold PREFECT_API_URL in Prefect's settings context
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        result: Result = CliRunner().invoke(app, ["assess"], catch_exceptions=False)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: prefect: the temporary Prefect API did not start within 1 s "
        f"(log: {api.log_path()}); start a server with `claims serve` in another terminal, "
        "or allow more time with PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
    ]
    started = {c.pid for c in psutil.Process().children(recursive=True)} - before
    assert wait_gone(started) == set()


def test_a_running_server_is_used_and_no_temporary_one_started(
    loaded_sqlite: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """What `claims serve` provides (stood in for by an API server of this test, on a database of its own):
    found through CLAIMS_PREFECT_API_URL, used, the run recorded there; no temporary API started."""
    for name in ("PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL"):
        monkeypatch.setenv(name, f"sqlite+aiosqlite:///{tmp_path}/prefect.db")  # its own, not a harness's
    server = api.TemporaryApi.start(timeout=STARTUP)
    try:
        env = {**command_env(loaded_sqlite), "CLAIMS_PREFECT_API_URL": server.url}
        import httpx

        def runs() -> dict[str, str]:
            found = httpx.post(f"{server.url}/flow_runs/filter", json={"limit": 200}, timeout=30).json()
            return {r["id"]: r["state_type"] for r in found}

        earlier = runs()  # a server shared with an earlier harness may hold runs of other tests
        began = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "claims.cli", "assess", "--json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=STARTUP,
        )
        elapsed = time.monotonic() - began
        assert done.returncode == 0, done.stderr
        assert "temporary Prefect API" not in done.stderr
        assert [state for run, state in runs().items() if run not in earlier] == ["COMPLETED"]
        print(f"claims assess against a running server: {elapsed:.1f}s")
    finally:
        server.stop()
