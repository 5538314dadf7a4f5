"""Migrations are the schema: one head, upgrade from empty equals the models, downgrade works."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from app import migrate
from app.contacts.search_index import is_index_table
from app.db import make_engine
from app.models import Base
from tests.conftest import _create_postgres_database, _drop_postgres_database


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    base = os.environ.get("TEST_DATABASE_URL", "")
    if base.startswith("postgresql"):
        url = _create_postgres_database(base)
        yield url
        _drop_postgres_database(url)
    else:
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    return not (type_ == "table" and is_index_table(name))


def test_single_head() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


# SQLite cannot reflect expression indexes; the one we have is PostgreSQL-only (ddl_if).
@pytest.mark.filterwarnings(
    "ignore:autogenerate skipping metadata-specified expression-based index:UserWarning"
)
def test_upgrade_from_empty_equals_models_and_downgrade_works(empty_database: str) -> None:
    migrate.upgrade(empty_database)
    engine = make_engine(empty_database)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_name": include_name})
            diff = compare_metadata(context, Base.metadata)
        assert diff == [], f"models and migrations differ: {diff}"

        migrate.downgrade(empty_database, "base")
        with engine.connect() as conn:
            left = set(inspect(conn).get_table_names()) - {"alembic_version"}
        assert left == set()  # the SQLite search index too

        migrate.upgrade(empty_database)
        with engine.connect() as conn:
            assert set(Base.metadata.tables) <= set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
