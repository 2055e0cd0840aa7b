"""Helpers of the row-feed tests: small CSV files, applying them, reading tables back, the test catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from server_stub.feeds import FeedReport, apply_feed
from tests.server import factories

CUSTOMERS_HEADER = "customer_id,name,msisdns,plan_id,plan_name,monthly_fee,tenure_months\n"


def csv_file(directory: Path, name: str, content: str, encoding: str = "utf-8") -> Path:
    path = directory / name
    path.write_bytes(content.encode(encoding))
    return path


def apply(engine, kind: str, path: Path, **options: Any) -> FeedReport:
    return apply_feed(engine, kind, path, **options)


def rows(engine, sql: str, **params: Any) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql), params)]


def scalar(engine, sql: str, **params: Any) -> Any:
    with engine.connect() as connection:
        return connection.execute(text(sql), params).scalar()


def add_customers(engine, directory: Path, *ids: str) -> None:
    """Customers the other kinds can refer to, through the customers feed itself."""
    body = "".join(f"{customer_id},客户{customer_id},,P-1,畅享套餐,58,12\n" for customer_id in ids)
    report = apply(engine, "customers", csv_file(directory, "base-customers.csv", CUSTOMERS_HEADER + body))
    assert report.inserted == len(ids)


def add_catalog(engine) -> None:
    """The test catalog: offers (PLAN-5G-199, CARE-CHECKUP …), campaign CMP-FAMILY with waves 1-3."""
    with Session(engine) as session:
        factories.add_catalog(session)


def counts(report: FeedReport) -> tuple[int, int, int, int, int, int]:
    return report.inserted, report.updated, report.unchanged, report.deleted, report.retired, report.rejected
