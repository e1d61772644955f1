"""incidents: last_seen_at for the ageing rule, request_key for /diagnose replays

Revision ID: 0004_incident_ageing
Revises: 0003_scope
Create Date: 2026-12-06

last_seen_at: when the incident's alert last fired; an incident not seen for
INCIDENT_STALE_MINUTES, or open longer than INCIDENT_MAX_AGE_HOURS, closes as 'expired' and the
next firing investigates again (NULL on older rows: opened_at stands in).
request_key: "platform:request id" (Slack trigger_id) of the /diagnose that opened the incident;
unique, so the same signed command replayed, in any process, opens one incident. NULLs are
allowed many times on both SQLite and PostgreSQL.
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_incident_ageing'
down_revision = '0003_scope'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('request_key', sa.String(length=200), nullable=True))
        batch_op.create_index('uq_incidents_request_key', ['request_key'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index('uq_incidents_request_key')
        batch_op.drop_column('request_key')
        batch_op.drop_column('last_seen_at')
