"""CAM user groups, their members and their attached policies

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

UtcDateTime = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'cam_groups',
        sa.Column('group_id', sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column('account_id', sa.Integer(), nullable=False, index=True),
        sa.Column('name', sa.String(64), nullable=False),
        sa.Column('remark', sa.Text(), nullable=False),
        sa.Column('created_time', UtcDateTime, nullable=False),
        sa.UniqueConstraint('account_id', 'name', name='uq_cam_groups_account_name'),
    )
    op.create_table(
        'cam_group_members',
        sa.Column('group_id', sa.BigInteger(), primary_key=True),
        sa.Column('user_uin', sa.String(32), primary_key=True, index=True),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('joined_time', UtcDateTime, nullable=False),
    )
    op.create_table(
        'cam_group_policies',
        sa.Column('group_id', sa.BigInteger(), primary_key=True),
        sa.Column('policy_id', sa.BigInteger(), primary_key=True),
        sa.Column('account_id', sa.Integer(), nullable=False, index=True),
        sa.Column('attached_time', UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ('cam_group_policies', 'cam_group_members', 'cam_groups'):
        op.drop_table(table)
