"""Safe defaults (issue 9, point 9): `claims dashboard` listens on this machine only unless told otherwise."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from process_helpers import env_for


def listening(port: int) -> set[str]:
    """The local addresses that listen on TCP `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(addr)[::-1]) if len(addr) == 8 else addr)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_dashboard(url: str, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "claims.cli", "dashboard", "--port", str(port), *extra],
        env=env_for(url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not listening(port):
        assert proc.poll() is None, "the dashboard exited"
        time.sleep(0.5)
    return proc, port


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp")
@pytest.mark.parametrize(("extra", "expected"), [((), {"127.0.0.1"}), (("--address", "0.0.0.0"), {"0.0.0.0"})])
def test_the_dashboard_listens_on_loopback_unless_told(sqlite_url: str, extra: tuple[str, ...], expected: set[str]):
    proc, port = start_dashboard(sqlite_url, *extra)
    try:
        assert listening(port) == expected
    finally:
        proc.terminate()
        proc.wait(30)
