"""INFRA-001: stored PDFs, share links and the customer's answer on quotes and invoices.

Share tokens are stored only as SHA-256 hashes (unique: the public lookup is
by hash). ``pdf_key``/``pdf_hash`` remember the stored PDF and what it was
rendered from. The batch operations use ``recreate="never"``: SQLite (≥ 3.35)
adds and drops plain columns in place, whereas recreating the table would
reflect the INFRA-005 indexes back without their DESC.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _document_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("share_token_hash", sa.String(length=64), nullable=True),
        sa.Column("pdf_key", sa.String(length=500), nullable=True),
        sa.Column("pdf_hash", sa.String(length=64), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("quotes", recreate="never") as batch:
        for column in _document_columns():
            batch.add_column(column)
        batch.add_column(sa.Column("viewed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("accepted_by_name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("rejection_reason", sa.Text(), nullable=True))
    op.create_index("ix_quotes_share_token_hash", "quotes", ["share_token_hash"], unique=True)

    with op.batch_alter_table("invoices", recreate="never") as batch:
        for column in _document_columns():
            batch.add_column(column)
    op.create_index("ix_invoices_share_token_hash", "invoices", ["share_token_hash"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_invoices_share_token_hash", table_name="invoices")
    with op.batch_alter_table("invoices", recreate="never") as batch:
        for name in ("pdf_hash", "pdf_key", "share_token_hash"):
            batch.drop_column(name)

    op.drop_index("ix_quotes_share_token_hash", table_name="quotes")
    with op.batch_alter_table("quotes", recreate="never") as batch:
        for name in ("rejection_reason", "rejected_at", "accepted_by_name", "accepted_at", "viewed_at",
                     "pdf_hash", "pdf_key", "share_token_hash"):
            batch.drop_column(name)
