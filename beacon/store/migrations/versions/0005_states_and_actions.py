"""states and actions: what the reader made of each email, and the log of what was done

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

``email_states`` holds at most one row per email (done, snoozed until, read, importance,
replied); no row means open, unread, no importance. ``email_actions`` is the append-only log
of actions (undo, learning and the IMAP write-back read it). Mail in a Sent folder
(the reader's own) gets a small partial index.
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


# Mail in these folders is the reader's own (beacon.store.state_sets.SENT_FOLDERS).
SENT_FOLDERS = (
    "Sent", "Sent Items", "Sent Mail", "Sent Messages", "Sent Mails", "[Gmail]/Sent Mail", "[Google Mail]/Sent Mail",
    "INBOX.Sent", "INBOX/Sent", "INBOX.Sent Items", "INBOX.Sent Messages", "Sent.mbox", "sent", "sent-mail",
    "Sent-Mail", "Gesendet", "Gesendete Objekte", "Envoyés", "Éléments envoyés", "Enviados", "Inviata",
)
SENT = "folder IN (" + ", ".join(f"'{n}'" for n in SENT_FOLDERS) + ")"


def _partial(condition: str) -> dict[str, object]:
    return {'sqlite_where': sa.text(condition), 'postgresql_where': sa.text(condition)}


def upgrade() -> None:
    op.create_table(
        'email_states',
        sa.Column('email_id', sa.Integer(), nullable=False),
        sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('snoozed_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('importance', sa.String(length=20), nullable=True),
        sa.Column('replied_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['email_id'], ['emails.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('email_id'),
    )
    op.create_index('ix_email_states_done', 'email_states', ['email_id'], **_partial('done_at IS NOT NULL'))
    op.create_index('ix_email_states_snoozed', 'email_states', ['snoozed_until', 'email_id'],
                    **_partial('snoozed_until IS NOT NULL'))
    op.create_table(
        'email_actions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('email_id', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=30), nullable=False),
        sa.Column('until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('source', sa.String(length=10), nullable=False),
        sa.Column('before', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('imap_synced_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['email_id'], ['emails.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_email_actions_email', 'email_actions', ['email_id', 'id'])
    op.create_index('ix_email_actions_user', 'email_actions', ['user_id', 'id'])
    op.create_index('ix_email_actions_unsynced', 'email_actions', ['id'], **_partial('imap_synced_at IS NULL'))
    op.create_index('ix_emails_sent', 'emails', ['account_id', 'id'], **_partial(SENT))


def downgrade() -> None:
    op.drop_index('ix_emails_sent', 'emails')
    op.drop_table('email_actions')
    op.drop_table('email_states')
