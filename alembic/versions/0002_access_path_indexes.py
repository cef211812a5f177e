"""INFRA-005: indexes for the real access paths.

Listing is keyset-paginated newest first per contractor, so the listing
indexes end in (created_at DESC, id DESC) to serve both the filter and the
order without a sort (the status filter too). Customer autocomplete matches a substring of the name
case-insensitively: on PostgreSQL pg_trgm GIN indexes on lower(name),
lower(email) and phone serve ``… LIKE '%q%'`` for selective text (short text
is served by the contractor index, as a contractor has few customers); SQLite has no trigram index, so it gets a plain
(contractor_id, name) index as the portable fallback.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_quotes_contractor_created", "quotes",
                    ["contractor_id", sa.text("created_at DESC"), sa.text("id DESC")])
    op.create_index("ix_quotes_contractor_status", "quotes",
                    ["contractor_id", "status", sa.text("created_at DESC"), sa.text("id DESC")])
    op.create_index("ix_quotes_customer_id", "quotes", ["customer_id"])
    op.create_index("ix_customers_contractor_created", "customers",
                    ["contractor_id", sa.text("created_at DESC"), sa.text("id DESC")])
    op.create_index("ix_invoices_quote_id", "invoices", ["quote_id"], unique=True)
    op.create_index("ix_invoices_contractor_created", "invoices",
                    ["contractor_id", sa.text("created_at DESC"), sa.text("id DESC")])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        # One trigram index per searched column, so the OR of the three LIKEs
        # can be a BitmapOr of index scans when the text is selective.
        op.execute("CREATE INDEX ix_customers_name_trgm ON customers USING gin (lower(name) gin_trgm_ops)")
        op.execute("CREATE INDEX ix_customers_email_trgm ON customers USING gin (lower(email) gin_trgm_ops)")
        op.execute("CREATE INDEX ix_customers_phone_trgm ON customers USING gin (phone gin_trgm_ops)")
    else:
        op.create_index("ix_customers_contractor_name", "customers", ["contractor_id", "name"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in ("ix_customers_phone_trgm", "ix_customers_email_trgm", "ix_customers_name_trgm"):
            op.execute(f"DROP INDEX IF EXISTS {name}")
    else:
        op.drop_index("ix_customers_contractor_name", table_name="customers")
    op.drop_index("ix_invoices_contractor_created", table_name="invoices")
    op.drop_index("ix_invoices_quote_id", table_name="invoices")
    op.drop_index("ix_customers_contractor_created", table_name="customers")
    op.drop_index("ix_quotes_customer_id", table_name="quotes")
    op.drop_index("ix_quotes_contractor_status", table_name="quotes")
    op.drop_index("ix_quotes_contractor_created", table_name="quotes")
