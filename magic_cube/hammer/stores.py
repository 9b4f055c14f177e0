"""The stores a run uses: fresh PostgreSQL schemas, and an engine built as the app builds it."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

from magic_cube.hammer.servers import ROOT

if TYPE_CHECKING:
    from magic_cube.engine import Engine

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_base_url() -> str:
    return os.environ.get("MAGIC_CUBE_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


@contextlib.contextmanager
def fresh_postgres(base_url: str | None = None) -> Iterator[str]:
    """The URL of a fresh schema on the server at `base_url`, dropped afterwards."""
    import psycopg
    from psycopg import sql

    base_url = base_url or postgres_base_url()
    schema = f"mc_hammer_{uuid.uuid4().hex[:12]}"
    try:
        yield with_schema(base_url, schema)
    finally:
        with psycopg.connect(base_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema)))


def make_engine(database_url: str) -> Engine:
    """An engine built as the app builds it (settings, store options, migrations)."""
    # Imported here: `magic-cube --help` should not load Flask and the engine.
    from magic_cube.app import open_app_store
    from magic_cube.catalog import Catalog
    from magic_cube.engine import Engine
    from magic_cube.settings import Settings

    settings = Settings.load({"database_url": database_url})
    store = open_app_store(settings, str(ROOT / "instance"))
    store.migrate()
    return Engine(store, Catalog.discover(), settings)
