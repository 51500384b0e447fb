"""The limits of the API's door on a real uvicorn (HTTPS, loopback): a request head must arrive in time,
a body must arrive in time, and past the concurrency limit a request waits a bounded time (issue 21 point 8)."""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from claims.api.server import Listening, serving
from claims.services import Runtime
from claims.services.identity import issue_token_unchecked
from claims.settings import get_settings


@pytest.fixture
def tight(loaded: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Listening]:
    for name, value in {
        "CLAIMS_API_TLS_DIR": str(tmp_path / "tls"),
        "CLAIMS_API_HEADER_TIMEOUT": "1",
        "CLAIMS_API_BODY_TIMEOUT": "3",
        "CLAIMS_API_CONCURRENCY": "1",
        "CLAIMS_API_QUEUE_SECONDS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    with serving(loaded, port=0) as listening:
        yield listening
    get_settings.cache_clear()


def connect(listening: Listening) -> ssl.SSLSocket:
    port = int(listening.url.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=str(listening.cert))
    conn = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20), server_hostname="127.0.0.1")
    return conn


def answer(conn: ssl.SSLSocket) -> bytes:
    data = b""
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except (TimeoutError, ssl.SSLError, OSError):
        pass
    return data


def status_and_problem(data: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.fixture
def alice(loaded: Runtime) -> Callable[[], str]:
    return lambda: issue_token_unchecked(loaded, "alice", reason="limits").token


def test_a_request_head_trickled_past_its_deadline_is_closed(tight: Listening):
    conn = connect(tight)
    start = time.monotonic()
    conn.sendall(b"GET /readiness HTTP/1.1\r\nHost: x\r\n")  # never finished
    assert answer(conn) == b""  # closed, no answer
    assert time.monotonic() - start < 15


def test_a_body_that_does_not_arrive_in_time_is_408(tight: Listening, alice: Callable[[], str]):
    conn = connect(tight)
    head = (
        f"POST /imports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice()}\r\n"
        "Content-Type: application/yaml\r\nContent-Length: 1000\r\n\r\ncase:"
    )
    conn.sendall(head.encode())
    status, problem = status_and_problem(answer(conn))
    assert status == 408 and problem["type"] == "urn:claims:problem:body-timeout", problem


def test_past_the_concurrency_limit_a_request_waits_a_bounded_time(tight: Listening, alice: Callable[[], str]):
    holder = connect(tight)  # takes the one slot: a valid token, then a body that never comes
    holder.sendall(
        f"POST /imports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice()}\r\nContent-Length: 10\r\n\r\n".encode()
    )
    time.sleep(0.3)
    other = connect(tight)
    other.sendall(f"GET /readiness HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice()}\r\n\r\n".encode())
    other.settimeout(20)
    status, problem = status_and_problem(answer_one(other))
    assert status == 503 and problem["type"] == "urn:claims:problem:busy", problem  # after the 1 s wait, not never
    holder.close()
    time.sleep(3.5)  # the holder's body deadline has freed the slot
    again = connect(tight)
    again.sendall(f"GET /readiness HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice()}\r\n\r\n".encode())
    assert status_and_problem(answer_one(again))[0] == 200


def answer_one(conn: ssl.SSLSocket) -> bytes:
    """One response on a kept-alive connection: the head, then Content-Length bytes."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body
