"""What every command shares: consoles, option types, the one-line failure, the acting user.

Errors (claims.domain.errors, each with its exit code) are mapped once, by `ReportedErrors` around
the whole app; a command only raises. Exit codes: 0 success; 1 a rule or input problem; 2 usage;
3 not found; 4 permission denied; 5 a concurrent change won. Every failure is one line on stderr naming the problem.
"""

from __future__ import annotations

import gc
import json
import re
import sys
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from claims import services
from claims.domain.errors import ClaimsError
from claims.domain.stages import Stage

if TYPE_CHECKING:
    import click
    from rich.console import Console

    from claims.services import Runtime
    from claims.services.identity import Identity

# Startup cost (issue 11): `claims --help` and the reading commands answer within half a second,
# so nothing here imports SQLAlchemy, pydantic, rich or a use case at module level; each command
# loads what it calls, when it calls it.


class LazyConsole:
    """A rich Console made on first use: `--help` and `--json` print without importing rich (70 ms)."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


out: Console = LazyConsole(soft_wrap=True)  # type: ignore[assignment]  (a Console once used)
err: Console = LazyConsole(stderr=True, soft_wrap=True)  # type: ignore[assignment]

AsUser = Annotated[
    str | None,
    typer.Option("--as", help="Act as one of your own sign-ins (`claims login NAME`); default: the last one."),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
DaskOpt = Annotated[
    str | None,
    typer.Option(help="Fan batches out on Dask: a scheduler address (tcp://host:8786), or 'local' for a LocalCluster."),
]
BatchOpt = Annotated[int | None, typer.Option(min=1, help="Claims per task (default $CLAIMS_BATCH_SIZE, 5000).")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's run log on stderr.")]
MarkingOpt = Annotated[
    str | None,
    typer.Option("--marking", help="Sensitivity marking (TLP:CLEAR ... TLP:RED, or the deployment's scale)."),
]
MaxMarking = Annotated[
    str | None,
    typer.Option("--max-marking", help="Leave out everything marked above this (default: your clearance)."),
]
CaveatOpt = Annotated[str | None, typer.Option("--caveat", help="Handling caveat, e.g. 'NO FOREIGN NATIONALS'.")]


def marking_option(rt: Runtime, value: str | None, flag: str = "--marking") -> str | None:
    """A marking flag checked against the deployment's scale: an unknown one is a usage error (exit 2)."""
    if value is None:
        return None
    from claims.services.markings import parse_marking

    try:
        return parse_marking(rt.markings, value, field=flag.lstrip("-").replace("-", "_"))
    except ClaimsError as exc:
        fail(str(exc), 2)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(code)


# Commands whose work is bounded (a page, one claim, the claims the policy actions gate, one review;
# `list --all` streams its rows): they run with the garbage collector off, as `main` starts the
# process. Importing typer, SQLAlchemy and pydantic makes some 100k objects that the collector
# would otherwise walk again and again: 0.07-0.1 s of a 1 s command here. Memory stays flat
# (`claims list --all --json` at 100k claims: 68 MB, against 65 MB with it on). Every other
# command gets the collector back before it runs.
BOUNDED = frozenset({"show", "list", "readiness", "review"})


class ReportedErrors(TyperGroup):
    """The app's root group: every expected failure becomes one line and its exit code, here and only here."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        if name not in BOUNDED:
            gc.enable()
        return name, command, rest

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ClaimsError as exc:  # every expected failure carries its own exit code (claims.domain.errors)
            fail(str(exc), exc.exit_code)
        except Exception as exc:
            message = last_resort_message(exc)  # the safety net: a cause not yet turned into a message stays one line
            if message is None:
                raise
            fail(message)
        finally:
            db = sys.modules.get("claims.store.db")  # not imported: no engine was made, nothing to dispose
            if db is not None:
                db.dispose_engines()  # checkpoints the SQLite WAL this command wrote: the .db file alone holds the data


def last_resort_message(exc: BaseException) -> str | None:
    """One line for settings, database and file errors that reach the top; None for a real bug.

    Specific causes get specific messages where they happen; this keeps a traceback from ever
    reaching a user for the ones still missed (a typo'd environment value, a server that is down).
    """
    from pydantic import ValidationError
    from pydantic_settings import SettingsError
    from sqlalchemy import exc as sa

    from claims.settings import get_settings
    from claims.store.db import safe_url

    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        return f"settings: CLAIMS_{field.upper()}={first.get('input')!r}: {first['msg']}"
    if isinstance(exc, SettingsError):  # a value that is not the JSON its setting needs; never echoed (secrets)
        found = re.search(r'field "(\w+)"', str(exc))
        name = f"CLAIMS_{found.group(1).upper()}" if found else "a setting"
        cause = exc.__cause__
        return f"settings: {name} is not valid JSON ({_first(cause) if cause else _first(exc)})"
    if isinstance(exc, sa.ArgumentError | sa.NoSuchModuleError):
        url = get_settings().database_url
        return f"database: CLAIMS_DATABASE_URL {url!r} is not a database URL this tool can use ({_first(exc)})"
    if isinstance(exc, sa.OperationalError | sa.InterfaceError):
        return f"database: cannot use {safe_url(get_settings().database_url)} ({_first(exc)})"
    if isinstance(exc, sa.DataError):
        return f"value: the database refused a value ({_first(exc)})"
    if isinstance(exc, OSError):
        where = f"{exc.filename!r}: " if exc.filename else ""
        return f"file: {where}{exc.strerror or exc}"
    return None


def _first(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0]


def runtime() -> Runtime:
    from claims.services.runtime import Runtime

    return Runtime.from_settings()


def identity(name: str | None = None) -> Identity:
    """Who acts, proven: $CLAIMS_TOKEN (automation), or one of the person's own stored sign-ins.

    The one place a command learns its acting user. A name alone is never believed: `--as NAME`
    only picks among the tokens `claims login` stored, and the token is verified by the service.
    """
    return credentials(name)[0]


def credentials(name: str | None = None) -> tuple[Identity, str]:
    """The verified identity and the token that proved it (which `claims assess` passes on to `claims serve`)."""
    from claims.cli.tokenstore import TokenStore
    from claims.domain.names import same_person
    from claims.services import PermissionDenied
    from claims.settings import get_settings

    rt = runtime()
    services.list_users(rt)  # a missing or unmigrated database says so first, before any sign-in question
    env_token = get_settings().token
    if env_token:
        try:
            who = services.verify_token(rt, env_token)
        except PermissionDenied as exc:
            fail(f"CLAIMS_TOKEN: {exc}", 4)
        if name and not same_person(name, who.name):
            fail(f"not signed in as {name}: CLAIMS_TOKEN belongs to {who.name}", 4)
        return who, env_token
    store = TokenStore()
    name = name or store.current(rt.database_url)
    if not name:
        fail("not signed in: run claims login NAME", 4)
    token = store.token(rt.database_url, name)
    if not token:
        fail(f"not signed in as {name}: run claims login {name}", 4)
    try:
        who = services.verify_token(rt, token)
    except PermissionDenied as exc:
        fail(f"not signed in as {name} ({exc}): run claims login {name}", 4)
    if who.name != name:
        fail(f"not signed in as {name}: the stored sign-in belongs to {who.name}; run claims login {name}", 4)
    return who, token


def emit_json(data: Any) -> None:
    text = json.dumps(data, indent=2, default=str, ensure_ascii=False)
    # json escapes C0 controls itself; C1 (0x9b is a CSI on some terminals) and DEL it leaves raw
    sys.stdout.write(re.sub(r"[\x7f-\x9f]", lambda m: f"\\u{ord(m[0]):04x}", text) + "\n")


def stage_arg(value: str) -> Stage:
    return Stage.parse(value)
