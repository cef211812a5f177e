"""PAY-001: Stripe webhook events, quote usage counters, subscription ordering.

``stripe_events`` records every webhook delivery by event id (primary key:
``INSERT … ON CONFLICT DO NOTHING`` makes redeliveries no-ops), with a partial
index on the unprocessed ones. ``quote_usage`` is the per-contractor,
per-period quote counter the plan quota is enforced with. ``contractors``
gains ``subscription_event_at`` (the Stripe time of the last applied
subscription change, so an older event cannot roll it back),
``past_due_since`` (start of the past-due grace period) and an index on
``stripe_customer_id`` (webhooks find the contractor by it). The batch
operations use ``recreate="never"``: SQLite (≥ 3.35) adds and drops these
columns in place.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNPROCESSED = sa.text("status = 'processing'")


def upgrade() -> None:
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
    )
    op.create_index("ix_stripe_events_unprocessed", "stripe_events", ["received_at"],
                    postgresql_where=_UNPROCESSED, sqlite_where=_UNPROCESSED)
    op.create_index("ix_stripe_events_type_created", "stripe_events", ["type", "created"])

    op.create_table(
        "quote_usage",
        sa.Column("contractor_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contractor_id"], ["contractors.id"],
                                name=op.f("fk_quote_usage_contractor_id_contractors"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("contractor_id", "period", name=op.f("pk_quote_usage")),
    )

    with op.batch_alter_table("contractors", recreate="never") as batch:
        batch.add_column(sa.Column("subscription_event_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("past_due_since", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_contractors_stripe_customer_id", "contractors", ["stripe_customer_id"])


def downgrade() -> None:
    op.drop_index("ix_contractors_stripe_customer_id", table_name="contractors")
    with op.batch_alter_table("contractors", recreate="never") as batch:
        batch.drop_column("past_due_since")
        batch.drop_column("subscription_event_at")
    op.drop_table("quote_usage")
    op.drop_index("ix_stripe_events_type_created", table_name="stripe_events")
    op.drop_index("ix_stripe_events_unprocessed", table_name="stripe_events")
    op.drop_table("stripe_events")
