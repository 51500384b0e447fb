"""similar claims: an embedding per claim statement, and links between claims

- claim_embeddings: one row per claim and model, the sha256 of the statement it was computed
  from (a changed statement no longer matches, so it is embedded again) and the vector as
  float32 bytes. The lookup keeps the vectors in memory; this table is what makes a new process
  start without re-embedding every claim.
- claim_links: a claim marked `duplicate` of, or `related` to, another; who and why. One link per
  ordered pair; a claim has at most one live duplicate-of target (the survivor), which readiness
  follows.

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "claim_embeddings",
        sa.Column(
            "claim_id",
            sa.Integer(),
            sa.ForeignKey("claims.id", name="fk_claim_embeddings_claim_id_claims"),
            nullable=False,
        ),
        sa.Column("model", sa.String(80), nullable=False),
        sa.Column("statement_hash", sa.String(64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("claim_id", "model", name="pk_claim_embeddings"),
    )
    op.create_table(
        "claim_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "claim_id", sa.Integer(), sa.ForeignKey("claims.id", name="fk_claim_links_claim_id_claims"), nullable=False
        ),
        sa.Column(
            "other_id", sa.Integer(), sa.ForeignKey("claims.id", name="fk_claim_links_other_id_claims"), nullable=False
        ),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("claim_id", "other_id", name="uq_claim_links_claim_other"),
    )
    op.create_index("ix_claim_links_other_id", "claim_links", ["other_id"])
    # At most one survivor per claim: a second duplicate-of for the same claim is refused by the database too.
    op.create_index(
        "ix_claim_links_one_survivor",
        "claim_links",
        ["claim_id"],
        unique=True,
        sqlite_where=sa.text("kind = 'duplicate'"),
        postgresql_where=sa.text("kind = 'duplicate'"),
    )


def downgrade() -> None:
    op.drop_index("ix_claim_links_one_survivor", table_name="claim_links")
    op.drop_index("ix_claim_links_other_id", table_name="claim_links")
    op.drop_table("claim_links")
    op.drop_table("claim_embeddings")
