"""one reader's inbox is one index range: the owner and the away flag on analyses

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

``analyses.user_id`` copies the email's owner (its account's user) and ``analyses.away`` says
the email is done or snoozed (``email_states``); both lead the inbox indexes, so the inbox, its
filters and its counts walk one reader's open mail without reading the emails or states of
the rest (the owner condition used to join every email; done and snoozed mail used to be
walked over and skipped). Existing rows are filled from the accounts and states.
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_LEADS = {'ix_analyses_level_priority': ['level'], 'ix_analyses_kind_priority': ['kind'],
          'ix_analyses_reply_priority': ['needs_reply'], 'ix_analyses_head_priority': ['thread_head'],
          'ix_analyses_priority': []}


def _rebuild_indexes(owner: list[str]) -> None:
    for name, lead in _LEADS.items():
        op.drop_index(name, 'analyses')
        op.create_index(name, 'analyses', ['pipeline_version', *owner, *lead, 'score', 'email_date', 'email_id'])
    op.drop_index('ix_analyses_date', 'analyses')
    op.create_index('ix_analyses_date', 'analyses', ['pipeline_version', *owner, 'email_date', 'email_id'])


def upgrade() -> None:
    op.add_column('analyses', sa.Column('user_id', sa.Integer(), nullable=True))
    op.add_column('analyses', sa.Column('away', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE analyses SET user_id = (SELECT a.user_id FROM emails e JOIN accounts a ON a.id = e.account_id"
               " WHERE e.id = analyses.email_id)")
    op.execute("UPDATE analyses SET away = true WHERE email_id IN (SELECT email_id FROM email_states"
               " WHERE done_at IS NOT NULL OR snoozed_until IS NOT NULL)")
    _rebuild_indexes(['user_id', 'away'])


def downgrade() -> None:
    _rebuild_indexes([])
    with op.batch_alter_table('analyses') as batch:
        batch.drop_column('away')
        batch.drop_column('user_id')
