"""A first load of customers (an empty table): PostgreSQL COPYs each chunk straight into customers and
customer_numbers; SQLite skips the comparisons a table with nothing in it cannot need. Either way the tables
end exactly as the checked path leaves them, and every error of the checked path is still found."""

from __future__ import annotations

import pytest

from server_stub.feeds import FeedFailure
from server_stub.feeds import runner as feed_runner
from server_stub.feeds.writer import TableWriter
from tests.feeds._feeds import CUSTOMERS_HEADER, apply, counts, csv_file, rows, scalar

# Customers with no number, one, three (stored primary first, the others sorted), a number two share.
BODY = ("A1,王芳,13800000001,P-1,畅享套餐,58,12\n"
        "A2,李强,,P-2,5G 套餐,129,30\n"
        "A3,张敏,13900000003;13700000009;13800000005,P-1,畅享套餐,58,3\n"
        "A4,刘洋,13800000001,P-3,商务套餐,299,60\n"
        "A5,陈静,13600000006,P-2,5G 套餐,129,1\n")
CUSTOMER_COLUMNS = ("customer_id, name, plan_id, plan_name, monthly_fee_fen, tenure_months, value_tier, segments, "
                    "retired_at, late_payments_6m, downgrades_12m, dnd, attributes")


def customers(engine) -> list[tuple]:
    return rows(engine, f"SELECT {CUSTOMER_COLUMNS} FROM customers ORDER BY customer_id")


def numbers(engine) -> list[tuple]:
    return rows(engine, "SELECT msisdn, customer_id, is_primary FROM customer_numbers ORDER BY msisdn, customer_id")


@pytest.fixture(params=[2, 50_000], ids=["chunks-of-2", "one-chunk"])
def chunk_rows(request, monkeypatch):
    monkeypatch.setattr(feed_runner, "CHUNK_ROWS", request.param)
    return request.param


def test_a_first_load_leaves_the_tables_as_the_checked_path_does(migrated_engine, tmp_path, chunk_rows, monkeypatch):
    path = csv_file(tmp_path, "customers.csv", CUSTOMERS_HEADER + BODY)

    report = apply(migrated_engine, "customers", path)
    assert counts(report) == (5, 0, 0, 0, 0, 0)
    loaded = customers(migrated_engine), numbers(migrated_engine)
    assert loaded[1] == [("13600000006", "A5", True), ("13700000009", "A3", False), ("13800000001", "A1", True),
                         ("13800000001", "A4", True), ("13800000005", "A3", False), ("13900000003", "A3", True)]
    stamps = rows(migrated_engine, "SELECT DISTINCT updated_at FROM customers")
    assert len(stamps) == 1 and stamps[0][0] is not None

    # The same file through the checked path (staged, merged with SQL) into the same, emptied tables.
    with migrated_engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM customer_numbers")
        connection.exec_driver_sql("DELETE FROM customers")
    monkeypatch.setattr(TableWriter, "loads_directly", lambda self: False)
    assert counts(apply(migrated_engine, "customers", path)) == (5, 0, 0, 0, 0, 0)
    assert (customers(migrated_engine), numbers(migrated_engine)) == loaded


def test_a_first_load_then_the_same_file_changes_nothing_and_a_delta_changes_numbers(migrated_engine, tmp_path,
                                                                                    chunk_rows):
    path = csv_file(tmp_path, "customers.csv", CUSTOMERS_HEADER + BODY)
    apply(migrated_engine, "customers", path)

    assert counts(apply(migrated_engine, "customers", path)) == (0, 0, 5, 0, 0, 0)
    delta = csv_file(tmp_path, "delta.csv", CUSTOMERS_HEADER + "A2,李强,13500000002,P-2,5G 套餐,129,30\n")
    assert counts(apply(migrated_engine, "customers", delta)) == (0, 1, 0, 0, 0, 0)
    assert rows(migrated_engine, "SELECT msisdn FROM customer_numbers WHERE customer_id = 'A2'") == [("13500000002",)]


def test_a_key_repeated_in_a_first_load_is_located_and_nothing_is_written(migrated_engine, tmp_path, chunk_rows):
    path = csv_file(tmp_path, "customers.csv", CUSTOMERS_HEADER + BODY + "A2,李强,,P-9,重复,1,1\n")

    with pytest.raises(FeedFailure) as failure:
        apply(migrated_engine, "customers", path)
    [problem] = failure.value.report.problems
    assert (problem.line, problem.column) == (7, "customer_id")
    assert "of line 3" in problem.en
    assert scalar(migrated_engine, "SELECT count(*) FROM customers") == 0
    assert scalar(migrated_engine, "SELECT count(*) FROM customer_numbers") == 0

    report = apply(migrated_engine, "customers", path, max_rejects=1)  # the first line of A2 wins
    assert counts(report) == (5, 0, 0, 0, 0, 1)
    assert rows(migrated_engine, "SELECT plan_id FROM customers WHERE customer_id = 'A2'") == [("P-2",)]


def test_a_first_load_with_delete_rows_and_rejected_lines_is_applied_the_checked_way(migrated_engine, tmp_path,
                                                                                    chunk_rows):
    header = CUSTOMERS_HEADER.rstrip("\n") + ",op\n"
    body = "".join(line + ",\n" for line in BODY.splitlines()) + "A9,,,,,,,D\n"
    path = csv_file(tmp_path, "customers.csv", header + body)

    report = apply(migrated_engine, "customers", path)
    # The delete of a customer nobody has changes nothing; the five are loaded.
    assert counts(report) == (5, 0, 1, 0, 0, 0)
    assert len(numbers(migrated_engine)) == 6

    # --full with a bad line (tenure not a number) within --max-rejects, into empty tables again.
    with migrated_engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM customer_numbers")
        connection.exec_driver_sql("DELETE FROM customers")
    bad = csv_file(tmp_path, "full.csv", CUSTOMERS_HEADER + BODY + "A6,赵磊,,P-1,畅享套餐,58,很久\n")
    report = apply(migrated_engine, "customers", bad, full=True, max_rejects=1)
    assert counts(report) == (5, 0, 0, 0, 0, 1)
    assert scalar(migrated_engine, "SELECT count(*) FROM customers WHERE retired_at IS NULL") == 5


def test_a_full_first_load_retires_nothing(migrated_engine, tmp_path, chunk_rows):
    path = csv_file(tmp_path, "customers.csv", CUSTOMERS_HEADER + BODY)

    assert counts(apply(migrated_engine, "customers", path, full=True)) == (5, 0, 0, 0, 0, 0)
    assert scalar(migrated_engine, "SELECT count(*) FROM customers WHERE retired_at IS NULL") == 5
    smaller = csv_file(tmp_path, "smaller.csv", CUSTOMERS_HEADER + BODY.split("\n", 1)[1])
    assert counts(apply(migrated_engine, "customers", smaller, full=True)) == (0, 0, 4, 0, 1, 0)  # A1 retired


def test_known_customers_given_their_first_numbers_count_as_updated(migrated_engine, tmp_path):
    # Customers first fed without numbers (customer_numbers still empty), then with them.
    without = BODY.replace("13800000001", "").replace("13900000003;13700000009;13800000005", "") \
        .replace("13600000006", "")
    apply(migrated_engine, "customers", csv_file(tmp_path, "without.csv", CUSTOMERS_HEADER + without))
    assert scalar(migrated_engine, "SELECT count(*) FROM customer_numbers") == 0

    report = apply(migrated_engine, "customers", csv_file(tmp_path, "with.csv", CUSTOMERS_HEADER + BODY))
    assert counts(report) == (0, 4, 1, 0, 0, 0)  # A2 has no number in either file
    assert len(numbers(migrated_engine)) == 6
