"""The feed kinds by name; each lives in its own module and is imported when first asked for."""

from __future__ import annotations

import importlib

from server_stub.feeds.fields import FeedKind

# Row feeds (CSV + mapping). `catalog` is the one TOML feed (server_stub/feeds/catalog.py).
ROW_KINDS = ("customers", "numbers", "usage", "bills", "complaints", "contacts", "subscriptions", "scores",
             "members")
ALL_KINDS = (*ROW_KINDS, "catalog")


def get_kind(name: str) -> FeedKind:
    if name not in ROW_KINDS:
        raise KeyError(name)
    return importlib.import_module(f"server_stub.feeds.{name}").KIND


__all__ = ["ALL_KINDS", "ROW_KINDS", "get_kind"]
