"""durable jobs: our own table for the embedded (SQLite) runner, Procrastinate's schema on PostgreSQL

Revision ID: 0005_jobs
Revises: 0004_incident_ageing
Create Date: 2026-12-05

jobs: the work queue the in-process runner (bot/jobs/local.py) claims from; a job row is written
in the same transaction as the incident or session it is about, so nothing is lost between them.
dedupe_key is unique: one diagnosis job per incident, one run per periodic task and period.
On PostgreSQL the same migration installs Procrastinate's schema (procrastinate_jobs, its
functions and triggers) for `chatops worker`; it is the schema of the pinned Procrastinate
release (pyproject pins the minor version: a new release needs a migration of its own).
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_jobs'
down_revision = '0004_incident_ageing'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'jobs',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('task', sa.String(length=100), nullable=False),
        sa.Column('args', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('max_attempts', sa.Integer(), nullable=False),
        sa.Column('run_after', sa.DateTime(timezone=True), nullable=False),
        sa.Column('locked_by', sa.String(length=200), nullable=True),
        sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('dedupe_key', sa.String(length=200), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
    )
    op.create_index('ix_jobs_status_run_after', 'jobs', ['status', 'run_after'])
    op.create_index('uq_jobs_dedupe_key', 'jobs', ['dedupe_key'], unique=True)
    if op.get_bind().dialect.name == 'postgresql':
        from procrastinate.schema import SchemaManager

        op.execute(sa.text(SchemaManager.get_schema().replace(':', r'\:')))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(sa.text(_DROP_PROCRASTINATE))
    op.drop_index('uq_jobs_dedupe_key', table_name='jobs')
    op.drop_index('ix_jobs_status_run_after', table_name='jobs')
    op.drop_table('jobs')


_DROP_PROCRASTINATE = r"""
DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'procrastinate\_%' LOOP
    EXECUTE 'DROP TABLE IF EXISTS ' || quote_ident(r.tablename) || ' CASCADE';
  END LOOP;
  FOR r IN SELECT p.oid\:\:regprocedure AS f FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\_%' LOOP
    EXECUTE 'DROP FUNCTION IF EXISTS ' || r.f || ' CASCADE';
  END LOOP;
  FOR r IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate\_%' AND t.typtype IN ('e', 'c') LOOP
    EXECUTE 'DROP TYPE IF EXISTS ' || quote_ident(r.typname) || ' CASCADE';
  END LOOP;
END $$;
"""
