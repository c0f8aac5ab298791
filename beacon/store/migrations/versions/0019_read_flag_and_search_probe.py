"""is:unread is one index range (the read mark copied onto analyses); a search's matches are
checked on an index of analyses, not their rows

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03

``analyses.is_read`` copies whether ``email_states.read_at`` is set and leads an inbox index
after the owner and the away flag, as the attachment flag does: ``is:unread`` was a walk of the
priority order that probed each email's state, and its count an estimate from a sample whose
total counted every analysis of the reader (376 ms at 1M emails on SQLite). Only the rows of
mail marked read are updated (found from ``email_states``), so the upgrade of a large store
does not rewrite every analysis.

``ix_analyses_email_probe`` (email id, version, owner, away) replaces the index on the email id
alone: a search joins each match of the full-text index to its analysis on these columns, and
on SQLite reading them from the row meant reading its JSON's overflow pages first (about one
page read per match: ~1,000 per search page, 140 with this index).

SQLite: the full-text index's re-parse and delete triggers are made again, taking out only a
row the index holds (what 0017 now makes: it may leave the index of a large store empty for
``beacon reindex``; a store 0017 had already filled gets the same triggers).
"""
from alembic import op
import sqlalchemy as sa

from beacon.store import search_index


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('analyses', sa.Column('is_read', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE analyses SET is_read = true WHERE email_id IN "
               "(SELECT email_id FROM email_states WHERE read_at IS NOT NULL)")
    op.create_index('ix_analyses_read_priority', 'analyses',
                    ['pipeline_version', 'user_id', 'away', 'is_read', 'score', 'email_date', 'email_id'])
    op.drop_index('ix_analyses_email_id', 'analyses')
    op.create_index('ix_analyses_email_probe', 'analyses', ['email_id', 'pipeline_version', 'user_id', 'away'])
    search_index.replace_sqlite_triggers(op.get_bind())


def downgrade() -> None:
    op.drop_index('ix_analyses_email_probe', 'analyses')
    op.create_index('ix_analyses_email_id', 'analyses', ['email_id'])
    op.drop_index('ix_analyses_read_priority', 'analyses')
    with op.batch_alter_table('analyses') as batch:
        batch.drop_column('is_read')
