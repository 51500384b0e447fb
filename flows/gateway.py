"""The flow gateway: a running `claims serve` runs the assessment flow for `claims assess`, in its own warm process.

Why (docs/decisions/0008-flow-gateway.md): importing Prefect costs a command 3.5 s of CPU on this
2-core machine, and a deployment run started through the Prefect API executes in a fresh child
process that imports it again. `claims serve` has Prefect imported and its API client warm, so the
command hands it the run: the flow run is recorded on the serve process's Prefect server as any
other, and the command imports no Prefect at all.

- The serve process listens on 127.0.0.1 (a free port) and registers itself in
  `$CLAIMS_CONFIG_DIR/gateways.json` (mode 0600, keyed by database like the sign-ins), with its
  host, pid and a random id that its health check repeats: a stale entry (dead pid, a port now
  used by something else) is never used.
- Identity is proven, never typed: the command sends the person's own token, which the serve
  process verifies against the database before it runs anything; the acting user is the token's.
- The answer is streamed as JSON lines: progress (`{"progress": [done, total]}`), then one
  `{"report": ...}` or `{"error": ..., "kind": ...}`; the command maps errors to its exit codes.

Module level imports nothing beyond the standard library: the command side must stay light.
"""

from __future__ import annotations

import contextvars
import http.client
import json
import os
import secrets
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claims.services import Outcome, Runtime

REGISTRY = "gateways.json"
HEALTH_TIMEOUT = 2.0  # seconds for the health check of a registered gateway (a busy machine answers late)
MAX_BODY = 64 * 1024 * 1024  # a request names claim keys; 64 MiB is far beyond any case

# The exceptions a run may raise that the command maps to its own exit codes, by name (both sides).
KINDS = ("NotFound", "PermissionDenied", "ConcurrencyConflict", "RuleViolation", "DomainError")


class GatewayError(RuntimeError):
    """The gateway failed the run (batches failed after retries, an unexpected error) or stopped answering."""


@dataclass(frozen=True)
class Registration:
    """Where a serve process's gateway listens, and how to know it is still that process."""

    url: str
    pid: int
    host: str
    id: str


def registry_path() -> Path:
    from claims.settings import config_dir

    return config_dir() / REGISTRY


def _read_registry(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_registry(path: Path, data: dict[str, Any]) -> None:
    """Atomically, owner-only (the entries say where to send tokens)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)


def find(database_url: str, policy_version: str) -> Registration | None:
    """The live gateway of a serve process on this host for this database and policy version, else None
    (the command runs the flow itself: a person who set another policy file gets that policy)."""
    from claims.store.db import database_key

    entry = _read_registry(registry_path()).get(database_key(database_url))
    if not isinstance(entry, dict):
        return None
    try:
        reg = Registration(str(entry["url"]), int(entry["pid"]), str(entry["host"]), str(entry["id"]))
    except (KeyError, TypeError, ValueError):
        return None
    if not reg.url.startswith("http://127.0.0.1:") or reg.host != socket.gethostname() or not _alive(reg.pid):
        return None  # a token goes to this machine's loopback only, whatever the file says
    try:
        health = _request(reg, "GET", "/health", timeout=HEALTH_TIMEOUT)
        answer = json.loads(health)
    except (OSError, http.client.HTTPException, ValueError):
        return None
    if not isinstance(answer, dict) or answer.get("id") != reg.id or answer.get("policy") != policy_version:
        return None
    return reg


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: the health check decides
    return True


def _connection(reg: Registration, timeout: float | None) -> http.client.HTTPConnection:
    host, _, port = reg.url.removeprefix("http://").partition(":")
    return http.client.HTTPConnection(host, int(port), timeout=timeout)


def _request(reg: Registration, method: str, path: str, timeout: float) -> bytes:
    conn = _connection(reg, timeout)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        if response.status != 200:
            raise http.client.HTTPException(f"status {response.status}")
        return response.read()
    finally:
        conn.close()


# --- the command's side -------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteReport:
    """What the served run did: every claim counted, the outcomes worth printing (changed or at risk)."""

    assessed: int
    outcomes: list[Outcome]
    batches: int
    policy_version: str
    flow_run_id: str | None


def assess(
    reg: Registration,
    token: str,
    *,
    keys: list[str] | None,
    case: str | None,
    full: bool,
    batch_size: int | None,
    dask: str | None,
    progress: Callable[[int, int], None] | None = None,
) -> RemoteReport:
    """Run the assessment flow in the serve process as the token's user; errors raise what the run raised."""
    body = json.dumps({"keys": keys, "case": case, "full": full, "batch_size": batch_size, "dask": dask}).encode()
    conn = _connection(reg, None)  # a run at 100k claims takes a while; the stream says it is alive
    final: dict[str, Any] | None = None
    try:
        conn.request(
            "POST",
            "/assess",
            body=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        for raw in conn.getresponse():
            line = json.loads(raw)
            if "progress" in line:
                if progress is not None:
                    progress(*line["progress"])
            else:
                final = line
                break
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise GatewayError(f"claims serve (pid {reg.pid}) at {reg.url} stopped answering: {exc}") from exc
    finally:
        conn.close()
    if final is None:
        raise GatewayError(f"claims serve (pid {reg.pid}) at {reg.url} ended the run without a report")
    if "error" in final:
        raise _error(str(final["error"]), str(final.get("kind", "")))
    return _report(final["report"])


def _report(data: dict[str, Any]) -> RemoteReport:
    from claims.domain.stages import Stage
    from claims.services import Outcome

    outcomes = [
        Outcome(
            o["claim"],
            Stage(o["from"]),
            Stage(o["to"]),
            Stage(o["requested"]) if o["requested"] else None,
            bool(o["at_risk"]),
            tuple(o["changes"]),
        )
        for o in data["outcomes"]
    ]
    return RemoteReport(data["assessed"], outcomes, data["batches"], data["policy_version"], data["flow_run_id"])


def _error(message: str, kind: str) -> Exception:
    """The run's error as the class the command maps to an exit code (same message)."""
    from claims.domain.errors import DomainError, RuleViolation
    from claims.services.errors import NotFound, PermissionDenied
    from claims.store.uow import ConcurrencyConflict

    known: dict[str, type[Exception]] = {
        "NotFound": NotFound,
        "PermissionDenied": PermissionDenied,
        "ConcurrencyConflict": ConcurrencyConflict,
        "RuleViolation": RuleViolation,
        "DomainError": DomainError,
    }
    return known.get(kind, GatewayError)(message)


# --- the serve process's side -------------------------------------------------------------------


def _outcome_json(o: Outcome) -> dict[str, Any]:
    return {
        "claim": o.claim,
        "from": o.from_stage.value,
        "to": o.stage.value,
        "requested": o.review_requested.value if o.review_requested else None,
        "at_risk": o.at_risk,
        "changes": list(o.changes),
    }


def _kind(exc: BaseException) -> str:
    """The most specific name in KINDS that `exc` is an instance of ('' for anything else)."""
    for klass in type(exc).__mro__:
        if klass.__name__ in KINDS:
            return klass.__name__
    return ""


class _Handler(BaseHTTPRequestHandler):
    """One request per connection (HTTP/1.0): the streamed answer ends when the connection closes."""

    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return None  # the flow run's own log says what happened

    def do_GET(self) -> None:
        if self.path != "/health":
            self.send_error(404)
            return
        self._answer(200, {"id": self.server.gateway_id, "pid": os.getpid(), "policy": self.server.rt.policy.version})

    def do_POST(self) -> None:
        if self.path != "/assess":
            self.send_error(404)
            return
        token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        try:
            length = int(self.headers.get("Content-Length", "0"))
            if not 0 <= length <= MAX_BODY:
                raise ValueError(f"Content-Length {length}")
            request = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(request, dict):
                raise ValueError("the request is not a JSON object")
        except ValueError as exc:
            self._answer(400, {"error": f"request: {exc}", "kind": "DomainError"})
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.end_headers()
        self._line({"progress": [0, 0]})  # the command knows the run was taken
        try:
            report = self.server.context.copy().run(
                self.server.run, token, request, lambda done, total: self._line({"progress": [done, total]})
            )
        except Exception as exc:
            kind = _kind(exc)
            if not kind and type(exc).__name__ != "BatchesFailed":
                traceback.print_exc(file=sys.stderr)  # a bug: the serve log keeps the traceback, the user gets a line
            self._line({"error": str(exc) if kind else f"assessment: {exc}", "kind": kind})
            return
        self._line({"report": report})

    def _answer(self, status: int, data: dict[str, Any]) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _line(self, data: dict[str, Any]) -> None:
        """Write one line; a command that went away (Ctrl-C) does not stop the run, which is safe to finish."""
        with suppress(OSError):
            self.wfile.write(json.dumps(data).encode() + b"\n")
            self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, rt: Runtime) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.rt = rt
        self.gateway_id = secrets.token_hex(16)
        # Prefect's settings (the API URL) live in context variables, which new threads do not inherit:
        # each run starts from a copy of the context the gateway was opened in.
        self.context = contextvars.copy_context()

    def run(self, token: str, request: dict[str, Any], progress: Callable[[int, int], None]) -> dict[str, Any]:
        """Verify the token, then run the assessment flow as its user, here (see `flows.runner.assess`)."""
        from claims import services
        from flows.assessment import on_progress
        from flows.runner import assess

        who = services.verify_token(self.rt, token)
        keys = request.get("keys") or None
        if keys is not None and not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
            raise services.RuleViolation(f"keys: a list of claim keys, not {keys!r}")
        with on_progress(progress):
            report = assess(
                self.rt,
                who.name,
                keys,
                case=request.get("case") or None,
                dask=request.get("dask") or None,
                batch_size=request.get("batch_size") or None,
                quiet=False,
                full=bool(request.get("full")),
            )
        shown = [o for o in report.outcomes if o.changes or o.at_risk]
        return {
            "assessed": len(report.outcomes),
            "outcomes": [_outcome_json(o) for o in shown],
            "batches": report.batches,
            "policy_version": report.policy_version,
            "flow_run_id": report.flow_run_id,
        }


@contextmanager
def serving(rt: Runtime) -> Iterator[Registration]:
    """Listen for `claims assess` on 127.0.0.1 while the block runs; registered for this database meanwhile."""
    from claims.store.db import database_key

    server = _Server(rt)
    host, port = server.server_address[:2]
    reg = Registration(f"http://{host}:{port}", os.getpid(), socket.gethostname(), server.gateway_id)
    thread = threading.Thread(target=server.serve_forever, name="claims-flow-gateway", daemon=True)
    thread.start()
    path, key = registry_path(), database_key(rt.database_url)
    data = _read_registry(path)
    data[key] = {"url": reg.url, "pid": reg.pid, "host": reg.host, "id": reg.id}
    _write_registry(path, data)
    try:
        yield reg
    finally:
        data = _read_registry(path)
        if isinstance(data.get(key), dict) and data[key].get("id") == reg.id:  # another serve may have taken over
            del data[key]
            _write_registry(path, data)
        server.shutdown()
        server.server_close()
