"""How every row feed behaves, on SQLite and PostgreSQL: re-runs change nothing, --full retires or removes
what the file no longer holds, the delete column, bad rows located (file, line, column, value; en and zh_CN)
with --max-rejects, references checked per row, duplicates, one transaction, feed_runs, progress, the CLI."""

from __future__ import annotations

import hashlib
import io

import pytest

from server_stub.cli import main
from server_stub.feeds import FeedFailure, apply_feed
from server_stub.feeds import runner as feed_runner
from server_stub.feeds.progress import terminal_progress
from tests.feeds._feeds import (
    CUSTOMERS_HEADER,
    add_catalog,
    add_customers,
    apply,
    counts,
    csv_file,
    rows,
    scalar,
)

# One small file per kind (customers C1, C2 and the test catalog exist): what a re-run must not change.
FILES = {
    "customers": CUSTOMERS_HEADER + "N1,新客户,13800000001;13800000002,P-1,套餐,58,1\nC1,客户C1,,P-2,套餐二,88,30\n",
    "numbers": "msisdn,customer_id,is_primary\n13800000001,C1,yes\n13800000001,C2,no\n",
    "usage": "customer_id,month,data_mb,ringback_active,bill\nC1,2026-10,100,yes,10.5\nC1,2026-11,200,no,\n",
    "bills": "customer_id,month,amount,paid,due_on,paid_on\nC1,2026-10,58,58,2026-11-15,2026-11-20\n",
    "complaints": "external_id,customer_id,opened_at,category,status\nT1,C1,2026-11-30 08:00,billing,open\n",
    "contacts": "external_id,customer_id,contacted_at,channel,campaign_id,offer_id\n"
                "X1,C1,2026-11-30 08:00,ivr,,\nX2,C2,2026-11-30 09:00,sms,CMP-FAMILY,CARE-CHECKUP\n",
    "subscriptions": "customer_id,product_id,name,since\nC1,RBT-CLASSIC,彩铃,2026-01-01\n",
    "scores": "customer_id,churn_risk,price_level,model,scored_at\nC1,0.7,high,m1,2026-12-01 00:00\n",
    "members": "customer_id,campaign_id,wave,priority,reason\nC1,CMP-FAMILY,2,5,r\nC2,CMP-FAMILY,,,\n",
}
TABLES = {"customers": "customers", "numbers": "customer_numbers", "usage": "usage_monthly", "bills": "bills",
          "complaints": "complaints", "contacts": "contact_history", "subscriptions": "subscriptions",
          "scores": "customer_scores", "members": "campaign_members"}


@pytest.fixture
def world(migrated_engine, tmp_path):
    add_customers(migrated_engine, tmp_path, "C1", "C2")
    add_catalog(migrated_engine)
    return migrated_engine


def table_rows(engine, kind: str) -> list[tuple]:
    return sorted(rows(engine, f"SELECT * FROM {TABLES[kind]}"), key=repr)


# ------------------------------------------------------------------------------------------ re-runs


@pytest.mark.parametrize("kind", sorted(FILES))
def test_re_running_a_file_changes_nothing_and_says_so(world, tmp_path, kind):
    path = csv_file(tmp_path, f"{kind}.csv", FILES[kind])
    first = apply(world, kind, path)
    assert first.inserted + first.updated > 0 and first.rejected == 0
    before = table_rows(world, kind)

    again = apply(world, kind, path)

    assert (again.inserted, again.updated, again.deleted, again.retired, again.rejected) == (0, 0, 0, 0, 0)
    assert again.unchanged == again.rows_read == first.rows_read
    assert not again.changed and again.summary().split(": ", 1)[1].startswith("nothing changed")
    assert table_rows(world, kind) == before  # nothing written, not even a timestamp
    assert rows(world, "SELECT kind, status, mode FROM feed_runs WHERE kind = :kind ORDER BY run_id", kind=kind)[-2:] \
        == [(kind, "applied", "delta"), (kind, "unchanged", "delta")]


# ------------------------------------------------------------------------------------- full and delta


def test_full_customers_retires_the_absent_never_deletes_and_brings_back_the_returning(world, tmp_path):
    snapshot = csv_file(tmp_path, "all.csv", CUSTOMERS_HEADER + "C1,客户C1,,P-1,畅享套餐,58,12\n")

    report = apply(world, "customers", snapshot, full=True)

    assert counts(report) == (0, 0, 1, 0, 1, 0)  # C2 retired
    assert rows(world, "SELECT customer_id, retired_at IS NOT NULL FROM customers ORDER BY 1") == [
        ("C1", False), ("C2", True)]
    assert rows(world, "SELECT mode, deleted FROM feed_runs ORDER BY run_id DESC LIMIT 1") == [("full", 1)]

    back = apply(world, "customers", csv_file(tmp_path, "back.csv", CUSTOMERS_HEADER + "C2,客户C2,,P-1,畅享套餐,58,12\n"))
    assert counts(back) == (0, 1, 0, 0, 0, 0)
    assert scalar(world, "SELECT retired_at FROM customers WHERE customer_id = 'C2'") is None


def test_full_usage_speaks_for_the_months_it_holds_only(world, tmp_path):
    apply(world, "usage", csv_file(tmp_path, "u1.csv", "customer_id,month,data_mb\nC1,2026-09,1\nC1,2026-10,2\n"
                                                       "C2,2026-10,3\n"))

    report = apply(world, "usage", csv_file(tmp_path, "u2.csv", "customer_id,month,data_mb\nC1,2026-10,2\n"), full=True)

    assert counts(report) == (0, 0, 1, 0, 1, 0)  # C2's October removed; September is not in the file: kept
    assert rows(world, "SELECT customer_id, month FROM usage_monthly ORDER BY 1, 2") == [
        ("C1", "2026-09"), ("C1", "2026-10")]


def test_full_members_replaces_the_lists_of_the_campaigns_it_names(world, tmp_path):
    apply(world, "members", csv_file(tmp_path, "m1.csv", FILES["members"]))

    report = apply(world, "members", csv_file(tmp_path, "m2.csv", "customer_id,campaign_id\nC2,CMP-FAMILY\n"), full=True)

    assert (report.retired, report.unchanged) == (1, 1)  # C1 off the list; C2 as it was
    assert rows(world, "SELECT customer_id, wave FROM campaign_members") == [("C2", None)]


def test_full_complaints_removes_fed_complaints_only(world, tmp_path):
    with world.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO complaints (customer_id, opened_at, category, status, severity) "
            "VALUES ('C2', '2026-11-01 00:00:00.000000', 'service', 'open', 'normal')")
    apply(world, "complaints", csv_file(tmp_path, "c1.csv", FILES["complaints"] + "T2,C2,2026-11-30 09:00,network,open\n"))

    report = apply(world, "complaints", csv_file(tmp_path, "c2.csv", FILES["complaints"]), full=True)

    assert report.retired == 1  # T2; the complaint that did not come from the feed stays
    assert rows(world, "SELECT external_id FROM complaints ORDER BY complaint_id") == [(None,), ("T1",)]


def test_a_full_file_without_a_usable_row_is_refused(world, tmp_path):
    with pytest.raises(FeedFailure, match="holds no usable row"):
        apply(world, "customers", csv_file(tmp_path, "empty.csv", CUSTOMERS_HEADER), full=True)
    assert scalar(world, "SELECT count(*) FROM customers WHERE retired_at IS NOT NULL") == 0


def test_with_max_rejects_a_rejected_line_still_holds_its_row_in_a_full_file(world, tmp_path):
    snapshot = csv_file(tmp_path, "all.csv", CUSTOMERS_HEADER + "C1,客户C1,,P-1,畅享套餐,58,12\n"
                                                                 "C2,客户C2,,P-1,畅享套餐,不是数字,12\n")

    report = apply(world, "customers", snapshot, full=True, max_rejects=1)

    assert (report.rejected, report.retired) == (1, 0)  # C2's line is bad, but C2 is in the snapshot
    assert scalar(world, "SELECT count(*) FROM customers WHERE retired_at IS NOT NULL") == 0


# ---------------------------------------------------------------------------------- the delete column


def test_delete_rows_retire_customers_and_remove_other_rows(world, tmp_path):
    apply(world, "numbers", csv_file(tmp_path, "n1.csv", FILES["numbers"]))
    apply(world, "usage", csv_file(tmp_path, "u1.csv", FILES["usage"]))

    numbers = apply(world, "numbers", csv_file(tmp_path, "n2.csv", "msisdn,customer_id,op\n13800000001,C2,删除\n"
                                                                     "13899999999,C1,D\n"))
    usage = apply(world, "usage", csv_file(tmp_path, "u2.csv", "customer_id,month,op\nC1,2026-10,delete\n"))
    people = apply(world, "customers", csv_file(tmp_path, "c.csv", "customer_id,op\nC2,D\nC1,\n"))

    assert counts(numbers) == (0, 0, 1, 1, 0, 0)  # the pair (number, C2) only; the unknown pair: nothing to do
    assert rows(world, "SELECT msisdn, customer_id FROM customer_numbers") == [("13800000001", "C1")]
    assert counts(usage) == (0, 0, 0, 1, 0, 0)
    assert rows(world, "SELECT month FROM usage_monthly") == [("2026-11",)]
    assert counts(people) == (0, 0, 1, 1, 0, 0)  # C2 retired (still there), C1 unchanged
    assert rows(world, "SELECT customer_id, retired_at IS NOT NULL FROM customers ORDER BY 1") == [
        ("C1", False), ("C2", True)]


def test_an_unknown_operation_is_a_located_bad_row(world, tmp_path):
    path = csv_file(tmp_path, "ops.csv", "customer_id,month,data_mb,op\nC1,2026-10,1,X\n")

    with pytest.raises(FeedFailure) as failure:
        apply(world, "usage", path)

    [problem] = failure.value.report.problems
    assert (problem.line, problem.column, problem.value) == (2, "op", "X")
    assert "neither a delete (D, delete, 删除)" in problem.en and "删除标记" in problem.zh


# ----------------------------------------------------------------------------------------- bad rows


def test_a_bad_row_is_located_in_both_languages_and_nothing_is_written(world, tmp_path):
    path = csv_file(tmp_path, "usage.csv", "customer_id,month,data_mb,voice_min\nC1,2026-10,1,2\n"
                                           "C1,2026-11,lots,2\nC1,2026-13,1,2\n")

    with pytest.raises(FeedFailure) as failure:
        apply(world, "usage", path)

    assert failure.value.en == "usage.csv: 2 bad row(s), more than --max-rejects 0 allows: nothing was written"
    assert "未写入任何内容" in failure.value.zh
    first, second = failure.value.report.problems
    assert (first.file, first.line, first.column, first.value) == ("usage.csv", 3, "data_mb", "lots")
    assert first.text() == "usage.csv:3, column 'data_mb': \"lots\" is not a whole number"
    assert first.text("zh_CN") == "usage.csv 第 3 行，列「data_mb」：\"lots\" 不是整数"
    assert (second.line, second.column, second.value) == (4, "month", "2026-13")
    assert scalar(world, "SELECT count(*) FROM usage_monthly") == 0
    assert rows(world, "SELECT status, rows_read, rejected, file_sha256 FROM feed_runs WHERE kind = 'usage'") == [
        ("failed", 3, 2, hashlib.sha256(path.read_bytes()).hexdigest())]


def test_a_record_over_several_lines_is_located_at_its_first_line(world, tmp_path):
    path = csv_file(tmp_path, "complaints.csv", (
        "external_id,customer_id,opened_at,category,status,summary_zh\n"
        'T1,C1,2026-11-30 08:00,billing,open,"第一行\n第二行"\n'  # lines 2-3
        'T2,C1,2026-11-30 08:00,billing,lost,"一\n二\n三"\n'  # lines 4-6: bad status
        "T3,C1,yesterday,billing,open,\n"  # line 7
    ))

    with pytest.raises(FeedFailure) as failure:
        apply(world, "complaints", path)

    assert [(p.line, p.column, p.value) for p in failure.value.report.problems] == [
        (4, "status", "lost"), (7, "opened_at", "yesterday")]


def test_numbers_and_names_are_redacted_in_problems(world, tmp_path):
    path = csv_file(tmp_path, "numbers.csv", "msisdn,customer_id\n13912345678x,C1\n13912345678,C1\n13912345678,C1\n")

    with pytest.raises(FeedFailure) as failure:
        apply(world, "numbers", path)

    problems = failure.value.report.problems
    assert [(p.line, p.column, p.value) for p in problems] == [(2, "msisdn", None), (4, "customer_id", "C1")]
    assert all("13912345678" not in p.en + p.zh for p in problems)
    assert problems[1].en == "repeats the key (msisdn <redacted>, customer_id C1) of line 3 (kept that one)"


def test_max_rejects_applies_the_rest_within_and_nothing_over(world, tmp_path):
    body = "customer_id,month,data_mb\nC1,2026-10,1\nC1,2026-11,x\nC2,2026-10,y\nC2,2026-11,4\n"
    path = csv_file(tmp_path, "usage.csv", body)

    with pytest.raises(FeedFailure, match="2 bad row"):
        apply(world, "usage", path, max_rejects=1)
    assert scalar(world, "SELECT count(*) FROM usage_monthly") == 0

    report = apply(world, "usage", path, max_rejects=2)
    assert counts(report) == (2, 0, 0, 0, 0, 2)
    assert [problem.line for problem in report.problems] == [3, 4]
    assert rows(world, "SELECT customer_id, month FROM usage_monthly ORDER BY 1, 2") == [
        ("C1", "2026-10"), ("C2", "2026-11")]


REFERENCES = {
    "numbers": ("msisdn,customer_id\n13800000001,C1\n13800000002,NOBODY\n", "customer_id", "NOBODY",
                "unknown customer NOBODY: import the customers feed first"),
    "members": ("customer_id,campaign_id\nC1,CMP-FAMILY\nC2,CMP-NONE\n", "campaign_id", "CMP-NONE",
                "unknown campaign CMP-NONE (or retired): import the catalog first"),
    "members-wave": ("customer_id,campaign_id,wave\nC1,CMP-FAMILY,1\nC2,CMP-FAMILY,9\n", "wave", "9",
                     "campaign CMP-FAMILY has no wave 9"),
    "contacts": ("external_id,customer_id,contacted_at,channel,offer_id\nA,C1,2026-11-01,sms,\n"
                 "B,C2,2026-11-01,sms,NO-OFFER\n", "offer_id", "NO-OFFER",
                 "unknown offer NO-OFFER: it is in no catalog imported here"),
    "contacts-campaign": ("external_id,customer_id,contacted_at,channel,campaign_id\nA,C1,2026-11-01,sms,\n"
                          "B,C2,2026-11-01,sms,CMP-NONE\n", "campaign_id", "CMP-NONE",
                          "unknown campaign CMP-NONE: import the catalog first"),
    "usage": ("customer_id,month\nC1,2026-10\nNOBODY,2026-10\n", "customer_id", "NOBODY",
              "unknown customer NOBODY: import the customers feed first"),
    "scores": ("customer_id,churn_risk\nC1,0.1\nNOBODY,0.2\n", "customer_id", "NOBODY",
               "unknown customer NOBODY: import the customers feed first"),
}


@pytest.mark.parametrize("case", sorted(REFERENCES))
def test_references_are_checked_per_row(world, tmp_path, case):
    kind = case.split("-")[0]
    content, column, value, message = REFERENCES[case]
    path = csv_file(tmp_path, f"{kind}.csv", content)

    with pytest.raises(FeedFailure) as failure:
        apply(world, kind, path)

    [problem] = failure.value.report.problems
    assert (problem.line, problem.column, problem.value, problem.en) == (3, column, value, message)
    assert problem.zh != problem.en
    assert scalar(world, f"SELECT count(*) FROM {TABLES[kind]}") == 0

    report = apply(world, kind, path, max_rejects=1)  # the good row alone
    assert (report.inserted, report.rejected) == (1, 1)


@pytest.mark.parametrize("chunk_rows", [2, 50_000])
def test_a_key_repeated_in_the_file_keeps_its_first_line(world, tmp_path, monkeypatch, chunk_rows):
    # PostgreSQL merges chunk by chunk and notices repeated keys at the end: the file is then applied again,
    # line by line; within a chunk the merge itself trips over them. Either way the first line wins.
    monkeypatch.setattr(feed_runner, "CHUNK_ROWS", chunk_rows)
    path = csv_file(tmp_path, "usage.csv", "customer_id,month,data_mb\nC1,2026-10,1\nC2,2026-10,2\nC1,2026-11,3\n"
                                           "C1,2026-10,4\nC2,2026-11,5\n")

    with pytest.raises(FeedFailure) as failure:
        apply(world, "usage", path)
    [problem] = failure.value.report.problems
    assert (problem.line, problem.column) == (5, "month")
    assert problem.en == "repeats the key (customer_id C1, month 2026-10) of line 2 (kept that one)"
    assert scalar(world, "SELECT count(*) FROM usage_monthly") == 0

    report = apply(world, "usage", path, max_rejects=1)
    assert (report.inserted, report.rejected, report.rows_read) == (4, 1, 5)
    assert rows(world, "SELECT month, data_mb FROM usage_monthly WHERE customer_id = 'C1' ORDER BY month") == [
        ("2026-10", 1), ("2026-11", 3)]


# ------------------------------------------------------------------------------- one transaction


def test_a_fatal_error_late_in_the_file_leaves_nothing_half_done(world, tmp_path, monkeypatch):
    monkeypatch.setattr(feed_runner, "CHUNK_ROWS", 2)  # PostgreSQL has merged the first chunks by then
    good = "".join(f"C{1 + n % 2},2026-{1 + n:02d},{n}\n" for n in range(10))
    path = csv_file(tmp_path, "usage.csv", "customer_id,month,data_mb\n" + good)
    path.write_bytes(path.read_bytes() + "C1,2026-11,\xe9\n".encode("latin-1"))

    with pytest.raises(FeedFailure) as failure:
        apply(world, "usage", path)

    assert failure.value.en.startswith("usage.csv is not utf-8 text: byte 0xe9 on line 12 cannot be decoded.")
    assert "第 12 行" in failure.value.zh
    assert scalar(world, "SELECT count(*) FROM usage_monthly") == 0
    assert rows(world, "SELECT status FROM feed_runs WHERE kind = 'usage'") == [("failed",)]


def test_a_mapping_of_another_kind_or_an_unknown_kind_is_refused(world, tmp_path):
    path = csv_file(tmp_path, "usage.csv", FILES["usage"])
    with pytest.raises(FeedFailure, match=r"mapping ibm-telco\.toml is for customers feeds, not usage"):
        apply_feed(world, "usage", path, "ibm-telco")
    with pytest.raises(FeedFailure, match="'holdings' is not a feed kind"):
        apply_feed(world, "holdings", path)


def test_feed_runs_record_what_each_run_did(world, tmp_path):
    path = csv_file(tmp_path, "scores.csv", FILES["scores"] + "C2,0.2,low,m1,\n")
    apply(world, "scores", path)
    apply(world, "scores", csv_file(tmp_path, "scores2.csv", "customer_id,churn_risk\nC1,0.9\n"), full=True)

    assert rows(world, "SELECT file_name, mode, status, rows_read, inserted, updated, unchanged, deleted, rejected "
                       "FROM feed_runs WHERE kind = 'scores' ORDER BY run_id") == [
        ("scores.csv", "delta", "applied", 2, 2, 0, 0, 0, 0),
        ("scores2.csv", "full", "applied", 1, 0, 1, 0, 1, 0)]
    digest = scalar(world, "SELECT file_sha256 FROM feed_runs WHERE file_name = 'scores.csv'")
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()


def test_progress_is_told_the_phases_and_the_bytes_read(world, tmp_path, monkeypatch):
    monkeypatch.setattr(feed_runner, "PROGRESS_EVERY", 10)
    body = "".join(f"C{1 + n % 2},{2000 + n // 12}-{1 + n % 12:02d},{n}\n" for n in range(100))
    path = csv_file(tmp_path, "usage.csv", "customer_id,month,data_mb\n" + body)
    calls = []

    apply(world, "usage", path, progress=lambda *call: calls.append(call))

    phases = [call[0] for call in calls]
    assert phases[0] == "read" and phases[-2:] == ["write", "done"]
    reading = [call for call in calls if call[0] == "read"]
    assert [call[1] for call in reading] == list(range(0, 101, 10))
    assert all(call[3] == path.stat().st_size for call in calls)
    assert calls[-1][1:3] == (100, path.stat().st_size)


def test_terminal_progress_draws_on_a_terminal_only():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    with terminal_progress("usage u.csv", io.StringIO()) as progress:
        assert progress is None  # a pipe: the summary line alone
    screen = Terminal()
    with terminal_progress("usage u.csv", screen, lang="zh_CN") as progress:
        progress("read", 5000, 50, 100)
        progress("done", 10000, 100, 100)
    assert "usage u.csv" in screen.getvalue()


def test_the_catalog_kind_goes_to_the_catalog_feed(migrated_engine, tmp_path, monkeypatch):
    from server_stub.feeds import catalog

    seen = []
    monkeypatch.setattr(catalog, "apply_catalog", lambda engine, path, full=False: seen.append((path, full)) or "r")

    assert apply_feed(migrated_engine, "catalog", tmp_path / "catalog.toml", full=True) == "r"
    assert seen == [(tmp_path / "catalog.toml", True)]


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_exit_codes_and_messages(world, tmp_path, capsys):
    url = world.url.render_as_string(hide_password=False)
    good = csv_file(tmp_path, "good.csv", FILES["usage"])
    bad = csv_file(tmp_path, "bad.csv", "customer_id,month,data_mb\nC1,2026-10,1\nC1,2026-11,x\n")

    assert main(["import", "usage", str(good), "--database-url", url]) == 0
    assert capsys.readouterr().out.startswith("usage good.csv: applied; read 2 rows: 2 new")

    assert main(["import", "usage", str(bad), "--database-url", url, "--lang", "zh_CN"]) == 2
    captured = capsys.readouterr()
    assert "bad.csv 第 3 行，列「data_mb」：\"x\" 不是整数" in captured.err
    assert "callcue-server: bad.csv：1 行有误，超过 --max-rejects 0 的允许范围：未写入任何内容" in captured.err
    assert captured.out == ""

    assert main(["import", "usage", str(bad), "--database-url", url, "--max-rejects", "1"]) == 1
    captured = capsys.readouterr()
    assert "bad.csv:3, column 'data_mb': \"x\" is not a whole number" in captured.err
    assert "0 new, 1 updated" in captured.out and "1 rejected" in captured.out


@pytest.mark.shared_data
def test_cli_imports_the_ibm_file_with_its_mapping(migrated_engine, shared_data_dir, capsys):
    url = migrated_engine.url.render_as_string(hide_password=False)
    path = shared_data_dir / "telco_customer_churn_ibm.csv"

    assert main(["import", "customers", str(path), "--mapping", "ibm-telco", "--database-url", url]) == 0
    assert "read 7,043 rows: 7,043 new" in capsys.readouterr().out
    assert main(["import", "customers", str(path), "--mapping", "ibm-telco", "--database-url", url]) == 0
    assert "nothing changed (already applied); read 7,043 rows: 0 new, 0 updated, 7,043 unchanged" in \
        capsys.readouterr().out
    assert scalar(migrated_engine, "SELECT count(*) FROM customers") == 7043


def test_a_large_change_on_postgresql_refreshes_the_planners_statistics(world, tmp_path, monkeypatch):
    """Pops right after a first load must not run on plans made for empty tables (bench/feed_import.py saw
    pop p99 at 200/s of ~100 ms on a just-loaded database until autovacuum came by)."""
    if world.dialect.name != "postgresql":
        pytest.skip("SQLite plans from its indexes alone")

    def analyzed(table: str) -> int:
        return scalar(world, "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = :t", t=table)

    before = analyzed("customers"), analyzed("customer_numbers")
    small = csv_file(tmp_path, "small.csv", CUSTOMERS_HEADER + "S-1,甲,13800000001,P-1,畅享套餐,58,12\n")
    apply(world, "customers", small)
    assert (analyzed("customers"), analyzed("customer_numbers")) == before  # a small change: autovacuum's job
    monkeypatch.setattr(feed_runner, "ANALYZE_AFTER_ROWS", 2)
    larger = csv_file(tmp_path, "larger.csv", CUSTOMERS_HEADER + "".join(
        f"L-{n},乙,1390000000{n},P-1,畅享套餐,58,12\n" for n in range(3)))
    apply(world, "customers", larger)
    assert analyzed("customers") == before[0] + 1 and analyzed("customer_numbers") == before[1] + 1
