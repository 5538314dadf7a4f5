"""contacts search index on SQLite: FTS5 trigram table over contacts.search_text

PostgreSQL already has its trigram GIN index (ix_contacts_search_text_trgm); this gives
SQLite the same substring search from an index. Nothing happens on PostgreSQL, nor on a
SQLite without FTS5's trigram tokenizer (3.34+): search scans there, as before.

Revision ID: contacts0003
Revises: loyalty0001
Create Date: 2026-11-27 15:20:00
"""

from collections.abc import Sequence

from alembic import op

from app.contacts.search_index import create_sqlite_search_index, drop_sqlite_search_index

revision: str = "contacts0003"
down_revision: str | None = "loyalty0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        create_sqlite_search_index(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        drop_sqlite_search_index(op.get_bind())
