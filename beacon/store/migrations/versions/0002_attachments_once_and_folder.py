"""attachments stored once (in the raw message), folder on each email

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

Attachment bytes were stored twice: inside the compressed raw message and decoded in
``attachments.data``. New rows record the MIME part path instead and leave ``data`` empty;
rows written before keep their bytes (readable as before). Emails gain ``folder``.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('emails') as batch:
        batch.add_column(sa.Column('folder', sa.String(length=500), nullable=True))
    with op.batch_alter_table('attachments') as batch:
        batch.add_column(sa.Column('part', sa.String(length=200), nullable=True))
        batch.alter_column('data', existing_type=sa.LargeBinary(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('attachments') as batch:
        batch.alter_column('data', existing_type=sa.LargeBinary(), nullable=False)
        batch.drop_column('part')
    with op.batch_alter_table('emails') as batch:
        batch.drop_column('folder')
