"""authoring (issue 17): versions on every editable item, withdrawal of claims and sources, evidence quotes

- cases, sources, policy_actions: `version` (optimistic concurrency, as claims have had from 0001);
- claims, sources: `withdrawn_at`, `withdrawn_by`, `withdrawal_reason`: nothing is deleted, a
  withdrawn item stays readable;
- evidence: `quote`, the words the source used.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERSIONED = ("cases", "sources", "policy_actions")
WITHDRAWABLE = ("claims", "sources")


def upgrade() -> None:
    for name in VERSIONED:
        with op.batch_alter_table(name) as batch:
            batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    for name in WITHDRAWABLE:
        with op.batch_alter_table(name) as batch:
            batch.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
            batch.add_column(sa.Column("withdrawn_by", sa.String(80), nullable=True))
            batch.add_column(sa.Column("withdrawal_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("evidence") as batch:
        batch.add_column(sa.Column("quote", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evidence") as batch:
        batch.drop_column("quote")
    for name in reversed(WITHDRAWABLE):
        with op.batch_alter_table(name) as batch:
            batch.drop_column("withdrawal_reason")
            batch.drop_column("withdrawn_by")
            batch.drop_column("withdrawn_at")
    for name in reversed(VERSIONED):
        with op.batch_alter_table(name) as batch:
            batch.drop_column("version")
