"""The CLI against a real `claims serve` (HTTPS, pinned certificate), the door under slow clients, and an impostor.

`claims serve` runs as a team runs it: its own process, the system's token, the flows served on the
test session's Prefect harness (PREFECT_API_URL). The commands run in processes of their own with
CLAIMS_API_URL and CLAIMS_API_CERT, as a person's shell has them.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from identity_helpers import as_user
from prefect_support import start_harness

from claims import services
from claims.api.tls import ensure_certificate
from claims.services import Runtime
from claims.services.identity import issue_token, issue_token_unchecked

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    url: str
    port: int
    cert: Path
    env: dict[str, str]  # a person's shell pointed at it (no database of its own needed)
    log: Path

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def cli(self, *args: str, token: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "claims.cli", *args],
            env=self.env | {"CLAIMS_TOKEN": token},
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=300,
        )


def base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CLAIMS_"))}
    return env | {
        "PYTHONPATH": str(ROOT),
        "CLAIMS_CONFIG_DIR": str(tmp_path / "client-config"),
        "CLAIMS_KEY_DIR": os.environ["CLAIMS_KEY_DIR"],
    }


@pytest.fixture(scope="module")
def harness_url() -> str:
    start_harness()
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value())


@pytest.fixture
def served(loaded: Runtime, tmp_path: Path, harness_url: str) -> Iterator[Served]:
    port = free_port()
    tls = tmp_path / "serve-config" / "tls"
    env = base_env(tmp_path) | {
        "CLAIMS_DATABASE_URL": loaded.database_url,
        "CLAIMS_CONFIG_DIR": str(tmp_path / "serve-config"),
        "CLAIMS_TOKEN": issue_token(loaded, as_user(loaded, "admin"), "system").token,
        "CLAIMS_API_PORT": str(port),
        "CLAIMS_INBOX": str(tmp_path / "inbox"),
        "PREFECT_API_URL": harness_url,
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "claims.cli", "serve", "--every", "100000", "--intake-every", "100000"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
    url = f"https://127.0.0.1:{port}"
    client = base_env(tmp_path) | {"CLAIMS_API_URL": url, "CLAIMS_API_CERT": str(tls / "api-cert.pem")}
    served = Served(proc, url, port, tls / "api-cert.pem", client, log)
    deadline = time.monotonic() + 180
    while True:
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"serve not up: {log.read_text()[-3000:]}"
        try:
            if httpx.get(f"{url}/health", verify=served.context(), timeout=2).is_success:
                break
        except (httpx.HTTPError, OSError, ssl.SSLError):
            pass
        time.sleep(0.3)
    try:
        yield served
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def test_the_cli_works_through_serve_and_a_killed_serve_leaves_nothing(served: Served, loaded: Runtime, tmp_path):
    alice = issue_token_unchecked(loaded, "alice", reason="serve test").token
    assert oct(os.stat(served.cert.with_name("api-key.pem")).st_mode & 0o777) == "0o600"
    assert "CLAIMS_DATABASE_URL" not in served.env  # the person's shell has no database: the answers are serve's
    added = served.cli(
        "evidence", "add", "--claim", "factory-exists", "--source", "eu-official", "--stance", "supports",
        "--summary", "A third line.", "--credibility", "2", "--json", token=alice,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["claim"] == "factory-exists"
    assert services.claim_detail(loaded, "factory-exists")["history"][-1]["actor"] == "alice"

    ready = served.cli("readiness", "--json", token=alice)
    assert ready.returncode == 0, ready.stderr
    assert json.loads(ready.stdout) == services.readiness_json(services.action_readiness(loaded))
    plain = served.cli("readiness", token=alice)
    assert plain.returncode == 0 and ("READY" in plain.stdout), plain.stderr

    assessed = served.cli("assess", "--json", token=alice)
    assert assessed.returncode == 0, assessed.stderr + served.log.read_text()[-3000:]
    report = json.loads(assessed.stdout)
    assert list(report) == ["assessed", "moved", "review_requested", "at_risk", "changes"]
    assert report["assessed"] == 5
    assert {"claim": "factory-exists", "from": "reported", "to": "corroborated"} in report["moved"]
    assert services.open_claim_keys(loaded, changed_only=True) == []  # judged by the served run

    # errors keep their exit codes and their one line through the API
    missing = served.cli("assess", "nope", token=alice)
    assert (missing.returncode, missing.stderr.strip()) == (3, "error: claim: unknown claim 'nope'")
    manager = served.cli("assess", token=issue_token_unchecked(loaded, "mia", reason="serve test").token)
    assert manager.returncode == 4 and "may not assess" in manager.stderr
    forged = served.cli("readiness", token="alice")
    assert (forged.returncode, forged.stderr.strip()) == (4, "error: token: unknown or revoked")

    # kill -9: the port is free at once and no file says where a server was
    os.killpg(served.proc.pid, signal.SIGKILL)
    served.proc.wait(10)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", served.port), timeout=2):
        pass
    left = sorted(p.relative_to(tmp_path / "serve-config").as_posix() for p in (tmp_path / "serve-config").rglob("*"))
    assert left == ["tls", "tls/api-cert.pem", "tls/api-key.pem"], left
    down = served.cli("readiness", token=alice)
    assert down.returncode == 1 and down.stderr.startswith("error: api: cannot reach"), down.stderr


def test_stalled_and_slow_connections_do_not_stop_a_normal_request(served: Served, loaded: Runtime):
    """Issue 21 point 8: ten stalled uploads with a valid token, then 1,000 slow heads; a normal request is
    answered within 10 s throughout, and the server's memory stays bounded."""
    alice = issue_token_unchecked(loaded, "alice", reason="serve test").token
    pid = served.proc.pid
    before = rss_mib(pid)
    context = served.context()

    def normal() -> float:
        start = time.monotonic()
        r = httpx.get(
            f"{served.url}/readiness", headers={"Authorization": f"Bearer {alice}"}, verify=context, timeout=10
        )
        assert r.status_code == 200, r.text
        return time.monotonic() - start

    async def attack() -> tuple[list[float], float]:
        stalled, slow, took = [], [], []
        head = (
            "POST /claims/factory-exists/evidence HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {alice}\r\nContent-Type: application/json\r\nContent-Length: 60000000\r\n\r\n"
        )
        for _ in range(10):
            _, writer = await asyncio.open_connection("127.0.0.1", served.port, ssl=context)
            writer.write(head.encode() + b"{" * 1024)
            await writer.drain()
            stalled.append(writer)
        took.append(await asyncio.to_thread(normal))
        for i in range(1000):
            _, writer = await asyncio.open_connection("127.0.0.1", served.port, ssl=context)
            writer.write(b"GET /readiness HTTP/1.1\r\nHost: x\r\nAuthor")  # and then nothing more, for now
            slow.append(writer)
            if i % 100 == 99:
                await writer.drain()
        took.append(await asyncio.to_thread(normal))
        peak = rss_mib(pid)
        for writer in slow:
            writer.close()
        took.append(await asyncio.to_thread(normal))
        for writer in stalled:
            writer.close()
        return took, peak

    took, peak = asyncio.run(attack())
    time.sleep(1)
    took.append(normal())
    assert all(t < 10 for t in took), took
    assert peak - before < 200, (before, peak)  # MiB; the old gateway held 320 MiB for ten stalled bodies
    print(f"\nnormal request under attack: {[round(t, 3) for t in took]} s; RSS {before:.0f} -> {peak:.0f} MiB")


def test_an_impostor_on_the_port_gets_no_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Issue 21 point 2: a server without the pinned certificate's key cannot finish the handshake; the
    command fails with one line and the impostor never sees an Authorization header."""
    real, _ = ensure_certificate(tmp_path / "real")
    fake_cert, fake_key = ensure_certificate(tmp_path / "fake")  # same names (127.0.0.1, localhost), other key
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(fake_cert, fake_key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    heard: list[bytes] = []

    def impostor() -> None:
        listener.settimeout(60)
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            try:
                with server_ctx.wrap_socket(raw, server_side=True) as conn:
                    conn.settimeout(5)
                    heard.append(conn.recv(65536))
            except (OSError, ssl.SSLError):
                heard.append(b"")

    thread = threading.Thread(target=impostor, daemon=True)
    thread.start()
    env = base_env(tmp_path) | {
        "CLAIMS_API_URL": f"https://127.0.0.1:{port}",
        "CLAIMS_API_CERT": str(real),
        "CLAIMS_TOKEN": "a-persons-secret-token",
    }
    try:
        for args in (["readiness"], ["assess", "--json"]):
            done = subprocess.run(
                [sys.executable, "-m", "claims.cli", *args], env=env, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 1, done.stderr
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and "did not prove it holds the key" in lines[0] and "no token was sent" in lines[0]
            assert done.stdout == ""
        plain = subprocess.run(
            [sys.executable, "-m", "claims.cli", "readiness"],
            env=env | {"CLAIMS_API_URL": f"http://127.0.0.1:{port}"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert plain.returncode == 1 and plain.stderr.startswith("error: settings: CLAIMS_API_URL="), plain.stderr
    finally:
        listener.close()
        thread.join(10)
    assert heard and not any(b"a-persons-secret-token" in h for h in heard), heard
