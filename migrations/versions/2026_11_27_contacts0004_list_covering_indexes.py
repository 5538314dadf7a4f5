"""contacts list: covering sort index, tag index that answers alone, no redundant owner index

- ix_contacts_live_sort_name also carries consent_status and tier (PostgreSQL INCLUDE), so
  the list's pages filtered by consent or tier walk the index without visiting each row.
- contact_tags is looked up by tag: (tag_id, contact_id) answers from the index alone,
  where (tag_id) had to read the table for each contact id.
- ix_contacts_owner_id is the first column of ix_contacts_owner_sort_name: one index
  less to write on every insert and tier update.

Revision ID: contacts0004
Revises: contacts0003
Create Date: 2026-11-27 18:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "contacts0004"
down_revision: str | None = "contacts0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "merged_into_id IS NULL AND erased_at IS NULL"


def _sort_index(include: list[str]) -> None:
    op.create_index(
        "ix_contacts_live_sort_name",
        "contacts",
        ["sort_name", "id"],
        postgresql_where=sa.text(LIVE),
        sqlite_where=sa.text(LIVE),
        postgresql_include=include,
    )


def upgrade() -> None:
    op.drop_index("ix_contacts_live_sort_name", table_name="contacts")
    _sort_index(["consent_status", "tier"])
    op.drop_index("ix_contact_tags_tag_id", table_name="contact_tags")
    op.create_index("ix_contact_tags_tag_contact", "contact_tags", ["tag_id", "contact_id"])
    op.drop_index("ix_contacts_owner_id", table_name="contacts")


def downgrade() -> None:
    op.create_index("ix_contacts_owner_id", "contacts", ["owner_id"])
    op.drop_index("ix_contact_tags_tag_contact", table_name="contact_tags")
    op.create_index("ix_contact_tags_tag_id", "contact_tags", ["tag_id"])
    op.drop_index("ix_contacts_live_sort_name", table_name="contacts")
    _sort_index([])
