"""The desktop's local SQLite store: outbox, local contacts, pop log and cached views (no Qt)."""

from desktop.storage.engine import StoreCorrupt, StoreError, StoreFull, StoreReadOnly
from desktop.storage.store import LocalStore, open_store, quarantine_corrupt_store

__all__ = [
    "LocalStore",
    "StoreCorrupt",
    "StoreError",
    "StoreFull",
    "StoreReadOnly",
    "open_store",
    "quarantine_corrupt_store",
]
