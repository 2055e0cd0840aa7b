"""The feed writer without CSV (server_stub.feeds.writer): what a generator calls with typed rows, on SQLite
and PostgreSQL — upserts, unchanged rows counted, deletes, --full, references refused, JSON and times."""

from __future__ import annotations

import datetime as dt

import pytest

from server_stub.feeds import FeedFailure, TableWriter, open_writer
from server_stub.feeds.writer import import_connection
from tests.feeds._feeds import add_catalog, add_customers, rows, scalar

USAGE_COLUMNS = ("customer_id", "month", "data_mb", "voice_min", "ringback_active", "bill_fen")


def usage_rows(months: int, data_mb: int = 100) -> list[tuple]:
    return [(customer, f"2026-{month:02d}", data_mb + month, 60, month % 2 == 0, 5800)
            for customer in ("C1", "C2") for month in range(1, months + 1)]


@pytest.mark.parametrize("chunk_rows", [3, 10_000])
def test_typed_rows_are_upserted_and_unchanged_ones_counted(migrated_engine, tmp_path, chunk_rows):
    add_customers(migrated_engine, tmp_path, "C1", "C2")

    with open_writer(migrated_engine, "usage", USAGE_COLUMNS) as writer:
        writer.chunk_rows = chunk_rows
        writer.write(usage_rows(6))
        first = writer.finish()
    assert (first.inserted, first.updated, first.unchanged) == (12, 0, 0)

    changed = [row for row in usage_rows(6) if row[:2] != ("C2", "2026-06")]  # deleted below instead
    changed[0] = ("C1", "2026-01", 999, 60, False, 5800)
    with open_writer(migrated_engine, "usage", USAGE_COLUMNS) as writer:
        writer.chunk_rows = chunk_rows
        writer.write(changed)
        writer.delete([("C2", "2026-06"), ("C2", "2031-01")])
        again = writer.finish()

    assert (again.inserted, again.updated, again.unchanged, again.deleted, again.delete_noops) == (0, 1, 10, 1, 1)
    assert scalar(migrated_engine, "SELECT data_mb FROM usage_monthly WHERE customer_id = 'C1' AND month = '2026-01'") \
        == 999
    assert scalar(migrated_engine, "SELECT count(*) FROM usage_monthly") == 11


def test_json_times_and_dates_round_trip(migrated_engine, tmp_path):
    opened = dt.datetime(2026, 11, 30, 0, 15, tzinfo=dt.UTC)
    with open_writer(migrated_engine, "customers", ("customer_id", "segments", "attributes", "contract_end",
                                                    "star_level")) as writer:
        writer.write([("G1", ["family", "heavy_data"], {"partner": True, "城市": "杭州"}, dt.date(2027, 6, 30), 4)])
        assert writer.finish().inserted == 1
    with open_writer(migrated_engine, "complaints", ("external_id", "customer_id", "opened_at", "category",
                                                     "status")) as writer:
        writer.write([("T1", "G1", opened, "billing", "open")])
        writer.finish()

    from sqlalchemy.orm import Session

    from server_stub.db.models import Complaint, Customer

    with Session(migrated_engine) as session:
        customer = session.get(Customer, "G1")
        complaint = session.query(Complaint).one()
    assert customer.segments == ["family", "heavy_data"]
    assert customer.attributes == {"partner": True, "城市": "杭州"}
    assert (customer.contract_end, customer.star_level, customer.value_tier) == (dt.date(2027, 6, 30), 4, "standard")
    assert customer.updated_at is not None and customer.retired_at is None
    assert complaint.opened_at == opened

    with open_writer(migrated_engine, "customers", ("customer_id", "segments", "attributes")) as writer:
        writer.write([("G1", ["family", "heavy_data"], {"partner": True, "城市": "杭州"})])
        assert writer.finish().unchanged == 1


def test_a_full_write_removes_what_it_does_not_hold(migrated_engine, tmp_path):
    add_customers(migrated_engine, tmp_path, "C1", "C2")
    with open_writer(migrated_engine, "scores", ("customer_id", "churn_risk")) as writer:
        writer.write([("C1", 0.5), ("C2", 0.6)])
        writer.finish()

    with open_writer(migrated_engine, "scores", ("customer_id", "churn_risk"), full=True) as writer:
        writer.write([("C2", 0.6)])
        result = writer.finish()

    assert (result.unchanged, result.retired) == (1, 1)
    assert rows(migrated_engine, "SELECT customer_id FROM customer_scores") == [("C2",)]


def test_bad_references_refuse_the_whole_write(migrated_engine, tmp_path):
    add_customers(migrated_engine, tmp_path, "C1")
    add_catalog(migrated_engine)

    with open_writer(migrated_engine, "members", ("customer_id", "campaign_id", "wave")) as writer:
        writer.write([("C1", "CMP-FAMILY", 1), ("C1", "CMP-OTHER", None)])
        with pytest.raises(FeedFailure, match=r"1 members row\(s\) refused: row 2: unknown campaign CMP-OTHER"):
            writer.finish()

    assert scalar(migrated_engine, "SELECT count(*) FROM campaign_members") == 0


def test_a_repeated_key_is_refused_even_when_the_check_is_deferred(migrated_engine, tmp_path):
    add_customers(migrated_engine, tmp_path, "C1")
    with import_connection(migrated_engine) as connection:
        writer = TableWriter(connection, "usage", ("customer_id", "month", "data_mb"), defer_duplicates=True)
        writer.write([("C1", "2026-10", 1), ("C1", "2026-11", 2)])
        writer.write([("C1", "2026-10", 3)])  # another batch, the same key
        with pytest.raises(FeedFailure, match="repeat"):
            writer.finish()

    assert scalar(migrated_engine, "SELECT count(*) FROM usage_monthly") == 0


def test_columns_are_checked_when_the_writer_is_made(migrated_engine):
    with pytest.raises(ValueError, match="usage_monthly has no column 'no_such'"), \
            open_writer(migrated_engine, "usage", ("customer_id", "month", "no_such")):
        pass
    with pytest.raises(ValueError, match="the key column"), open_writer(migrated_engine, "usage", ("customer_id",)):
        pass
