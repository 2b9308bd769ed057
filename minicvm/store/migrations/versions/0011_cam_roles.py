"""CAM roles, their attached policies, and STS temporary credentials

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

UtcDateTime = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'cam_roles',
        sa.Column('role_id', sa.String(32), primary_key=True),
        sa.Column('account_id', sa.Integer(), nullable=False, index=True),
        sa.Column('name', sa.String(128), nullable=False),
        sa.Column('trust_policy', sa.Text(), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('session_duration', sa.Integer(), nullable=False),
        sa.Column('created_time', UtcDateTime, nullable=False),
        sa.UniqueConstraint('account_id', 'name', name='uq_cam_roles_account_name'),
    )
    op.create_table(
        'cam_role_policies',
        sa.Column('role_id', sa.String(32), primary_key=True),
        sa.Column('policy_id', sa.BigInteger(), primary_key=True),
        sa.Column('account_id', sa.Integer(), nullable=False, index=True),
        sa.Column('attached_time', UtcDateTime, nullable=False),
    )
    op.create_table(
        'sts_credentials',
        sa.Column('secret_id', sa.String(64), primary_key=True),
        sa.Column('secret_key', sa.String(64), nullable=False),
        sa.Column('token', sa.String(128), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('role_id', sa.String(32), nullable=False, index=True),
        sa.Column('session_name', sa.String(128), nullable=False),
        sa.Column('caller_uin', sa.String(32), nullable=False),
        sa.Column('session_policy', sa.Text(), nullable=False),
        sa.Column('expires_time', UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ('sts_credentials', 'cam_role_policies', 'cam_roles'):
        op.drop_table(table)
