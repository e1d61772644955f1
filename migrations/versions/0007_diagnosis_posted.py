"""diagnoses.posted_at: when the diagnosis reached its chat thread

Revision ID: 0007_diagnosis_posted
Revises: 0006_proposal_messages
Create Date: 2026-12-05

A diagnosis job re-run after a crash (kill -9 between recording a diagnosis and posting it) posts
the recorded diagnosis instead of diagnosing again; one that was posted is left alone.
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_diagnosis_posted'
down_revision = '0006_proposal_messages'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('diagnoses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('posted_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('diagnoses', schema=None) as batch_op:
        batch_op.drop_column('posted_at')
