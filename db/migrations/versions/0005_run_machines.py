"""run machines: the machines taking part in a run spread over several, and where they meet

Revision ID: 0005_run_machines
Revises: 0004_team_access
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_run_machines'
down_revision = '0004_team_access'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('run_machines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('machine', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.Integer(), nullable=True),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('devices', sa.String(length=20), nullable=False),
    sa.Column('endpoint', sa.String(length=300), nullable=True),
    sa.Column('joined_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_run_machines_run_id_runs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['worker_id'], ['workers.id'], name=op.f('fk_run_machines_worker_id_workers'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_run_machines')),
    sa.UniqueConstraint('run_id', 'attempt', 'machine', name=op.f('uq_run_machines_run_id_attempt_machine'))
    )
    op.create_index(op.f('ix_run_machines_run_id'), 'run_machines', ['run_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_run_machines_run_id'), table_name='run_machines')
    op.drop_table('run_machines')
