"""feedback on diagnoses, the outcome of executed actions, and weekly digests

Revision ID: 0008_feedback_digest
Revises: 0007_diagnosis_posted
Create Date: 2026-12-05

feedback: one row per person and diagnosis ("right" or "wrong", with the corrected category and a
line of text for "wrong"); a second click by the same person replaces their verdict (audited).
remediation_proposals.effective: after an executed action, whether its incident's alert resolved
within INCIDENT_EFFECTIVE_MINUTES (NULL: not decided yet); effective_checked_at says when.
digests: one row per ISO week and channel, unique, so a restart or two workers never post twice;
status pending|posted|failed with attempts and the last error, retried on the next tick.
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_feedback_digest'
down_revision = '0007_diagnosis_posted'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'feedback',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('diagnosis_id', sa.String(length=32), sa.ForeignKey('diagnoses.id'), nullable=False),
        sa.Column('incident_id', sa.String(length=32), sa.ForeignKey('incidents.id'), nullable=True),
        sa.Column('actor', sa.String(length=200), nullable=False),
        sa.Column('platform', sa.String(length=20), nullable=False),
        sa.Column('verdict', sa.String(length=10), nullable=False),
        sa.Column('category', sa.String(length=50), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('uq_feedback_diagnosis_actor', 'feedback', ['diagnosis_id', 'actor'], unique=True)
    op.create_index('ix_feedback_incident', 'feedback', ['incident_id'])
    with op.batch_alter_table('remediation_proposals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('effective', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('effective_checked_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'digests',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('week', sa.String(length=10), nullable=False),
        sa.Column('platform', sa.String(length=20), nullable=False),
        sa.Column('channel', sa.String(length=300), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('content', sa.JSON(), nullable=True),
        sa.Column('message_ref', sa.JSON(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('posted_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('uq_digests_week_channel', 'digests', ['week', 'platform', 'channel'], unique=True)


def downgrade() -> None:
    op.drop_index('uq_digests_week_channel', table_name='digests')
    op.drop_table('digests')
    with op.batch_alter_table('remediation_proposals', schema=None) as batch_op:
        batch_op.drop_column('effective_checked_at')
        batch_op.drop_column('effective')
    op.drop_index('ix_feedback_incident', table_name='feedback')
    op.drop_index('uq_feedback_diagnosis_actor', table_name='feedback')
    op.drop_table('feedback')
