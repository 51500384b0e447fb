"""`claims user`: users and roles."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from claims import services
from claims.cli.common import AsUser, JsonOut, emit_json, err, out, runtime
from claims.settings import get_settings

user_app = typer.Typer(help="Users and roles (admin).", no_args_is_help=True)


@user_app.command("add")
def user_add(
    name: str, role: Annotated[str, typer.Option(help="analyst, reviewer, manager or admin")], as_user: AsUser = None
) -> None:
    """Add a user (the first admin may be added by anyone)."""
    user = services.add_user(runtime(), as_user or get_settings().user, name, role)
    err.print(f"added {user.name} ({user.role})", markup=False)


@user_app.command("list")
def user_list(as_json: JsonOut = False) -> None:
    """List users and roles."""
    users = services.list_users(runtime())
    if as_json:
        emit_json([{"name": u.name, "role": u.role} for u in users])
        return
    table = Table("name", "role")
    for u in users:
        table.add_row(u.name, u.role)
    out.print(table)
