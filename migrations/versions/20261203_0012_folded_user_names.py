"""one person, one name: a unique index on the folded user name (issue 21, point 5)

`Bob` and `bob` were two accounts, so Bob could request a confirmation and bob approve it. New
names are stored folded (NFKC, case-folded; `claims.domain.names.fold_name`) and looked up by
lower(name); this index makes the database refuse a second spelling too. Names are ASCII
(`claims.services.identity.NAME_RE`), where lower() and casefold() agree on both backends.

A database that already holds two names folding to one is refused, naming them: which of the two
is the real person is for an admin to decide (`claims user disable`), not for a migration.

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations import MigrationRefused

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_users_folded_name"


def upgrade() -> None:
    rows = op.get_bind().execute(sa.text("SELECT name FROM users ORDER BY name")).scalars().all()
    seen: dict[str, list[str]] = {}
    for name in rows:
        seen.setdefault(name.lower(), []).append(name)
    clashes = [" = ".join(names) for names in seen.values() if len(names) > 1]
    if clashes:
        raise MigrationRefused(
            "migration 0012: user names that differ only in case are one person; rename or disable one first: "
            + "; ".join(clashes)
        )
    op.create_index(INDEX, "users", [sa.text("lower(name)")], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="users")
