"""contacts list indexes: the list's sorts over live people (not erased, not merged)

Revision ID: contacts0002
Revises: 24318616a0d5
Create Date: 2026-11-27 12:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "contacts0002"
down_revision: str | None = "24318616a0d5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "merged_into_id IS NULL AND erased_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_sort_name_id")
        batch_op.create_index(
            "ix_contacts_live_sort_name",
            ["sort_name", "id"],
            unique=False,
            postgresql_where=sa.text(LIVE),
            sqlite_where=sa.text(LIVE),
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_contacts_live_last_interaction ON contacts "
            f"(last_interaction_at DESC NULLS LAST, id DESC) WHERE {LIVE}"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_contacts_live_last_interaction")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_contacts_live_sort_name",
            postgresql_where=sa.text(LIVE),
            sqlite_where=sa.text(LIVE),
        )
        batch_op.create_index("ix_contacts_sort_name_id", ["sort_name", "id"], unique=False)
