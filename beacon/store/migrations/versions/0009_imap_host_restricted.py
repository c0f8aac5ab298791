"""IMAP accounts entered in the web keep their host checked at every connection

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

``accounts.imap_host_restricted`` is true for an account a user saved in the web: Beacon then
connects only to public addresses of its host, checked when it connects (a name can resolve to
a private address after it was saved). Existing accounts stay unrestricted: whether the web or
the operator's command line made them is not known.
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('accounts') as batch:
        batch.add_column(sa.Column('imap_host_restricted', sa.Boolean(), nullable=False,
                                   server_default=sa.text('false')))


def downgrade() -> None:
    with op.batch_alter_table('accounts') as batch:
        batch.drop_column('imap_host_restricted')
