"""`claims login`, `claims logout`, `claims whoami`: the person behind every command, proven by a token."""

import contextlib
import sys
from typing import Annotated

import typer

from claims.cli.common import JsonOut, emit_json, err, fail, identity, out, runtime

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin (scripts).")
]


def read_password(from_stdin: bool, *, confirm: bool = False, prompt: str = "Password") -> str:
    """A password from stdin's first line or a hidden prompt; never from an argument (it would show in `ps`)."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            fail("password: nothing on stdin", 1)
        return line.rstrip("\r\n")
    return typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)


def cli_source() -> str:
    """Where a CLI sign-in comes from, for the per-source limits: the OS account and the machine."""
    import getpass
    import socket

    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "?"
    return f"cli:{who}@{socket.gethostname()}"


def login(
    name: str,
    password_stdin: PasswordStdin = False,
    hours: Annotated[float | None, typer.Option(help="Token lifetime (default $CLAIMS_TOKEN_HOURS, 12).")] = None,
) -> None:
    """Sign in: check the password and store a personal token (only its hash is kept in the database)."""
    from claims.cli.tokenstore import TokenStore
    from claims.services import identity as ident
    from claims.settings import get_settings

    rt = runtime()
    password = read_password(password_stdin)
    issued = ident.login(rt, name, password, hours=hours or get_settings().token_hours, source=cli_source())
    store = TokenStore()
    store.put(rt.database_url, issued.identity.name, issued.token)
    store.save()
    err.print(
        f"signed in as {issued.identity.name} ({issued.identity.role}) until {issued.expires_at:%Y-%m-%d %H:%M} UTC",
        markup=False,
    )


def logout(
    name: Annotated[str | None, typer.Argument(help="Which of your sign-ins (default: the current one).")] = None,
) -> None:
    """Sign out: revoke the stored token and forget it."""
    from claims.cli.tokenstore import TokenStore
    from claims.services import identity as ident

    rt = runtime()
    store = TokenStore()
    name = name or store.current(rt.database_url)
    token = store.token(rt.database_url, name) if name else None
    if not name or not token:
        fail(f"not signed in{' as ' + name if name else ''}", 4)
    with contextlib.suppress(ident.NotFound):  # revoked or gone already: forgetting it is all that is left
        ident.revoke_token(rt, token)
    store.drop(rt.database_url, name)
    store.save()
    err.print(f"signed out {name}", markup=False)


def whoami(
    as_user: Annotated[str | None, typer.Option("--as", help="Check this one of your sign-ins.")] = None,
    as_json: JsonOut = False,
) -> None:
    """Who commands act as here (verified against the database)."""
    who = identity(as_user)
    if as_json:
        emit_json({"name": who.name, "role": who.role})
    else:
        out.print(f"{who.name} ({who.role})", markup=False)


def register(app: typer.Typer) -> None:
    app.command("login")(login)
    app.command("logout")(logout)
    app.command("whoami")(whoami)
