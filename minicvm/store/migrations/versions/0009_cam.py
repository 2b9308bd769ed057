"""CAM sub-users, their access keys, custom policies and user attachments

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

UtcDateTime = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'cam_users',
        sa.Column('seq', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('account_id', sa.Integer(), nullable=False, index=True),
        sa.Column('uin', sa.String(32), nullable=False, unique=True),
        sa.Column('uid', sa.BigInteger(), nullable=False, unique=True),
        sa.Column('name', sa.String(64), nullable=False),
        sa.Column('remark', sa.Text(), nullable=False),
        sa.Column('console_login', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(128), nullable=False),
        sa.Column('created_time', UtcDateTime, nullable=False),
        sa.UniqueConstraint('account_id', 'name', name='uq_cam_users_account_name'),
    )
    op.create_table(
        'cam_access_keys',
        sa.Column('secret_id', sa.String(64), primary_key=True),
        sa.Column('secret_key', sa.String(64), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False, index=True),
        sa.Column('user_uin', sa.String(32), nullable=False, index=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('created_time', UtcDateTime, nullable=False),
    )
    op.create_table(
        'cam_policies',
        sa.Column('policy_id', sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column('account_id', sa.Integer(), nullable=False, index=True),
        sa.Column('name', sa.String(128), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('document', sa.Text(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_time', UtcDateTime, nullable=False),
        sa.Column('updated_time', UtcDateTime, nullable=False),
        sa.UniqueConstraint('account_id', 'name', name='uq_cam_policies_account_name'),
    )
    op.create_table(
        'cam_user_policies',
        sa.Column('user_uin', sa.String(32), primary_key=True),
        sa.Column('policy_id', sa.BigInteger(), primary_key=True),
        sa.Column('account_id', sa.Integer(), nullable=False, index=True),
        sa.Column('attached_time', UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ('cam_user_policies', 'cam_policies', 'cam_access_keys', 'cam_users'):
        op.drop_table(table)
