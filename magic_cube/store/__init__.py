"""Storage: the `Store` contract and its implementations. The only package with SQL."""

from __future__ import annotations

from magic_cube.store.base import Conflict, Store, Tx

__all__ = ["Conflict", "Store", "Tx", "open_store"]


def open_store(url: str, **options: object) -> Store:
    """A store for `url`: `sqlite:///path/to/file.db`, `sqlite://:memory:`, or a bare path."""
    if url.startswith(("postgresql://", "postgres://")):
        raise NotImplementedError("the PostgreSQL store is not part of this build yet")
    path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
    from magic_cube.store.sqlite import SQLiteStore
    return SQLiteStore(path, **options)  # type: ignore[arg-type]
