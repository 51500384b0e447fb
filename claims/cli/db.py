"""`claims db`: the schema, only through Alembic migrations."""

from __future__ import annotations

import typer

from claims.cli.common import err
from claims.settings import get_settings

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


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


def safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
