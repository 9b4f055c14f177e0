"""Storage: the `Store` contract and its implementations. The only package with SQL."""

from __future__ import annotations

from magic_cube.store.base import Conflict, Store, Tx

__all__ = ["Conflict", "Store", "Tx", "open_store"]

# Options meaningful only to one kind of store; the other ignores them, so that a caller can
# pass its settings whichever URL it was given.
_SQLITE_ONLY = {"busy_timeout_ms", "synchronous", "pool_size"}
_POSTGRES_ONLY = {"pool_min", "pool_max", "schema", "pool_timeout", "lock_timeout_ms"}


def open_store(url: str, **options: object) -> Store:
    """A store for `url`: `sqlite:///path/to/file.db`, `sqlite://:memory:`, a bare path, or
    `postgresql://user@host:port/db` (also `postgres://`), whose query may carry `pool_min`,
    `pool_max`, `pool_timeout`, `lock_timeout_ms` and `schema` (keyword options win).
    Options of the other kind of store are ignored; unknown ones raise TypeError."""
    if url.startswith(("postgresql://", "postgres://")):
        from magic_cube.store.postgres import PostgresStore
        kept = {k: v for k, v in options.items() if k not in _SQLITE_ONLY}
        return PostgresStore(url, **kept)  # type: ignore[arg-type]
    path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
    from magic_cube.store.sqlite import SQLiteStore
    kept = {k: v for k, v in options.items() if k not in _POSTGRES_ONLY}
    return SQLiteStore(path, **kept)  # type: ignore[arg-type]
