"""conversations and time-is-now rescoring: thread heads and the next rescore time

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-02

``analyses.thread_head`` marks each thread's representative (its most important message) so
the conversation inbox is an index walk; ``analyses.rescore_at`` is when time alone next
changes a score (beacon.triage.rescore). Existing heads are set from the stored scores, and
every analysis is due for a rescore at once: the first periodic pass judges its deadlines
against today and skips the reader's own and answered mail as heads.
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

from beacon.store.schema import UTCDateTime

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('analyses') as batch:
        batch.add_column(sa.Column('thread_head', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('rescore_at', sa.DateTime(timezone=True), nullable=True))
    conn = op.get_bind()
    conn.execute(sa.text(
        "UPDATE analyses SET thread_head = true WHERE id IN (SELECT id FROM ("
        " SELECT a.id, row_number() OVER (PARTITION BY a.pipeline_version, e.account_id, e.thread_id"
        "  ORDER BY a.score DESC, a.email_date DESC, a.email_id DESC) AS rn"
        " FROM analyses a JOIN emails e ON e.id = a.email_id WHERE NOT e.deleted) ranked WHERE rn = 1)"))
    now = sa.bindparam("now", datetime.now(timezone.utc), type_=UTCDateTime())
    conn.execute(sa.text("UPDATE analyses SET rescore_at = :now").bindparams(now))
    op.create_index('ix_analyses_head_priority', 'analyses',
                    ['pipeline_version', 'thread_head', 'score', 'email_date', 'email_id'])
    op.create_index('ix_analyses_rescore', 'analyses', ['pipeline_version', 'rescore_at'])


def downgrade() -> None:
    op.drop_index('ix_analyses_rescore', 'analyses')
    op.drop_index('ix_analyses_head_priority', 'analyses')
    with op.batch_alter_table('analyses') as batch:
        batch.drop_column('rescore_at')
        batch.drop_column('thread_head')
