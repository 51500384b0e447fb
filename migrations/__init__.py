"""Alembic migrations: the only path by which the schema is made or changed."""

from pathlib import Path

from alembic.config import Config

HERE = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    """An Alembic config that works from a checkout and from an installed package alike."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    return config


class MigrationRefused(Exception):
    """A migration that will not run on this data says why in one line (`claims db upgrade` prints it)."""
