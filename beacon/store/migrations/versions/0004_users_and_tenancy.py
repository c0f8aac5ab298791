"""users: roles, a disabled flag, and owners for accounts, runs, jobs and personal settings

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Users gain ``is_admin`` and ``disabled``; the oldest existing user becomes the admin, so an
installation that had one user keeps full control of it. Accounts (and through them mail and
analyses), runs and analysis jobs gain an owner; account names become unique per owner.
Personal settings move to ``user_settings``. An existing single-user database is moved to
its first user; with no user yet, everything stays unowned until the first user is created
(``beacon.store.tenancy.adopt_unowned``).
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

PERSONAL = ('own_addresses', 'vip_senders', 'priority_high', 'priority_medium', 'priority_weights')
# Names the SQLite batch copy gives the unnamed constraints of 0001; PostgreSQL's own names.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    bind = op.get_bind()
    pg = bind.dialect.name == 'postgresql'
    # PostgreSQL named 0001's UNIQUE(name) itself (accounts_name_key; a downgrade of this one
    # names it uq_accounts_name); SQLite's is unnamed and gets NAMING's name in the batch copy.
    unique_name = next((u['name'] for u in sa.inspect(bind).get_unique_constraints('accounts')
                        if u['column_names'] == ['name'] and u['name']), 'uq_accounts_name')
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('is_admin', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('disabled', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('accounts', naming_convention=NAMING) as batch:
        batch.add_column(sa.Column('user_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_accounts_user', 'users', ['user_id'], ['id'], ondelete='CASCADE')
        batch.drop_constraint(unique_name if pg else 'uq_accounts_name', type_='unique')
        batch.create_unique_constraint('uq_account_user_name', ['user_id', 'name'])
        batch.create_index('ix_accounts_user', ['user_id'])
    with op.batch_alter_table('runs') as batch:
        batch.add_column(sa.Column('user_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_runs_user', 'users', ['user_id'], ['id'], ondelete='CASCADE')
        batch.create_index('ix_runs_user', ['user_id'])
    with op.batch_alter_table('analysis_jobs') as batch:
        batch.add_column(sa.Column('user_id', sa.Integer(), nullable=True))
        batch.create_index('ix_analysis_jobs_fair', ['status', 'pipeline_version', 'user_id', 'id'])
    op.create_table(
        'user_settings',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=100), nullable=False),
        sa.Column('value', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'key'),
    )
    first = "(SELECT MIN(id) FROM users)"
    op.execute(f"UPDATE users SET is_admin = TRUE WHERE id = {first}")
    op.execute(f"UPDATE accounts SET user_id = {first}")
    op.execute(f"UPDATE runs SET user_id = {first}")
    op.execute("UPDATE analysis_jobs SET user_id = (SELECT a.user_id FROM emails e JOIN accounts a "
               "ON a.id = e.account_id WHERE e.id = analysis_jobs.email_id)")
    keys = ", ".join(f"'{k}'" for k in PERSONAL)
    op.execute(f"INSERT INTO user_settings (user_id, key, value) SELECT {first}, key, value FROM app_settings "
               f"WHERE key IN ({keys}) AND {first} IS NOT NULL")
    op.execute(f"DELETE FROM app_settings WHERE key IN ({keys}) AND {first} IS NOT NULL")


def downgrade() -> None:
    op.drop_table('user_settings')
    with op.batch_alter_table('analysis_jobs') as batch:
        batch.drop_index('ix_analysis_jobs_fair')
        batch.drop_column('user_id')
    with op.batch_alter_table('runs') as batch:
        batch.drop_index('ix_runs_user')
        batch.drop_constraint('fk_runs_user', type_='foreignkey')
        batch.drop_column('user_id')
    with op.batch_alter_table('accounts') as batch:
        batch.drop_index('ix_accounts_user')
        batch.drop_constraint('uq_account_user_name', type_='unique')
        batch.drop_constraint('fk_accounts_user', type_='foreignkey')
        batch.drop_column('user_id')
        batch.create_unique_constraint('uq_accounts_name', ['name'])
    with op.batch_alter_table('users') as batch:
        batch.drop_column('disabled')
        batch.drop_column('is_admin')
