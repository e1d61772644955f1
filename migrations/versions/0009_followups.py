"""follow-up questions in diagnosis threads, and diagnosis versions

Revision ID: 0009_followups
Revises: 0008_feedback_digest
Create Date: 2026-12-05

followups: one row per question asked in an incident's diagnosis thread (unique per chat message, so
a redelivered event is answered once), with the answer, the engine, the evidence its tools fetched
(kept so the next question of the thread can use it) and the revision it made, if any.
diagnoses.version / diagnoses.revises: a follow-up answer that revises the diagnosis writes a new row
(version n+1) linked to the one it replaces; the old row is kept unchanged. Existing rows are version 1.
incidents (platform, channel, thread_ref): finding the incident of a thread a question arrives in.
"""
from alembic import op
import sqlalchemy as sa


revision = '0009_followups'
down_revision = '0008_feedback_digest'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('diagnoses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('revises', sa.String(length=32), nullable=True))
        batch_op.create_foreign_key('fk_diagnoses_revises', 'diagnoses', ['revises'], ['id'])
    op.create_index('ix_incidents_thread', 'incidents', ['platform', 'channel', 'thread_ref'])
    op.create_table(
        'followups',
        sa.Column('id', sa.String(length=32), primary_key=True),
        sa.Column('incident_id', sa.String(length=32), sa.ForeignKey('incidents.id'), nullable=False),
        sa.Column('diagnosis_id', sa.String(length=32), sa.ForeignKey('diagnoses.id'), nullable=False),
        sa.Column('session_id', sa.String(length=32), sa.ForeignKey('agent_sessions.id'), nullable=True),
        sa.Column('revised_diagnosis_id', sa.String(length=32), sa.ForeignKey('diagnoses.id'), nullable=True),
        sa.Column('platform', sa.String(length=20), nullable=False),
        sa.Column('channel', sa.String(length=200), nullable=False),
        sa.Column('thread_ref', sa.String(length=200), nullable=False),
        sa.Column('request_key', sa.String(length=300), nullable=False),
        sa.Column('asked_by', sa.String(length=200), nullable=False),
        sa.Column('question', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('engine', sa.String(length=20), nullable=True),
        sa.Column('answer', sa.Text(), nullable=True),
        sa.Column('evidence', sa.JSON(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('uq_followups_request_key', 'followups', ['request_key'], unique=True)
    op.create_index('ix_followups_incident_created', 'followups', ['incident_id', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_followups_incident_created', table_name='followups')
    op.drop_index('uq_followups_request_key', table_name='followups')
    op.drop_table('followups')
    op.drop_index('ix_incidents_thread', table_name='incidents')
    with op.batch_alter_table('diagnoses', schema=None) as batch_op:
        batch_op.drop_constraint('fk_diagnoses_revises', type_='foreignkey')
        batch_op.drop_column('revises')
        batch_op.drop_column('version')
