"""sensitivity markings and case membership (issue 20)

Cases, sources, evidence, notes and reports carry a marking (a level of the deployment's scale,
TLP 2.0 by default; claims.domain.markings) and an optional handling caveat. A person reads a
case as a member (`case_members`, a role per case) or with deployment-wide access
(`users.all_cases`), and reads an item only if `users.clearance` is at or above its effective
marking.

Existing data keeps what it had: every existing row is marked TLP:AMBER (not for public release,
the default for new cases), and every existing user keeps reading everything (all_cases, cleared
to TLP:RED) until an admin narrows it. A user created after this migration starts with no case and
the lowest clearance (claims.services.users).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MARKED = ("cases", "sources", "evidence", "notes", "reports")


def upgrade() -> None:
    for table in MARKED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("marking", sa.String(40), nullable=False, server_default="TLP:AMBER"))
            batch.add_column(sa.Column("caveat", sa.String(200), nullable=True))
    # users: plain ALTER TABLE, never a batch copy, which would lose migration 0012's expression index
    # (lower(name)) on SQLite, which cannot reflect it.
    op.add_column("users", sa.Column("clearance", sa.String(40), nullable=False, server_default="TLP:CLEAR"))
    op.add_column("users", sa.Column("all_cases", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE users SET clearance = 'TLP:RED', all_cases = " + ("1" if _sqlite() else "true"))
    op.create_table(
        "case_members",
        sa.Column(
            "case_id", sa.Integer(), sa.ForeignKey("cases.id", name="fk_case_members_case_id_cases"), primary_key=True
        ),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", name="fk_case_members_user_id_users"), primary_key=True
        ),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("added_by", sa.String(80), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_case_members_user_id", "case_members", ["user_id", "case_id"])


def downgrade() -> None:
    op.drop_index("ix_case_members_user_id", table_name="case_members")
    op.drop_table("case_members")
    for column in ("all_cases", "clearance"):  # DROP COLUMN (SQLite 3.35+): no batch copy, as in upgrade()
        op.execute(f"ALTER TABLE users DROP COLUMN {column}")
    for table in reversed(MARKED):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("caveat")
            batch.drop_column("marking")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"
