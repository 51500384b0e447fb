"""uvicorn for the API: HTTPS with the server's own certificate, a deadline for request heads, bounded connections.

`serving()` runs it in a thread beside `claims serve`'s flow runner; it stops with the block and,
being a thread of that process, with the process: a killed server leaves nothing behind (no
registry, no second process).
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from claims.api.app import create_app
from claims.api.tls import ensure_certificate
from claims.domain.errors import ServeFailed
from claims.services.runtime import Runtime

HEADER_TIMEOUT = 10.0  # replaced from the settings by `config()`
# asyncio gives every TLS connection a 256 KiB read buffer (asyncio.sslproto.SSLProtocol.max_size): a
# thousand idle connections held 280 MiB. A TLS record is at most 16 KiB; 32 KiB reads lose nothing.
TLS_READ_BUFFER = 32 * 1024


class HeadDeadline(H11Protocol):
    """h11 with a deadline for each request head: uvicorn waits forever for a head trickled byte by byte
    (its keep-alive timer stops at the first byte), and a thousand such connections each hold memory."""

    timeout_head: float = HEADER_TIMEOUT

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.timeout_head, self._head_late, self.cycle)

    def _head_late(self, cycle: Any) -> None:
        """No new request head since the timer was set, and nothing in progress: close."""
        if self.cycle is cycle and (cycle is None or cycle.response_complete) and not self.transport.is_closing():
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)


@dataclass(frozen=True)
class Listening:
    url: str
    cert: Path


def config(
    rt: Runtime | None = None, *, host: str | None = None, port: int | None = None
) -> tuple[uvicorn.Config, Path]:
    """The uvicorn configuration from the settings, and the certificate clients pin."""
    from claims.settings import get_settings, tls_dir

    s = get_settings()
    host = host or s.api_host
    cert, key = ensure_certificate(tls_dir(), host)
    protocol = type("ClaimsH11", (HeadDeadline,), {"timeout_head": s.api_header_timeout})
    return (
        uvicorn.Config(
            create_app(rt),
            host=host,
            port=s.api_port if port is None else port,
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
            http=protocol,
            loop="asyncio",
            ws="none",
            lifespan="off",
            limit_concurrency=s.api_max_connections,
            timeout_keep_alive=5,
            server_header=False,
            date_header=False,
            log_level="warning",
            access_log=False,
        ),
        cert,
    )


@contextmanager
def serving(rt: Runtime | None = None, *, host: str | None = None, port: int | None = None) -> Iterator[Listening]:
    """The API listening (HTTPS) while the block runs, in a thread of this process."""
    import asyncio.sslproto

    asyncio.sslproto.SSLProtocol.max_size = TLS_READ_BUFFER
    cfg, cert = config(rt, host=host, port=port)
    server = uvicorn.Server(cfg)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            server.run()
        except BaseException as exc:  # a taken port: said by the block below
            failed.append(exc)

    # Prefect's settings (its API URL) live in context variables, which a new thread does not inherit.
    thread = threading.Thread(target=contextvars.copy_context().run, args=(run,), name="claims-api", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise ServeFailed(f"api: cannot listen on {cfg.host}:{cfg.port} ({failed[0] if failed else 'see the log'})")
        time.sleep(0.05)
    bound = server.servers[0].sockets[0].getsockname()[1] if server.servers else cfg.port
    shown = "127.0.0.1" if cfg.host in ("0.0.0.0", "::") else cfg.host
    try:
        yield Listening(f"https://{shown}:{bound}", cert)
    finally:
        server.should_exit = True
        thread.join(30)


def main() -> None:
    """`python -m claims.api.server`: the API alone, on the configured database (flows run in-process)."""
    with serving() as listening:
        print(f"claims API: {listening.url} (certificate: {listening.cert})", file=sys.stderr, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
