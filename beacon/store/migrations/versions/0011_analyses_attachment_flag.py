"""has:attachment is one index range: the email's attachment flag copied onto analyses

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

``analyses.has_attachments`` copies ``emails.has_attachments`` and leads an inbox index after
the owner and the away flag, as level, kind and needs-reply do: ``has:attachment`` was a walk
of the whole priority order that read each email's row to test the flag (660 ms at 1M on
PostgreSQL). Only the rows of mail with attachments are updated (found from the attachments
table's email index), so the upgrade of a large store does not rewrite every analysis.
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('analyses', sa.Column('has_attachments', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE analyses SET has_attachments = true WHERE email_id IN (SELECT email_id FROM attachments)")
    op.create_index('ix_analyses_attach_priority', 'analyses',
                    ['pipeline_version', 'user_id', 'away', 'has_attachments', 'score', 'email_date', 'email_id'])


def downgrade() -> None:
    op.drop_index('ix_analyses_attach_priority', 'analyses')
    with op.batch_alter_table('analyses') as batch:
        batch.drop_column('has_attachments')
