"""Local receivers for the notification tests: an SMTP server (aiosmtpd) and an HTTP receiver, both on 127.0.0.1.

Nothing leaves the machine: Apprise's mailto:// and json:// URLs point at these, on free ports.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mailbox:
    port: int
    messages: list[Any] = field(default_factory=list)

    def url(self, to: str) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=desk@example.org&to={to}&mode=insecure"


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    """An aiosmtpd SMTP server on a free loopback port; every message it accepts lands in `messages`."""
    from aiosmtpd.controller import Controller

    box = Mailbox(free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.messages.append(envelope)
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Receiver:
    port: int
    posts: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False  # answer 500 to every post (a channel that is down)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"


@contextmanager
def http_receiver() -> Iterator[Receiver]:
    """A std-lib HTTP server on a free loopback port recording each JSON body posted to it."""
    rec = Receiver(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if rec.fail:
                self.send_response(500)
                self.end_headers()
                return
            with rec.lock:
                rec.posts.append(json.loads(body or b"{}"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", rec.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
