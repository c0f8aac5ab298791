"""PostgreSQL: the search index holds no vectors; GIN indexes over the vector computed from the
email row

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03

The stored vectors (``email_search``: a positional ``doc`` plus one vector per field) took
190 % of the text they indexed at 100k emails; GIN over vectors computed from ``emails``
takes a fraction of it (``beacon.store.search_gin``). The table, its update trigger, its view
and row functions go; the view ``email_search`` names the computed vector instead, and the
index is built outside the migration's transaction (two sessions at once). The downgrade
makes and fills the table again. SQLite: nothing to do.
"""
from alembic import op

from beacon.store import search_gin, search_index

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        search_index.to_computed_vectors(op.get_bind())
        # The index's parts are built at once by sessions of their own, as beacon reindex
        # builds them: the changes so far are committed first (they would hold the table's
        # lock against those sessions).
        with op.get_context().autocommit_block():
            search_gin.build_index(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        search_index.to_stored_vectors(op.get_bind())
