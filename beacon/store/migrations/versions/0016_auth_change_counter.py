"""change_counters: a number the database moves on every change of users and settings

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03

Triggers on ``users``, ``app_settings`` and ``user_settings`` add one to the ``auth`` row, so
the web process can keep the session's user and the settings in force between requests and
read one number per request to know they still hold (``beacon.store.changes``).
"""
from alembic import op
import sqlalchemy as sa

from beacon.store.changes import AUTH, TRIGGER_DDL

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        'change_counters',
        sa.Column('name', sa.String(length=50), nullable=False),
        sa.Column('n', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.bulk_insert(table, [{"name": AUTH, "n": 0}])
    for stmt in TRIGGER_DDL[op.get_bind().dialect.name][0]:
        op.execute(stmt)


def downgrade() -> None:
    for stmt in TRIGGER_DDL[op.get_bind().dialect.name][1]:
        op.execute(stmt)
    op.drop_table('change_counters')
