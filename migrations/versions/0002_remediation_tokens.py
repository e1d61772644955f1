"""remediation proposals: token nonce, exact action text, why no button is offered

Revision ID: 0002_remediation
Revises: 0001
Create Date: 2026-11-22

nonce: random per proposal, part of the HMAC of its approval token (a token minted for an
older proposal with the same id/action/target/expiry still cannot be replayed against it).
action_text: the exact human description shown when the proposal was made, so the confirm
text never changes under the approver. blocked_reason: set when validation or the
server-side dry run failed; such a proposal is recorded but offers no approve button.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_remediation'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('remediation_proposals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nonce', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('action_text', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('blocked_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('remediation_proposals', schema=None) as batch_op:
        batch_op.drop_column('blocked_reason')
        batch_op.drop_column('action_text')
        batch_op.drop_column('nonce')
