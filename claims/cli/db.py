"""`claims db`: the schema, only through Alembic migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from claims.cli.common import err
from claims.settings import get_settings
from claims.store.db import backup, safe_url

db_app = typer.Typer(help="The database: schema (Alembic migrations only) and backup.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Create or migrate the schema to the latest revision."""
    from alembic import command

    from migrations import alembic_config

    url = get_settings().database_url
    command.upgrade(alembic_config(url), revision)
    err.print(f"database at {revision}: {safe_url(url)}", markup=False)


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. base.")) -> None:
    """Step the schema back (drops data in removed tables)."""
    from alembic import command

    from migrations import alembic_config

    command.downgrade(alembic_config(get_settings().database_url), revision)


@db_app.command("backup")
def db_backup(path: Annotated[Path, typer.Argument(help="New file to write the copy to.")]) -> None:
    """Copy the SQLite database to PATH while it is in use (SQLite's online backup); PostgreSQL: use pg_dump."""
    url = get_settings().database_url
    written = backup(url, path)
    err.print(f"backed up {safe_url(url)} to {written}", markup=False)
