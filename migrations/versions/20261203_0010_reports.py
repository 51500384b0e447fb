"""reports stored whole (bytes, extracted text, SHA-256) and the sentences accepted from them (issue 17)

Revision ID: 0010
Revises: 0008 (the lead re-chains it after authoring's 0009 at merge)
Create Date: 2026-12-03 09:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", name="fk_reports_case_id_cases"), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("published", sa.Date(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("media_type", sa.String(80), nullable=False),
        sa.Column("filename", sa.Text(), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("added_by", sa.String(80), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reports"),
        sa.UniqueConstraint("case_id", "sha256", name="uq_reports_case_sha256"),
    )
    op.create_index("ix_reports_case_id", "reports", ["case_id"])
    op.create_table(
        "report_sentences",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "report_id",
            sa.Integer(),
            sa.ForeignKey("reports.id", name="fk_report_sentences_report_id_reports"),
            nullable=False,
        ),
        sa.Column("char_start", sa.Integer(), nullable=False),
        sa.Column("char_end", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.Integer(), sa.ForeignKey("claims.id", name="fk_report_sentences_claim_id_claims")),
        sa.Column(
            "evidence_id", sa.Integer(), sa.ForeignKey("evidence.id", name="fk_report_sentences_evidence_id_evidence")
        ),
        sa.Column("accepted_by", sa.String(80), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_report_sentences"),
    )
    op.create_index("ix_report_sentences_report_id", "report_sentences", ["report_id"])


def downgrade() -> None:
    op.drop_index("ix_report_sentences_report_id", table_name="report_sentences")
    op.drop_table("report_sentences")
    op.drop_index("ix_reports_case_id", table_name="reports")
    op.drop_table("reports")
