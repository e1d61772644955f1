"""remediation_proposals: message_ref, the chat message that shows a proposal's buttons

Revision ID: 0006_proposal_messages
Revises: 0005_jobs
Create Date: 2026-12-05

message_ref: {"platform", "channel", "ts", "thread"} of the diagnosis (or undo) message that carries
the proposal's approve/reject buttons, written right after it is posted (bot/workflow/expiry.py).
The expiry sweep reads it to edit that message when the proposal expires, in any process and after
a restart. While that edit is still owed the object also holds "pending": "expired" (set in the
expiring transaction, removed once the message is edited). NULL: never posted, or posted before 0006.
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_proposal_messages'
down_revision = '0005_jobs'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('remediation_proposals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_ref', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('remediation_proposals', schema=None) as batch_op:
        batch_op.drop_column('message_ref')
