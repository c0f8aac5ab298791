"""The importer writes new emails' full-text rows; no insert trigger

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

An insert trigger made each new email's index row from its stored JSON, parsed again in the
importing process: a fifth of the import's CPU. The parse workers now make the rows and the
importer writes them with the emails (``search_index.add_rows``). Update and delete
triggers stay as they were.
"""
from alembic import op

from beacon.store import search_index

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    search_index.drop_insert_sync(op.get_bind())


def downgrade() -> None:
    search_index.restore_insert_sync(op.get_bind())
