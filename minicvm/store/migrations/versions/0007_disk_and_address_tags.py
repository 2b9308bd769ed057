"""tags on disks and addresses

Every taggable resource keeps its tags in its own row (instances and load balancers already did), so the
Tag service and each product's Describe* read and write the same place.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('disks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tags', sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
    with op.batch_alter_table('addresses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tags', sa.JSON(), server_default=sa.text("'[]'"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('addresses', schema=None) as batch_op:
        batch_op.drop_column('tags')
    with op.batch_alter_table('disks', schema=None) as batch_op:
        batch_op.drop_column('tags')
