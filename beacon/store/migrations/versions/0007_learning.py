"""learning: one row per user with what the per-user model learned from the reader's actions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

``learning_models`` keeps each reader's online model (weights as JSON, never pickled) and the
counts its reasons quote; deleting it is "forget what you learned".
"""
from alembic import op
import sqlalchemy as sa

from beacon.store.schema import UTCDateTime

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'learning_models',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('state', sa.JSON(), nullable=False),
        sa.Column('events', sa.Integer(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE', name='fk_learning_models_user'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_learning_models_user', 'learning_models', ['user_id'], unique=True)


def downgrade() -> None:
    op.drop_index('ix_learning_models_user', table_name='learning_models')
    op.drop_table('learning_models')
