"""sign-in failures per (name, source) and the policies judged under, by content (issue 21, points 7 and 3)

`policies` maps each policy version that has judged here to the sha256 of its file: a file
changed in place under the old version is refused (claims.store.uow), and every judgement's
version names one content.

Five failed sign-ins locked an account for everyone, so anyone could lock out anyone. Failures
are now counted per (folded user name, source) in a 15-minute window; see
claims/services/identity.py and README "Security model" for the rules.

Revision ID: 0015
Revises: 0012
Create Date: 2026-12-03 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_failures",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("source", sa.String(120), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_sign_in_failures_source", "sign_in_failures", ["source"])
    op.create_table(
        "policies",
        sa.Column("version", sa.String(40), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("origin", sa.String(500), nullable=False),
        sa.Column("first_used_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("policies")
    op.drop_index("ix_sign_in_failures_source", table_name="sign_in_failures")
    op.drop_table("sign_in_failures")
