"""runs explorer: archived runs, per-block extremes of long curves, indexes for the runs list

Revision ID: 0002_explorer
Revises: 0001
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_explorer'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('archived_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_runs_archived_at_created_at'), ['archived_at', 'created_at'], unique=False)

    with op.batch_alter_table('metric_summary', schema=None) as batch_op:
        batch_op.add_column(sa.Column('extremes_through', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('extremes_block', sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f('ix_metric_summary_key_max_value_min_value'), ['key', 'max_value', 'min_value'], unique=False)

    op.create_table('metric_extremes',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('step', sa.BigInteger(), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('epoch', sa.Float(), nullable=True),
    sa.Column('wall_time', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_metric_extremes_run_id_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'key', 'step', name=op.f('pk_metric_extremes'))
    )


def downgrade() -> None:
    op.drop_table('metric_extremes')
    with op.batch_alter_table('metric_summary', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_metric_summary_key_max_value_min_value'))
        batch_op.drop_column('extremes_block')
        batch_op.drop_column('extremes_through')

    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_runs_archived_at_created_at'))
        batch_op.drop_column('archived_at')
