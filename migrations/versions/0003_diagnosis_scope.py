"""diagnoses.scope: the incident scope computed from the trigger alone

Revision ID: 0003_scope
Revises: 0002_remediation
Create Date: 2026-12-05

scope: JSON written by code (never by an engine) when a diagnosis is recorded: the trigger's
namespace, its subject, the subject's owner chain and the nodes hosting its pods. Proposals are
checked against it; a diagnosis without one offers no action.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_scope'
down_revision = '0002_remediation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('diagnoses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scope', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('diagnoses', schema=None) as batch_op:
        batch_op.drop_column('scope')
