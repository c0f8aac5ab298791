"""The inbox reads what it checks on each email's row from a covering index

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

The inbox walk tests each email it lists for the reader's own mail (sender, folder) and the
count reads up to 1,001 of them. SQLite stores ``emails.folder`` (added by 0002) after the
email's JSON, so reading it followed the JSON's overflow pages, row by row: 31 ms for a
count at 1M emails, 725 ms for an estimated ``is:unread``. ``ix_emails_own_check`` holds
those columns (and the account and the server's flags, which filters test the same way).
"""
from alembic import op

from beacon.store.schema import OWN_CHECK_INDEX

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(OWN_CHECK_INDEX, 'emails', ['id', 'from_addr', 'folder', 'account_id', 'flagged', 'answered'])


def downgrade() -> None:
    op.drop_index(OWN_CHECK_INDEX, 'emails')
