"""`claims db`: the schema, only through Alembic migrations."""

from pathlib import Path
from typing import Annotated

import typer

from claims.cli.common import err, fail

db_app = typer.Typer(help="The database: schema (Alembic migrations only) and backup.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Create or migrate the schema to the latest revision."""
    from alembic import command

    from claims.settings import get_settings
    from claims.store.db import safe_url
    from migrations import MigrationRefused, alembic_config

    url = get_settings().database_url
    try:
        command.upgrade(alembic_config(url), revision)
    except MigrationRefused as exc:
        fail(str(exc), 1)
    err.print(f"database at {revision}: {safe_url(url)}", markup=False)


@db_app.command("downgrade")
def db_downgrade(
    revision: str = typer.Argument(..., help="Target revision, e.g. base."),
    destroy_data: Annotated[
        bool, typer.Option("--destroy-data", help="Go ahead although the downgrade drops tables that hold data.")
    ] = False,
) -> None:
    """Step the schema back. Refused if it would drop tables holding data, unless --destroy-data."""
    from alembic import command

    from claims.settings import get_settings
    from claims.store.db import safe_url
    from claims.store.schema import downgrade_losses
    from migrations import alembic_config

    url = get_settings().database_url
    losses = downgrade_losses(url, revision)
    if losses and not destroy_data:
        lost = ", ".join(f"{t} {n}" for t, n in sorted(losses.items()))
        fail(
            f"downgrade: to {revision!r} would destroy {sum(losses.values())} rows or values ({lost});"
            " back up first (claims db backup) and pass --destroy-data to go ahead"
        )
    command.downgrade(alembic_config(url), revision)
    err.print(f"database at {revision}: {safe_url(url)}", markup=False)


@db_app.command("backup")
def db_backup(path: Annotated[Path, typer.Argument(help="New file to write the copy to.")]) -> None:
    """Copy the SQLite database to PATH while it is in use (SQLite's online backup); PostgreSQL: use pg_dump."""
    from claims.settings import get_settings
    from claims.store.db import backup, safe_url

    url = get_settings().database_url
    written = backup(url, path)
    err.print(f"backed up {safe_url(url)} to {written}", markup=False)
