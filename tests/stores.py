"""Both stores for tests: a SQLite file in tmp_path, or PostgreSQL in a fresh schema.

    from stores import STORE_PARAMS, make_store, store_fixture, store_url

    store = store_fixture()                  # a `store` fixture, once per kind, migrated

    @pytest.mark.parametrize("kind", STORE_PARAMS)
    def test_something(kind, tmp_path):
        url, cleanup = store_url(kind, tmp_path)   # e.g. for create_app's `database_url`

PostgreSQL is the server at `MAGIC_CUBE_TEST_POSTGRES_URL` (default
`postgresql://postgres@127.0.0.1:5432/test`). When it cannot be reached, its tests are
skipped on a developer's machine, but fail when `CI=true` or when the variable is set: a CI run
that silently skipped the PostgreSQL half would prove nothing about it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from magic_cube.store import Store, open_store

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
STORE_PARAMS = ["sqlite", "postgresql"]

_reachable: dict[str, str | None] = {}  # url -> None if reachable, else why not


def postgres_url() -> str:
    return os.environ.get("MAGIC_CUBE_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def _unreachable(url: str) -> str | None:
    """Why the server at `url` cannot be used (None: it can); asked once per process."""
    if url not in _reachable:
        import psycopg
        try:
            with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
                conn.execute("SELECT 1")
            _reachable[url] = None
        except psycopg.Error as exc:
            _reachable[url] = f"{type(exc).__name__}: {exc}".strip()
    return _reachable[url]


def require_postgres() -> str:
    """The test server's URL; skips the test when it is down, except in CI (or when the URL
    was given explicitly), where a down server fails the test."""
    url = postgres_url()
    why = _unreachable(url)
    if why is not None:
        message = f"PostgreSQL at {url} is unreachable ({why})"
        if os.environ.get("CI", "").lower() in ("true", "1") \
                or os.environ.get("MAGIC_CUBE_TEST_POSTGRES_URL"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return url


def _drop_schema(url: str, schema: str) -> None:
    import psycopg
    from psycopg import sql
    with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def store_url(kind: str, tmp_path: Path) -> tuple[str, Callable[[], None]]:
    """(database URL, cleanup) of an empty database of `kind`: a SQLite file in `tmp_path`, or
    a fresh PostgreSQL schema (`?schema=…`, created by the first `migrate`, dropped by
    `cleanup`; close every store using it first)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}", lambda: None
    if kind != "postgresql":
        raise ValueError(f"unknown store kind {kind!r}")
    url = require_postgres()
    schema = f"mc_test_{uuid.uuid4().hex[:16]}"
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}schema={schema}", lambda: _drop_schema(url, schema)


def make_store(kind: str, tmp_path: Path, migrate: bool = True,
               **options: object) -> tuple[Store, Callable[[], None]]:
    """(store, cleanup) of `kind` on an empty database, migrated unless `migrate` is False;
    `cleanup` closes the store and drops what it created."""
    url, drop = store_url(kind, tmp_path)
    store = open_store(url, **options)

    def cleanup() -> None:
        try:
            store.close()
        finally:
            drop()

    if migrate:
        try:
            store.migrate()
        except BaseException:
            cleanup()
            raise
    return store, cleanup


def store_fixture(name: str = "store", migrate: bool = True, **options: object):
    """A pytest fixture named `name`, parametrized over `STORE_PARAMS`, giving a store on an
    empty database (migrated unless `migrate` is False); assign it to a module-level name or
    import it into a conftest.py."""

    @pytest.fixture(params=STORE_PARAMS, name=name)
    def _store(request, tmp_path):
        store, cleanup = make_store(request.param, tmp_path, migrate, **options)
        yield store
        cleanup()

    return _store
