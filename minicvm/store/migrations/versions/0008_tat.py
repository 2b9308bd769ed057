"""TAT commands, invocations and invocation tasks

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tat_commands',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('region', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('command_type', sa.String(length=16), nullable=False),
    sa.Column('working_directory', sa.Text(), nullable=False),
    sa.Column('timeout', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('created_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_time', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_tat_commands_account_id'), 'tat_commands', ['account_id'], unique=False)
    op.create_table('tat_invocations',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('region', sa.String(length=32), nullable=False),
    sa.Column('command_id', sa.String(length=32), nullable=False),
    sa.Column('command_name', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('command_type', sa.String(length=16), nullable=False),
    sa.Column('working_directory', sa.Text(), nullable=False),
    sa.Column('timeout', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('created_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end_time', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_tat_invocations_account_id'), 'tat_invocations', ['account_id'], unique=False)
    op.create_index(op.f('ix_tat_invocations_command_id'), 'tat_invocations', ['command_id'], unique=False)
    op.create_table('tat_tasks',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('invocation_id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('exit_code', sa.Integer(), nullable=True),
    sa.Column('output', sa.Text(), nullable=False),
    sa.Column('dropped', sa.Integer(), nullable=False),
    sa.Column('error_info', sa.Text(), nullable=False),
    sa.Column('created_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('exec_start_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('exec_end_time', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_tat_tasks_account_id'), 'tat_tasks', ['account_id'], unique=False)
    op.create_index(op.f('ix_tat_tasks_instance_id'), 'tat_tasks', ['instance_id'], unique=False)
    op.create_index(op.f('ix_tat_tasks_invocation_id'), 'tat_tasks', ['invocation_id'], unique=False)


def downgrade() -> None:
    op.drop_table('tat_tasks')
    op.drop_table('tat_invocations')
    op.drop_table('tat_commands')
