"""notes and notifications (issue 18)

- notes: a note on a target (kind, ref): a claim (its key), an evidence item, a review request
  (their ids), later a task; replies name their parent; never deleted, withdrawn with a reason.
- subscriptions: what a person wants to be told (kind, scope: an action, a case, or everything).
- channels: where a person is told besides the inbox: the NAME of an Apprise URL kept in settings
  (CLAIMS_NOTIFY_SECRETS), never the URL itself; `digest` channels get the daily digest only.
- notifications: the inbox and outbox, one row per (person, kind, change): UNIQUE, so a change
  is never notified twice, however many notifiers run.
- deliveries: one row per (notification, channel), with its attempts, back-off and last error.
- notify_cursor, readiness_state: how far the notifier has read the event log, and the last
  readiness it saw per policy action (a change is a flip of that).

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-03 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("target_kind", sa.String(20), nullable=False),
        sa.Column("target_ref", sa.String(120), nullable=False),
        sa.Column("claim_key", sa.String(120), nullable=True),
        sa.Column("case_key", sa.String(120), nullable=True),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("notes.id", name="fk_notes_parent_id_notes"), nullable=True),
        sa.Column("author", sa.String(80), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("withdrawn_at", TZ, nullable=True),
        sa.Column("withdrawn_by", sa.String(80), nullable=True),
        sa.Column("withdrawal_reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_notes_target", "notes", ["target_kind", "target_ref"])
    op.create_index("ix_notes_claim_key", "notes", ["claim_key"])
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("person", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("scope", sa.String(130), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("person", "kind", "scope", name="uq_subscriptions_person_kind_scope"),
    )
    op.create_table(
        "channels",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("person", sa.String(80), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("secret", sa.String(80), nullable=False),
        sa.Column("digest", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("removed_at", TZ, nullable=True),
        sa.UniqueConstraint("person", "name", name="uq_channels_person_name"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("person", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("change_key", sa.String(200), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("case_key", sa.String(120), nullable=True),
        sa.Column("claim_key", sa.String(120), nullable=True),
        sa.Column("action_key", sa.String(120), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("read_at", TZ, nullable=True),
        sa.UniqueConstraint("person", "kind", "change_key", name="uq_notifications_person_kind_change"),
    )
    op.create_index("ix_notifications_person_read", "notifications", ["person", "read_at"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "notification_id",
            sa.Integer(),
            sa.ForeignKey("notifications.id", name="fk_deliveries_notification_id_notifications"),
            nullable=False,
        ),
        sa.Column(
            "channel_id",
            sa.Integer(),
            sa.ForeignKey("channels.id", name="fk_deliveries_channel_id_channels"),
            nullable=False,
        ),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TZ, nullable=False),
        sa.Column("lease_until", TZ, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", TZ, nullable=True),
        sa.UniqueConstraint("notification_id", "channel_id", name="uq_deliveries_notification_channel"),
    )
    op.create_index("ix_deliveries_status_next", "deliveries", ["status", "next_attempt_at"])
    op.create_table(
        "notify_cursor",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
    )
    op.create_table(
        "readiness_state",
        sa.Column("action_key", sa.String(120), primary_key=True),
        sa.Column("ready", sa.Boolean(), nullable=False),
        sa.Column("gaps", sa.JSON(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    for table in ("readiness_state", "notify_cursor", "deliveries", "notifications", "channels", "subscriptions"):
        op.drop_table(table)
    op.drop_index("ix_notes_claim_key", table_name="notes")
    op.drop_index("ix_notes_target", table_name="notes")
    op.drop_table("notes")
