"""audit trail events

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_events',
        sa.Column('seq', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('account_id', sa.Integer(), nullable=False, index=True),
        sa.Column('event_time', sa.DateTime(timezone=True), nullable=False),
        sa.Column('service', sa.String(32), nullable=False),
        sa.Column('action', sa.String(64), nullable=False),
        sa.Column('region', sa.String(32), nullable=False),
        sa.Column('principal_kind', sa.String(16), nullable=False),
        sa.Column('principal_uin', sa.String(32), nullable=False),
        sa.Column('role_id', sa.String(32), nullable=False),
        sa.Column('session_name', sa.String(128), nullable=False),
        sa.Column('source_ip', sa.String(64), nullable=False),
        sa.Column('resource_type', sa.String(32), nullable=False),
        sa.Column('resource_names', sa.JSON(), nullable=False),
        sa.Column('error_code', sa.String(128), nullable=False),
        sa.Column('request_id', sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('audit_events')
