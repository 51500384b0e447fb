"""indexes for the dashboard's aggregates at 100k claims

- claims (stage, case_id, at_risk, stage timestamps, created_at): claims per stage and time in
  stage read this index alone (an index-only scan, not a scan of every claim row with its text);
- claims WHERE at_risk (partial): the few at-risk claims without a scan of every claim;
- claims (assignee): the assignees in use, for the claims table's filter;
- events (kind, at): the stage moves of the last 30 days, without reading every other event of
  those days (evidence added, sign-ins);
- evidence (source_id, credibility): the grades in use, one probe per source and credibility.

Revision ID: 0007
Revises: 0002
Create Date: 2026-11-29 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_claims_stage_ageing": (
        "claims",
        [
            "stage",
            "case_id",
            "at_risk",
            "reported_at",
            "corroborated_at",
            "confirmed_at",
            "refuted_at",
            "created_at",
        ],
    ),
    "ix_claims_assignee": ("claims", ["assignee"]),
    "ix_events_kind_at": ("events", ["kind", "at"]),
    "ix_evidence_source_credibility": ("evidence", ["source_id", "credibility"]),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)
    op.create_index(
        "ix_claims_at_risk",
        "claims",
        ["id"],
        sqlite_where=sa.text("at_risk = 1"),
        postgresql_where=sa.text("at_risk"),
    )


def downgrade() -> None:
    op.drop_index("ix_claims_at_risk", table_name="claims")
    for name, (table, _) in reversed(INDEXES.items()):
        op.drop_index(name, table_name=table)
