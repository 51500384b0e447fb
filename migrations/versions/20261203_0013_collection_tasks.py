"""collection tasks: the work that would close each gap between a claim and the actions it gates

- policy_actions.due_on: when the action is due (nullable); a task's due date is the earliest of
  the actions it unblocks.
- collection_tasks: one row per need (claim, stage, criterion) while it is open, kept after it is
  closed (met) or withdrawn (no longer needed). At most one open task per need, enforced by a
  partial unique index; `version` gives optimistic concurrency to assign/take.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("policy_actions") as batch:
        batch.add_column(sa.Column("due_on", sa.Date(), nullable=True))
    op.create_table(
        "collection_tasks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column(
            "claim_id",
            sa.Integer(),
            sa.ForeignKey("claims.id", name="fk_collection_tasks_claim_id_claims"),
            nullable=False,
        ),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("criterion", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("need", sa.Text(), nullable=False),
        sa.Column("stance", sa.String(12), nullable=True),
        sa.Column("grade", sa.String(2), nullable=True),
        sa.Column("independent_of", sa.JSON(), nullable=False),
        sa.Column("not_by", sa.String(80), nullable=True),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("claim_stage", sa.String(20), nullable=False),
        sa.Column("policy_version", sa.String(40), nullable=False),
        sa.Column("assignee", sa.String(80), nullable=True),
        sa.Column("assigned_by", sa.String(80), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
    )
    op.create_index("ix_collection_tasks_claim_id", "collection_tasks", ["claim_id"])
    op.create_index("ix_collection_tasks_status", "collection_tasks", ["status"])
    op.create_index("ix_collection_tasks_assignee", "collection_tasks", ["assignee"])
    op.create_index(
        "uq_collection_tasks_one_open",
        "collection_tasks",
        ["key"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )


def downgrade() -> None:
    op.drop_index("uq_collection_tasks_one_open", table_name="collection_tasks")
    op.drop_index("ix_collection_tasks_assignee", table_name="collection_tasks")
    op.drop_index("ix_collection_tasks_status", table_name="collection_tasks")
    op.drop_index("ix_collection_tasks_claim_id", table_name="collection_tasks")
    op.drop_table("collection_tasks")
    with op.batch_alter_table("policy_actions") as batch:
        batch.drop_column("due_on")
