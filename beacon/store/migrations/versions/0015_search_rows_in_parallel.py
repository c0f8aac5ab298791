"""PostgreSQL: the search index's rows come from one parallel-safe function, so a reindex
makes them on every core

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03

0012's view made each row with lateral subqueries, which PostgreSQL runs only in the leading
process: ``beacon reindex`` used one core (about 1,150 s estimated for 1M emails). The view now
calls ``beacon_search_row`` (plpgsql, parallel safe; its vectors from ``beacon_search_fields``,
which the importer's rows use too) for the same rows, and ``reindex`` fills a
new table with CREATE TABLE AS, which may read in parallel. SQLite: nothing to do.
"""
from alembic import context, op

from beacon.store import search_index

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        search_index.replace_rows_view(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP VIEW email_search_rows")
        op.execute(context.script.get_revision("0012").module._VIEW)  # 0012's view, as it installed it
        for stmt in search_index.PG_DROP_FUNCTIONS:
            op.execute(stmt)
