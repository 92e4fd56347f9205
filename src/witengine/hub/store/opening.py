"""Which store a hub opens: `wit hub --store URL` (or `WIT_STORE`), SQLite in its data folder by
default. Opening a store by its URL is this module's one job; the stores do the rest."""

from __future__ import annotations

from pathlib import Path

from witengine.errors import StoreUnavailable
from witengine.hub.store.base import Store

SQLITE_FILE = "hub.sqlite3"  # the embedded default's file in the hub's data folder
POSTGRESQL_SCHEMES = ("postgresql", "postgres")


def open_store(location: str | None, data_dir: Path) -> Store:
    """The store at `location`: a `postgresql://…` URL (libpq's form, with `pool_min` and
    `pool_max` for the pool of connections), or None (or empty) for SQLite in `data_dir`."""
    if not location:
        from witengine.hub.store.sqlite import SqliteStore

        return SqliteStore(data_dir / SQLITE_FILE)
    scheme = location.partition("://")[0].lower() if "://" in location else ""
    if scheme not in POSTGRESQL_SCHEMES:
        raise StoreUnavailable(
            f"--store {location!r}: not a store this hub knows; give a postgresql:// URL "
            "(such as postgresql://wit@db.example/witengine), or none for SQLite in the data "
            "folder"
        )
    try:
        from witengine.hub.store.postgres import PostgresStore
    except ImportError as error:
        raise StoreUnavailable(
            f"--store postgresql://…: the PostgreSQL store needs psycopg ({error.name} is not "
            "installed): pip install 'witengine[postgresql]'"
        ) from None
    return PostgresStore(location)


def describe(location: str | None, data_dir: Path) -> str:
    """Where the store is, to print: the URL without its password, or the SQLite file."""
    if not location:
        return str(data_dir / SQLITE_FILE)
    from witengine.hub.store.postgres import shown_url

    return shown_url(location)
