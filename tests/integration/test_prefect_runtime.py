"""The Prefect runtime of flow-running commands, as a user meets it (issue 19 section 2; decision 0013).

With no Prefect API configured a command runs the flows' bodies in its own process: it starts no
Prefect server (no child process at all), imports no Prefect, and four at once still judge every
claim once. With PREFECT_API_URL configured (environment or the active Prefect profile) the flows
run there, and a server that does not answer is one line, exit 1. Every test runs real `claims`
processes; their children are recorded while they run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
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
from identity_helpers import as_user

from claims import services
from claims.demo import DEMO_CASE, DEMO_USERS
from claims.services import Runtime
from claims.services.identity import issue_token_unchecked
from claims.settings import get_settings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 300  # seconds a command may take on a machine kept busy by others (no timing is asserted)


def command_env(url: str, home: Path) -> dict[str, str]:
    """No Prefect API configured anywhere: no PREFECT_* variable, a PREFECT_HOME with no profile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {**env, "PYTHONPATH": str(ROOT), "CLAIMS_DATABASE_URL": url, "PREFECT_HOME": str(home / "prefect-home")}


class Command:
    """`claims ...` in its own process; stderr collected line by line; its child processes recorded as seen."""

    def __init__(self, *args: object, cwd: Path, url: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "claims.cli", *map(str, args)],
            cwd=cwd,
            env=env or command_env(url, cwd),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stderr: list[str] = []
        self.stdout = ""
        self.children: dict[int, str] = {}
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip("\n"))

    def look(self) -> dict[int, str]:
        """Record the processes running under the command now (pid: command line)."""
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return self.children
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                self.children[child.pid] = " ".join(child.cmdline())
        return self.children

    def wait_for(self, found: Callable[[], bool], timeout: float = LIMIT) -> None:
        deadline = time.monotonic() + timeout
        while not found():
            self.look()
            if self.proc.poll() is not None:
                raise AssertionError(f"command ended early ({self.proc.returncode}): {self.stderr}")
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout}s: {self.stderr}")
            time.sleep(0.02)

    def said(self, text: str) -> bool:
        return any(text in line for line in self.stderr)

    def finish(self, timeout: float = LIMIT) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.look()
            time.sleep(0.02)
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
    services.import_case(rt, as_user(rt, "alice"), services.read_case_file(DEMO_CASE))
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


def test_assess_without_a_prefect_api_starts_no_server_and_imports_no_prefect(loaded_sqlite: str, tmp_path: Path):
    env = command_env(loaded_sqlite, tmp_path)
    cmd = Command("assess", "--json", cwd=tmp_path, url=loaded_sqlite, env=env)
    assert cmd.finish() == 0, cmd.stderr
    assert cmd.children == {}, "a command with no Prefect API configured started a process"
    report = json.loads(cmd.stdout)
    assert report["assessed"] == 5
    assert report["moved"] == [{"claim": "factory-exists", "from": "reported", "to": "corroborated"}]
    assert not (tmp_path / "prefect-home").exists()  # Prefect never ran: not even its home folder was made

    services.add_evidence(
        Runtime(loaded_sqlite),
        as_user(Runtime(loaded_sqlite), "alice"),
        "beijing-aware",
        "eu-official",
        "supports",
        credibility=3,
        summary="One more line.",
    )
    timed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "claims.cli", "assess", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=LIMIT,
    )
    assert timed.returncode == 0, timed.stderr[-2000:]
    assert json.loads(timed.stdout)["assessed"] == 1  # only the claim that changed
    modules = {line.split("|")[-1].strip() for line in timed.stderr.splitlines() if "|" in line}
    assert "flows.work" in modules and not {m for m in modules if m.split(".")[0] in ("prefect", "uvicorn")}


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
    assert all(cmd.children == {} for cmd in cmds)


def test_the_demo_runs_with_both_cores_busy_and_leaves_its_data_in_the_db_file(tmp_path: Path, busy_cores: None):
    cmd = Command("demo", cwd=tmp_path, url="sqlite:///claims.db")
    assert cmd.finish() == 0, cmd.stderr
    assert "assessed 5 claim(s); 1 changed" in cmd.stdout
    assert cmd.said("flows run in this process")
    assert cmd.children == {}  # no Prefect server, nothing else either
    # The .db file alone holds the data (the WAL was checkpointed): copying what a user sees copies everything.
    wal = tmp_path / "claims.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    (tmp_path / "copy").mkdir()
    shutil.copy(tmp_path / "claims.db", tmp_path / "copy" / "claims.db")
    with sqlite3.connect(tmp_path / "copy" / "claims.db") as copy:
        assert copy.execute("SELECT count(*) FROM claims").fetchone()[0] == 5
        assert copy.execute("SELECT stage FROM claims WHERE key = 'factory-exists'").fetchone()[0] == "corroborated"


def test_the_demo_reaches_the_dashboard_and_leaves_nothing_after_it(tmp_path: Path):
    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = Command("demo", "--dashboard", "--port", port, cwd=tmp_path, url="sqlite:///claims.db")
    began = time.monotonic()
    try:
        cmd.wait_for(lambda: cmd.said("dashboard on http://"))
        assert cmd.children == {}, "the demo started a process before the dashboard"

        def answers() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        cmd.wait_for(answers)
        print(f"claims demo --dashboard: dashboard answered after {time.monotonic() - began:.1f} s")
        family = {cmd.proc.pid, *(c.pid for c in psutil.Process(cmd.proc.pid).children(recursive=True))}
    finally:
        cmd.proc.terminate()
        cmd.proc.wait(30)
    assert wait_gone(family) == set(), "something of the demo outlived its dashboard"


def test_a_configured_prefect_api_that_does_not_answer_is_one_line(loaded_sqlite: str, tmp_path: Path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]  # nothing listens here once the socket is closed
    env = command_env(loaded_sqlite, tmp_path) | {"PREFECT_API_URL": f"http://127.0.0.1:{closed}/api"}
    cmd = Command("assess", cwd=tmp_path, url=loaded_sqlite, env=env)
    assert cmd.finish() == 1, cmd.stderr
    assert not any("Traceback" in line for line in cmd.stderr), cmd.stderr
    errors = [line for line in cmd.stderr if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(
        f"error: prefect: no answer from the Prefect API at http://127.0.0.1:{closed}/api"
    )
    assert cmd.children == {}
    assert services.open_claim_keys(Runtime(loaded_sqlite), changed_only=True)  # nothing was judged


def test_the_api_of_the_active_prefect_profile_counts_as_configured(tmp_path: Path):
    """`prefect config set PREFECT_API_URL=…` writes the profile; a command finds it without importing Prefect."""
    home = tmp_path / "prefect-home"
    home.mkdir()
    (home / "profiles.toml").write_text(
        'active = "team"\n[profiles.team]\nPREFECT_API_URL = "http://prefect.example.internal:4200/api"\n'
        "[profiles.local]\n",
        encoding="utf-8",
    )
    probe = "import sys; from flows.runner import prefect_api_url; print(prefect_api_url(), 'prefect' in sys.modules)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {"PREFECT_HOME": str(home)}

    def ask(**extra: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe], env=env | extra, cwd=ROOT, capture_output=True, text=True, timeout=LIMIT
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert ask() == "http://prefect.example.internal:4200/api False"
    assert ask(PREFECT_PROFILE="local") == "None False"
    assert ask(PREFECT_API_URL="http://127.0.0.1:4200/api") == "http://127.0.0.1:4200/api False"
