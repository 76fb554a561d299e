"""sweeps: searches over settings whose trials are runs, and the status of a trial a sweep stopped early

Revision ID: 0003_sweeps
Revises: 0002_explorer
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_sweeps'
down_revision = '0002_explorer'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sweeps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.Column('study_name', sa.String(length=200), nullable=False),
    sa.Column('models', sa.JSON(), nullable=False),
    sa.Column('space', sa.JSON(), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('preset', sa.String(length=20), nullable=False),
    sa.Column('method', sa.String(length=10), nullable=False),
    sa.Column('pruner', sa.String(length=20), nullable=False),
    sa.Column('metric', sa.String(length=100), nullable=False),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('trials', sa.Integer(), nullable=False),
    sa.Column('parallel', sa.Integer(), nullable=False),
    sa.Column('budget_seconds', sa.Float(), nullable=True),
    sa.Column('auto', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.CheckConstraint("direction IN ('minimize', 'maximize')", name=op.f('ck_sweeps_direction')),
    sa.CheckConstraint("method IN ('tpe', 'random', 'grid')", name=op.f('ck_sweeps_method')),
    sa.CheckConstraint("status IN ('running', 'completed', 'cancelled')", name=op.f('ck_sweeps_status')),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], name=op.f('fk_sweeps_dataset_id_datasets'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sweeps')),
    sa.UniqueConstraint('study_name', name=op.f('uq_sweeps_study_name'))
    )
    with op.batch_alter_table('sweeps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sweeps_dataset_id'), ['dataset_id'], unique=False)

    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sweep_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('trial_number', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_runs_sweep_id'), ['sweep_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_runs_sweep_id_sweeps'), 'sweeps', ['sweep_id'], ['id'], ondelete='SET NULL')
        batch_op.drop_constraint(batch_op.f('ck_runs_status'), type_='check')
        batch_op.create_check_constraint(
            'status', "status IN ('queued', 'running', 'completed', 'failed', 'cancelled', 'interrupted', 'pruned')")



def downgrade() -> None:
    op.execute("UPDATE runs SET status = 'cancelled' WHERE status = 'pruned'")
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_runs_status'), type_='check')
        batch_op.create_check_constraint(
            'status', "status IN ('queued', 'running', 'completed', 'failed', 'cancelled', 'interrupted')")
        batch_op.drop_constraint(batch_op.f('fk_runs_sweep_id_sweeps'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_runs_sweep_id'))
        batch_op.drop_column('trial_number')
        batch_op.drop_column('sweep_id')

    with op.batch_alter_table('sweeps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sweeps_dataset_id'))

    op.drop_table('sweeps')
