"""Pricing brain learning: ``pricing_adjustments``.

One row per price edit learned into a category (a line item's ``unit_price``
edited on a generated quote): the line's old and new price, the category's
stored value before and after the rule was applied, and ``reverted_at``.
``seq`` numbers the learned changes of one category, taken under the
category's row lock, so ``(contractor_id, category_key, seq)`` is unique and
replaying the rule in ``seq`` order gives the stored value. The list endpoint
reads newest first by ``(created_at, id)`` per contractor.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def exact_decimal(precision: int, scale: int) -> sa.types.TypeEngine:
    # backend.models.base.ExactDecimal: NUMERIC on PostgreSQL, text on SQLite.
    return sa.Numeric(precision, scale).with_variant(sa.String(40), "sqlite")


def upgrade() -> None:
    op.create_table(
        "pricing_adjustments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contractor_id", sa.Uuid(), nullable=False),
        sa.Column("quote_id", sa.Uuid(), nullable=True),
        sa.Column("category_key", sa.String(length=64), nullable=False),
        sa.Column("item", sa.String(length=80), nullable=True),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("old_price", exact_decimal(14, 4), nullable=False),
        sa.Column("new_price", exact_decimal(14, 4), nullable=False),
        sa.Column("applied_value_before", exact_decimal(14, 4), nullable=False),
        sa.Column("applied_value_after", exact_decimal(14, 4), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reverted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["contractor_id"], ["contractors.id"],
                                name=op.f("fk_pricing_adjustments_contractor_id_contractors"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["quote_id"], ["quotes.id"],
                                name=op.f("fk_pricing_adjustments_quote_id_quotes"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_adjustments")),
        sa.UniqueConstraint("contractor_id", "category_key", "seq",
                            name=op.f("uq_pricing_adjustments_contractor_id_category_key_seq")),
    )
    op.create_index("ix_pricing_adjustments_contractor_id", "pricing_adjustments",
                    ["contractor_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_pricing_adjustments_contractor_id", table_name="pricing_adjustments")
    op.drop_table("pricing_adjustments")
