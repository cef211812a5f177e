"""INFRA-006/009: the durable outbox and email deliveries.

``outbox`` holds deferred work (finishing a quote's generation, sending an
email), written in the same transaction as the request's own rows and claimed
by dispatchers with ``FOR UPDATE SKIP LOCKED``. ``ix_outbox_due`` is partial
(only pending/processing rows), so the claim query stays an index range scan
however many done rows accumulate. ``email_deliveries`` records each email
sent for a quote or an invoice (their ``last_delivery``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIVE = sa.text("status IN ('pending', 'processing')")
_DONE = sa.text("status = 'done'")


def _timestamps() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_by", sa.String(length=128), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("contractor_id", sa.Uuid(), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(["contractor_id"], ["contractors.id"],
                                name=op.f("fk_outbox_contractor_id_contractors"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index("ix_outbox_due", "outbox", ["next_attempt_at"],
                    postgresql_where=_ACTIVE, sqlite_where=_ACTIVE)
    op.create_index("ix_outbox_subject_id", "outbox", ["subject_id"])
    op.create_index("ix_outbox_contractor_id", "outbox", ["contractor_id"])
    op.create_index("ix_outbox_done_at", "outbox", ["done_at"], postgresql_where=_DONE, sqlite_where=_DONE)

    op.create_table(
        "email_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contractor_id", sa.Uuid(), nullable=False),
        sa.Column("quote_id", sa.Uuid(), nullable=True),
        sa.Column("invoice_id", sa.Uuid(), nullable=True),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("provider_id", sa.String(length=128), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("(quote_id IS NULL) <> (invoice_id IS NULL)",
                           name=op.f("ck_email_deliveries_one_document")),
        sa.ForeignKeyConstraint(["contractor_id"], ["contractors.id"],
                                name=op.f("fk_email_deliveries_contractor_id_contractors"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["quote_id"], ["quotes.id"],
                                name=op.f("fk_email_deliveries_quote_id_quotes"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"],
                                name=op.f("fk_email_deliveries_invoice_id_invoices"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_deliveries")),
    )
    op.create_index("ix_email_deliveries_quote_id", "email_deliveries", ["quote_id", "created_at"])
    op.create_index("ix_email_deliveries_invoice_id", "email_deliveries", ["invoice_id", "created_at"])
    op.create_index("ix_email_deliveries_contractor_id", "email_deliveries", ["contractor_id"])


def downgrade() -> None:
    op.drop_index("ix_email_deliveries_contractor_id", table_name="email_deliveries")
    op.drop_index("ix_email_deliveries_invoice_id", table_name="email_deliveries")
    op.drop_index("ix_email_deliveries_quote_id", table_name="email_deliveries")
    op.drop_table("email_deliveries")
    op.drop_index("ix_outbox_done_at", table_name="outbox")
    op.drop_index("ix_outbox_contractor_id", table_name="outbox")
    op.drop_index("ix_outbox_subject_id", table_name="outbox")
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.drop_table("outbox")
