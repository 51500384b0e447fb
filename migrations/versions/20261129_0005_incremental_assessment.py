"""incremental assessment and set-based reads: claims remember what they were last judged at

`assessed_version`/`assessed_policy` record the claim version and policy version of the last
assessment, so a re-assessment picks only claims changed since (new or retracted evidence, a
decision, a move) or judged under another policy. Indexes back the set-based reads of the
review queue (pending requests in id order).

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-29 04:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("claims") as batch:
        batch.add_column(sa.Column("assessed_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("assessed_policy", sa.String(length=40), nullable=True))
    # The review queue: pending requests in id order without a scan of every decided one.
    op.create_index("ix_review_requests_status_id", "review_requests", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_review_requests_status_id", table_name="review_requests")
    with op.batch_alter_table("claims") as batch:
        batch.drop_column("assessed_policy")
        batch.drop_column("assessed_version")
