"""The CLI's side of the claims HTTP API: with CLAIMS_API_URL set, a command's use case runs on that server.

A light client (httpx): the person's own token goes only to a server that proved, in the TLS
handshake, that it holds the key of the pinned certificate (CLAIMS_API_CERT, default the one
`claims serve` made on this machine). Answers are the same JSON the commands print with --json;
problems (RFC 9457) become the error class their `type` names, so exit codes and lines stay the CLI's.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from claims.domain.errors import (
    ApiUnavailable,
    ClaimsError,
    ConcurrencyConflict,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
)

if TYPE_CHECKING:
    import httpx

BY_STATUS: dict[int, type[ClaimsError]] = {
    401: NotAuthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: ConcurrencyConflict,
}


def configured() -> bool:
    """True when the settings name an API: the commands then send their use cases there."""
    from claims.settings import get_settings

    return get_settings().api_url is not None


def pinned_certificate() -> Path:
    from claims.api.tls import CERT
    from claims.settings import get_settings, tls_dir

    return get_settings().api_cert or tls_dir() / CERT


def _context(cert: Path) -> ssl.SSLContext:
    if not cert.is_file():
        raise ApiUnavailable(
            f"api: no certificate to pin at {str(cert)!r}; copy the server's {cert.name} there or set CLAIMS_API_CERT"
        )
    context = ssl.create_default_context(cafile=str(cert))  # only this certificate (or CA) is trusted
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def token(as_user: str | None) -> str:
    """The person's token, chosen as in-process commands choose it (CLAIMS_TOKEN, else their own sign-in);
    verified by the server, not here (this machine may have no database)."""
    from claims.cli.common import fail
    from claims.cli.tokenstore import TokenStore
    from claims.settings import get_settings

    settings = get_settings()
    if settings.token:
        return settings.token
    store = TokenStore()
    name = as_user or store.current(settings.database_url)
    if not name:
        fail("not signed in: run claims login NAME (or set CLAIMS_TOKEN)", 4)
    secret = store.token(settings.database_url, name)
    if not secret:
        fail(f"not signed in as {name}: run claims login {name}", 4)
    return secret


def _error(response: httpx.Response) -> ClaimsError:
    """The error class the problem's `type` names (its detail is the line), else one by status."""
    try:
        data = response.json()
    except ValueError:
        data = {}
    detail = str(data.get("detail") or f"api: HTTP {response.status_code}") if isinstance(data, dict) else ""
    kind = str(data.get("type", "")) if isinstance(data, dict) else ""
    for cls in _classes(ClaimsError):
        if cls.problem_type() == kind:
            return cls(detail)
    return BY_STATUS.get(response.status_code, ClaimsError)(detail)


def _classes(root: type[ClaimsError]) -> list[type[ClaimsError]]:
    """Every class of the hierarchy, once (a class with two parents is reached twice)."""
    found: list[type[ClaimsError]] = []
    todo = [root]
    while todo:
        cls = todo.pop()
        if cls not in found:
            found.append(cls)
            todo.extend(cls.__subclasses__())
    return found


def call(
    method: str,
    path: str,
    *,
    as_user: str | None = None,
    json: Any = None,
    params: dict[str, Any] | None = None,
    content: Any = None,
    headers: dict[str, str] | None = None,
    long: bool = False,
) -> Any:
    """One request as the person; the answer's JSON, or the problem raised as its error class."""
    import httpx

    from claims.settings import get_settings

    base = str(get_settings().api_url).rstrip("/")
    cert = pinned_certificate()
    context = _context(cert)
    secret = token(as_user)
    timeout = httpx.Timeout(10.0, read=None if long else 120.0)  # a run of 100k claims answers when it is done
    try:
        with httpx.Client(base_url=base, verify=context, timeout=timeout, trust_env=False) as client:
            response = client.request(
                method,
                path,
                json=json,
                params={k: v for k, v in (params or {}).items() if v is not None},
                content=content,
                headers={"Authorization": f"Bearer {secret}", **(headers or {})},
            )
    except httpx.ConnectError as exc:
        if _caused_by(exc, ssl.SSLError):
            raise ApiUnavailable(
                f"api: {base} did not prove it holds the key of {str(cert)!r} ({_first(exc)}); no token was sent"
            ) from None
        raise ApiUnavailable(f"api: cannot reach {base} ({_first(exc)}); is `claims serve` running?") from None
    except httpx.HTTPError as exc:
        raise ApiUnavailable(f"api: {base} stopped answering ({_first(exc)})") from None
    if response.status_code >= 400:
        raise _error(response)
    return response.json()


def part(value: str) -> str:
    """A key as one path segment (a key with a slash stays one segment)."""
    return quote(value, safe="")


def _caused_by(exc: BaseException | None, kind: type[BaseException]) -> bool:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, kind):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _first(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
