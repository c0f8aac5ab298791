"""full-text search index, inbox order keys and indexes

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

The inbox's orders (priority, date) and filters become index walks: ``analyses`` gains the
email's date and its earliest action-item due (copies), and composite indexes per order and
filter; ``emails.analysed_version`` makes "not analysed yet" an index range. The full-text
index (beacon.store.search_index) is created and filled.
"""
import json
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

from beacon.store import search_index
from beacon.store.schema import UTCDateTime

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_ORDERS = {
    'ix_analyses_priority': [],
    'ix_analyses_level_priority': ['level'],
    'ix_analyses_kind_priority': ['kind'],
    'ix_analyses_reply_priority': ['needs_reply'],
}


def upgrade() -> None:
    with op.batch_alter_table('emails') as batch:
        batch.add_column(sa.Column('analysed_version', sa.String(length=200), nullable=False, server_default=''))
        batch.create_index('ix_emails_analysed_version', ['analysed_version'], unique=False)
    with op.batch_alter_table('analyses') as batch:
        batch.add_column(sa.Column('email_date', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
        batch.drop_index('ix_analyses_level')
        batch.drop_index('ix_analyses_kind')
    conn = op.get_bind()
    conn.execute(sa.text(
        "UPDATE analyses SET email_date = (SELECT date FROM emails WHERE emails.id = analyses.email_id)"))
    conn.execute(sa.text(
        "UPDATE emails SET analysed_version = coalesce("
        "(SELECT max(pipeline_version) FROM analyses a WHERE a.email_id = emails.id), '')"))
    _fill_due(conn)
    for name, lead in _ORDERS.items():
        op.create_index(name, 'analyses', ['pipeline_version', *lead, 'score', 'email_date', 'email_id'])
    op.create_index('ix_analyses_date', 'analyses', ['pipeline_version', 'email_date', 'email_id'])
    op.create_index('ix_analyses_due', 'analyses', ['pipeline_version', 'due_at'])
    op.create_index('ix_emails_deleted', 'emails', ['id'], sqlite_where=sa.text('deleted'),
                    postgresql_where=sa.text('deleted'))
    search_index.install(conn)


def _fill_due(conn: sa.engine.Connection) -> None:
    """The earliest action-item due of each stored analysis (read from its JSON)."""
    last = 0
    while True:
        rows = conn.execute(sa.text(
            "SELECT id, data FROM analyses WHERE id > :last ORDER BY id LIMIT 2000"), {"last": last}).all()
        if not rows:
            return
        updates = []
        for row_id, data in rows:
            data = json.loads(data) if isinstance(data, str) else data
            dues = [datetime.fromisoformat(x["due"]) for x in data.get("analysis", {}).get("action_items", []) if x.get("due")]
            if dues:
                due = min(d if d.tzinfo else d.replace(tzinfo=timezone.utc) for d in dues)
                updates.append({"id": row_id, "due": due.astimezone(timezone.utc)})
        if updates:
            stmt = sa.text("UPDATE analyses SET due_at = :due WHERE id = :id").bindparams(
                sa.bindparam("due", type_=UTCDateTime()))
            conn.execute(stmt, updates)
        last = rows[-1][0]


def downgrade() -> None:
    search_index.uninstall(op.get_bind())
    op.drop_index('ix_emails_deleted', 'emails')
    for name in [*_ORDERS, 'ix_analyses_date', 'ix_analyses_due']:
        op.drop_index(name, 'analyses')
    with op.batch_alter_table('analyses') as batch:
        batch.create_index('ix_analyses_level', ['level'], unique=False)
        batch.create_index('ix_analyses_kind', ['kind'], unique=False)
        batch.drop_column('due_at')
        batch.drop_column('email_date')
    with op.batch_alter_table('emails') as batch:
        batch.drop_index('ix_emails_analysed_version')
        batch.drop_column('analysed_version')
