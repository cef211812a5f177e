"""Initial schema: contractors, customers, pricing brain, quotes, invoices.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def exact_decimal(precision: int, scale: int) -> sa.types.TypeEngine:
    # backend.models.base.ExactDecimal: NUMERIC on PostgreSQL, text on SQLite.
    return sa.Numeric(precision, scale).with_variant(sa.String(40), "sqlite")


def portable_json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table('contractors',
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('business_name', sa.String(length=200), nullable=False),
    sa.Column('trade', sa.String(length=32), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('address', sa.String(length=500), nullable=True),
    sa.Column('tax_rate', exact_decimal(6, 4), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('terms_text', sa.Text(), nullable=False),
    sa.Column('deposit_percent', exact_decimal(5, 2), nullable=False),
    sa.Column('quote_valid_days', sa.Integer(), nullable=False),
    sa.Column('logo_key', sa.String(length=500), nullable=True),
    sa.Column('plan', sa.String(length=16), nullable=False),
    sa.Column('subscription_status', sa.String(length=24), nullable=False),
    sa.Column('trial_ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('current_period_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('stripe_customer_id', sa.String(length=255), nullable=True),
    sa.Column('stripe_subscription_id', sa.String(length=255), nullable=True),
    sa.Column('token_version', sa.Integer(), nullable=False),
    sa.Column('quote_counter', sa.Integer(), nullable=False),
    sa.Column('invoice_counter', sa.Integer(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contractors')),
    sa.UniqueConstraint('email', name=op.f('uq_contractors_email'))
    )
    op.create_table('customers',
    sa.Column('contractor_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('address', sa.String(length=500), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['contractor_id'], ['contractors.id'], name=op.f('fk_customers_contractor_id_contractors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers'))
    )
    op.create_table('pricing_categories',
    sa.Column('contractor_id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=120), nullable=False),
    sa.Column('labor_rate', exact_decimal(14, 4), nullable=False),
    sa.Column('markup_percent', exact_decimal(7, 2), nullable=False),
    sa.Column('min_charge', exact_decimal(14, 2), nullable=False),
    sa.Column('unit_prices', portable_json(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['contractor_id'], ['contractors.id'], name=op.f('fk_pricing_categories_contractor_id_contractors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pricing_categories')),
    sa.UniqueConstraint('contractor_id', 'key', name=op.f('uq_pricing_categories_contractor_id_key'))
    )
    op.create_table('pricing_settings',
    sa.Column('contractor_id', sa.Uuid(), nullable=False),
    sa.Column('default_labor_rate', exact_decimal(14, 4), nullable=False),
    sa.Column('default_markup_percent', exact_decimal(7, 2), nullable=False),
    sa.Column('learning_enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contractor_id'], ['contractors.id'], name=op.f('fk_pricing_settings_contractor_id_contractors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('contractor_id', name=op.f('pk_pricing_settings'))
    )
    op.create_table('quotes',
    sa.Column('contractor_id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=True),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('job_type', sa.String(length=64), nullable=True),
    sa.Column('line_items', portable_json(), nullable=False),
    sa.Column('subtotal', exact_decimal(14, 2), nullable=False),
    sa.Column('tax_rate', exact_decimal(6, 4), nullable=False),
    sa.Column('tax', exact_decimal(14, 2), nullable=False),
    sa.Column('total', exact_decimal(14, 2), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('estimated_days', sa.Integer(), nullable=True),
    sa.Column('crew_size', sa.Integer(), nullable=True),
    sa.Column('confidence', sa.String(length=8), nullable=False),
    sa.Column('questions', portable_json(), nullable=False),
    sa.Column('generated_by', sa.String(length=16), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['contractor_id'], ['contractors.id'], name=op.f('fk_quotes_contractor_id_contractors'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_quotes_customer_id_customers'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quotes')),
    sa.UniqueConstraint('contractor_id', 'number', name=op.f('uq_quotes_contractor_id_number'))
    )
    op.create_table('invoices',
    sa.Column('contractor_id', sa.Uuid(), nullable=False),
    sa.Column('quote_id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=True),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('line_items', portable_json(), nullable=False),
    sa.Column('subtotal', exact_decimal(14, 2), nullable=False),
    sa.Column('tax_rate', exact_decimal(6, 4), nullable=False),
    sa.Column('tax', exact_decimal(14, 2), nullable=False),
    sa.Column('total', exact_decimal(14, 2), nullable=False),
    sa.Column('amount_paid', exact_decimal(14, 2), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['contractor_id'], ['contractors.id'], name=op.f('fk_invoices_contractor_id_contractors'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_invoices_customer_id_customers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['quote_id'], ['quotes.id'], name=op.f('fk_invoices_quote_id_quotes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoices')),
    sa.UniqueConstraint('contractor_id', 'number', name=op.f('uq_invoices_contractor_id_number'))
    )


def downgrade() -> None:
    op.drop_table('invoices')
    op.drop_table('quotes')
    op.drop_table('pricing_settings')
    op.drop_table('pricing_categories')
    op.drop_table('customers')
    op.drop_table('contractors')
