"""IMAP write-back: the folders' mod-sequence (CONDSTORE) and the account's archive folder

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

``imap_folders.highest_modseq`` is the folder's HIGHESTMODSEQ at the last complete sync (an
unchanged value means no flag changed and nothing was expunged: the flag refresh is skipped).
``accounts.imap_archive_folder`` names the folder
"done" moves mail to when the server marks none as SPECIAL-USE ``\\Archive``.
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('imap_folders') as batch:
        batch.add_column(sa.Column('highest_modseq', sa.BigInteger(), nullable=True))
    with op.batch_alter_table('accounts') as batch:
        batch.add_column(sa.Column('imap_archive_folder', sa.String(500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('accounts') as batch:
        batch.drop_column('imap_archive_folder')
    with op.batch_alter_table('imap_folders') as batch:
        batch.drop_column('highest_modseq')
