"""The customers feed through the CSV mappings (server_stub/feeds): the IBM sample set, bad rows located,
corrupt files, bad mappings, phone numbers shared between customers (never moved from one to another)."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from server_stub.db.models import Customer, CustomerNumber
from server_stub.feeds import FeedFailure, FeedReport, apply_feed
from server_stub.feeds import runner as feed_runner
from server_stub.feeds.cells import CellError
from server_stub.feeds.convert import RowConverter, RowRejected
from server_stub.feeds.mapping import load_mapping, shipped_mappings
from server_stub.feeds.values import parse_cell

IBM_FILE = "telco_customer_churn_ibm.csv"
IBM_ROWS = 7043
IBM_BLANK_TOTAL_CHARGES = 11
IBM_HEADER = (
    "customerID,gender,SeniorCitizen,Partner,Dependents,tenure,PhoneService,MultipleLines,InternetService,"
    "OnlineSecurity,OnlineBackup,DeviceProtection,TechSupport,StreamingTV,StreamingMovies,Contract,"
    "PaperlessBilling,PaymentMethod,MonthlyCharges,TotalCharges,Churn"
)

# A small mapping in the shape of the IBM file, plus a name and phone numbers.
SMALL_MAPPING = """\
version = 1

[fields.customer_id]
column = "customerID"
blank = "error"

[fields.name]
column = "name"

[fields.msisdns]
column = "msisdn"
separator = ";"
strip_prefixes = ["+86"]

[fields.monthly_fee]
column = "MonthlyCharges"
type = "decimal"
blank = "error"

[fields.total_charges]
column = "TotalCharges"
type = "decimal"

[fields.tenure_months]
column = "tenure"
type = "int"

[fields.contract]
column = "Contract"
type = "enum"
values = { "Month-to-month" = "month_to_month", "One year" = "one_year" }
"""
SMALL_HEADER = "customerID,name,msisdn,MonthlyCharges,TotalCharges,tenure,Contract\n"
ALL_BAD_ROWS = 1000  # --max-rejects large enough for "report every bad row, apply the rest"


def write(tmp_path, name: str, text: str, encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture
def small_mapping(tmp_path):
    return load_mapping(str(write(tmp_path, "small.toml", SMALL_MAPPING)))


def import_customers(engine, path, mapping, *, max_rejects: int = ALL_BAD_ROWS) -> FeedReport:
    return apply_feed(engine, "customers", path, mapping, max_rejects=max_rejects)


def count(engine, model) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(model))


def customer(engine, customer_id: str) -> Customer | None:
    with Session(engine) as session:
        return session.get(Customer, customer_id)


def numbers_of(engine, customer_id: str) -> list[tuple[str, bool]]:
    with Session(engine) as session:
        rows = session.execute(
            select(CustomerNumber.msisdn, CustomerNumber.is_primary)
            .where(CustomerNumber.customer_id == customer_id)
            .order_by(CustomerNumber.is_primary.desc(), CustomerNumber.msisdn)
        )
        return [tuple(row) for row in rows]


def reasons(report: FeedReport) -> dict[int, str]:
    """line -> "column: message" (several problems of one line joined by "; ")."""
    found: dict[int, list[str]] = {}
    for problem in report.problems:
        found.setdefault(problem.line, []).append(f"{problem.column}: {problem.en}" if problem.column else problem.en)
    return {line: "; ".join(texts) for line, texts in found.items()}


# ------------------------------------------------------------------------------------- IBM sample data


@pytest.mark.shared_data
def test_every_ibm_row_lands_and_blank_totals_stay_null(migrated_engine, shared_data_dir):
    report = apply_feed(migrated_engine, "customers", shared_data_dir / IBM_FILE, "ibm-telco")

    assert (report.rows_read, report.inserted, report.updated, report.rejected) == (IBM_ROWS, IBM_ROWS, 0, 0)
    assert report.problems == []
    assert count(migrated_engine, Customer) == IBM_ROWS
    assert count(migrated_engine, CustomerNumber) == 0  # the data set has no phone numbers
    with Session(migrated_engine) as session:
        blank_totals = session.scalar(select(func.count()).where(Customer.total_charges_fen.is_(None)))
        segments = session.scalars(select(Customer.segments)).all()
    assert blank_totals == IBM_BLANK_TOTAL_CHARGES
    assert sum("senior" in tags for tags in segments) == 1142  # SeniorCitizen == 1 in the file
    assert sum("fiber" in tags for tags in segments) == 3096  # InternetService == Fiber optic


@pytest.mark.shared_data
def test_an_ibm_row_is_mapped_field_by_field(migrated_engine, shared_data_dir):
    apply_feed(migrated_engine, "customers", shared_data_dir / IBM_FILE, "ibm-telco")

    # 7590-VHVEG,Female,0,Yes,No,1,No,No phone service,DSL,No,Yes,No,No,No,No,Month-to-month,Yes,
    # Electronic check,29.85,29.85,No
    row = customer(migrated_engine, "7590-VHVEG")  # what a pop by customer_id finds
    assert row is not None
    assert row.name is None  # no names in the data set: the API shows the customer id
    assert (row.gender, row.tenure_months, row.contract) == ("female", 1, "month_to_month")
    assert row.payment_method == "electronic_check"
    assert (row.monthly_fee_fen, row.total_charges_fen) == (2985, 2985)
    assert row.churn_risk == pytest.approx(0.15)  # Churn = No
    assert row.value_tier == "standard"  # 29.85 is below the 40 band
    assert row.segments == ["family"]  # Partner = Yes
    assert row.attributes["partner"] is True
    assert row.attributes["internet_service"] == "DSL"
    assert row.attributes["churned"] is False
    assert row.updated_at.tzinfo is not None
    assert row.retired_at is None
    assert numbers_of(migrated_engine, "7590-VHVEG") == []

    autopay = customer(migrated_engine, "7795-CFOCW")  # Bank transfer (automatic)
    assert autopay.payment_method == "autopay_bank"
    churned = customer(migrated_engine, "3668-QPYBK")  # Churn = Yes
    assert churned.churn_risk == pytest.approx(0.85)


@pytest.mark.shared_data
def test_reimporting_the_ibm_file_changes_nothing_and_says_so(migrated_engine, shared_data_dir):
    apply_feed(migrated_engine, "customers", shared_data_dir / IBM_FILE, "ibm-telco")
    with Session(migrated_engine) as session:
        before = session.execute(select(*Customer.__table__.c).order_by(Customer.customer_id)).all()

    again = apply_feed(migrated_engine, "customers", shared_data_dir / IBM_FILE, "ibm-telco")

    assert (again.rows_read, again.inserted, again.updated, again.unchanged) == (IBM_ROWS, 0, 0, IBM_ROWS)
    assert "nothing changed" in again.summary() and "无任何变化" in again.summary("zh_CN")
    with Session(migrated_engine) as session:
        after = session.execute(select(*Customer.__table__.c).order_by(Customer.customer_id)).all()
    assert after == before  # updated_at included: unchanged rows are not written


@pytest.mark.shared_data
def test_a_pop_by_customer_id_finds_an_imported_ibm_customer(api, migrated_engine, shared_data_dir):
    apply_feed(migrated_engine, "customers", shared_data_dir / IBM_FILE, "ibm-telco")

    pop = api.pop(customer_id="3668-QPYBK")

    shown = pop["customer"]
    assert (shown["customer_id"], shown["name"], shown["display_name"]) == ("3668-QPYBK", None, "3668-QPYBK")
    assert (shown["msisdns"], shown["contract"], shown["total_charges"]) == ([], "month_to_month", 108.15)
    assert shown["churn_risk"] == pytest.approx(0.85)


# -------------------------------------------------------------------------------------------- bad rows


def test_bad_rows_are_located_and_with_max_rejects_the_good_rows_land(migrated_engine, tmp_path, small_mapping):
    too_long_name = "Zhang" * 30
    csv_text = (
        SMALL_HEADER  # line 1
        + "A-1,Li Lei,13800138000,29.85,29.85,1,Month-to-month\n"  # 2 good
        + "A-2,Han Meimei,,abc,10,2,One year\n"  # 3 fee not a number
        + ",Nobody,,10,10,2,One year\n"  # 4 blank key
        + "A-1,Li Lei again,,10,10,2,One year\n"  # 5 duplicate key
        + "A-3,Wang Wu,,10,10,2,Weekly\n"  # 6 unknown contract
        + "A-4,Zhao Liu,,10,10\n"  # 7 too few values
        + "A-5,Sun Qi,12345-abc,10,10,2,One year\n"  # 8 phone number is garbage
        + f"A-6,{too_long_name},,10,10,2,One year\n"  # 9 name too long
        + "A-7,Zhou Ba,+86 139 0013 9000;13700137000,18.5,,3,one year\n"  # 10 good, blank total
        + "\n"  # 11 blank line: not a row
        + 'A-8,"Multi\nLine",,5,5,1,One year\n'  # 12-13 good, a quoted newline
        + "A-9,Wu Jiu,,10,-5,-1,One year\n"  # 14 negative total and tenure
        + 'A-10,"Broken"quote,,10,10,1,One year\n'  # 15 broken quoting
        + "A-11,Zheng Shi,13800138000,10,10,1,One year\n"  # 16 good: A-1's number, shared
    )
    path = write(tmp_path, "customers.csv", csv_text)

    report = import_customers(migrated_engine, path, small_mapping)

    assert report.rows_read == 13
    assert (report.inserted, report.updated, report.rejected) == (4, 0, 9)
    found = reasons(report)
    assert sorted(found) == [3, 4, 5, 6, 7, 8, 9, 14, 15]
    assert found[3] == 'MonthlyCharges: "abc" is not a number'
    assert found[4] == "customerID: is blank"
    assert found[5] == "customerID: repeats the key (customer_id A-1) of line 2 (kept that one)"
    assert found[6].startswith('Contract: "Weekly" is not one of: Month-to-month, One year')
    assert found[7].startswith("has 5 values but the header has 7 columns")
    assert found[8] == "msisdn: <redacted> is not a phone number"
    assert found[9] == "name: is longer than 100 characters"
    assert found[14] == 'TotalCharges: "-5" is negative; tenure: "-1" is out of range (0..1200)'
    assert found[15].startswith("broken CSV quoting")
    fee = next(p for p in report.problems if p.line == 3)
    assert (fee.file, fee.column, fee.value) == ("customers.csv", "MonthlyCharges", "abc")
    assert fee.text() == 'customers.csv:3, column \'MonthlyCharges\': "abc" is not a number'
    assert fee.text("zh_CN") == 'customers.csv 第 3 行，列「MonthlyCharges」："abc" 不是数字'

    # Names and numbers never show up in the problems.
    everything = " ".join(f"{p.value} {p.en} {p.zh}" for p in report.problems)
    for secret in ("Sun Qi", "12345", "Zhang", "13800138000", "Li Lei"):
        assert secret not in everything

    assert count(migrated_engine, Customer) == 4
    first, spread = customer(migrated_engine, "A-1"), customer(migrated_engine, "A-7")
    assert (first.name, first.monthly_fee_fen, first.contract) == ("Li Lei", 2985, "month_to_month")
    assert (spread.total_charges_fen, spread.monthly_fee_fen, spread.contract) == (None, 1850, "one_year")
    assert customer(migrated_engine, "A-8").name == "Multi\nLine"
    assert numbers_of(migrated_engine, "A-7") == [("13900139000", True), ("13700137000", False)]
    # One number, two customers: both keep it (a pop by it asks which customer is calling).
    assert numbers_of(migrated_engine, "A-1") == numbers_of(migrated_engine, "A-11") == [("13800138000", True)]


def test_without_max_rejects_one_bad_row_keeps_the_whole_file_out(migrated_engine, tmp_path, small_mapping):
    path = write(tmp_path, "customers.csv", SMALL_HEADER + "B-1,Bo,,10,10,1,One year\nB-2,Bi,,x,10,1,One year\n")

    with pytest.raises(FeedFailure, match=r"1 bad row\(s\), more than --max-rejects 0 allows: nothing was written"):
        import_customers(migrated_engine, path, small_mapping, max_rejects=0)

    assert count(migrated_engine, Customer) == 0


def test_reimport_upserts_replaces_numbers_of_its_customers_only_and_keeps_unmapped_columns(
    migrated_engine, tmp_path, small_mapping
):
    first = write(
        tmp_path,
        "first.csv",
        SMALL_HEADER
        + "C-1,Qian Yi,13800000001;13800000002,50,100,2,One year\n"
        + "C-2,Li Er,13800000003,20,,1,Month-to-month\n",
    )
    import_customers(migrated_engine, first, small_mapping)
    with Session(migrated_engine) as session, session.begin():
        session.execute(update(Customer).where(Customer.customer_id == "C-1").values(dnd=True, points=7))

    second = write(
        tmp_path,
        "second.csv",
        SMALL_HEADER
        + "C-1,Qian Yi,13900000009,55,155,3,One year\n"
        + "C-3,Sun San,13800000003,10,10,1,One year\n",  # C-2's number: now C-2's and C-3's
    )
    report = import_customers(migrated_engine, second, small_mapping)

    assert (report.inserted, report.updated, report.unchanged, report.rejected) == (1, 1, 0, 0)
    assert count(migrated_engine, Customer) == 3
    updated = customer(migrated_engine, "C-1")
    assert (updated.monthly_fee_fen, updated.total_charges_fen, updated.tenure_months) == (5500, 15500, 3)
    assert (updated.dnd, updated.points) == (True, 7)  # not in the mapping: left alone
    assert numbers_of(migrated_engine, "C-1") == [("13900000009", True)]
    assert numbers_of(migrated_engine, "C-2") == [("13800000003", True)]  # not in the file: untouched
    assert numbers_of(migrated_engine, "C-3") == [("13800000003", True)]


def test_a_changed_number_alone_counts_the_customer_as_updated(migrated_engine, tmp_path, small_mapping):
    import_customers(migrated_engine, write(tmp_path, "a.csv", SMALL_HEADER + "N-1,Na,13800000001,5,5,1,One year\n"),
                     small_mapping)

    report = import_customers(
        migrated_engine, write(tmp_path, "b.csv", SMALL_HEADER + "N-1,Na,13800000002,5,5,1,One year\n"), small_mapping)

    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 0)
    assert numbers_of(migrated_engine, "N-1") == [("13800000002", True)]


def test_reordered_numbers_move_the_primary_flag(migrated_engine, tmp_path, small_mapping):
    import_customers(migrated_engine, write(tmp_path, "a.csv", SMALL_HEADER + "P-1,Pa,13800000001;13800000002,5,5,1,"
                                                                              "One year\n"), small_mapping)

    report = import_customers(migrated_engine, write(tmp_path, "b.csv", SMALL_HEADER + "P-1,Pa,13800000002;"
                                                                                       "13800000001,5,5,1,One year\n"),
                              small_mapping)

    assert (report.updated, report.unchanged) == (1, 0)
    assert numbers_of(migrated_engine, "P-1") == [("13800000002", True), ("13800000001", False)]


def test_small_chunks_give_the_same_result(migrated_engine, tmp_path, small_mapping, monkeypatch):
    monkeypatch.setattr(feed_runner, "CHUNK_ROWS", 4)  # PostgreSQL merges every 4 rows
    lines = [f"B-{n},Name {n},1380000{n:04d},{n}.5,{n * 10},{n % 50},One year\n" for n in range(1, 26)]
    path = write(tmp_path, "batches.csv", SMALL_HEADER + "".join(lines))

    report = import_customers(migrated_engine, path, small_mapping)

    assert (report.rows_read, report.inserted, report.rejected) == (25, 25, 0)
    assert count(migrated_engine, CustomerNumber) == 25
    assert customer(migrated_engine, "B-25").monthly_fee_fen == 2550


# ------------------------------------------------------------------------------------ phone numbers


CHINESE_CSV = """\
客户编号,姓名,手机号码,副号码,性别,城市,月租(元),累计消费(元),在网时长(月),合约类型,缴费方式,客户等级,流失风险,客户标签,网络类型,地址
K001,张三,+86 138-0013-8000,13900139000;13700137000,男,上海,¥128.00,"1,536.50",12,两年合约,银行代扣,,85%,高价值;家庭,5G,上海市某路1号
K002,李四,13600136000,,女,无,58,,NULL,无合约,微信,金卡,0.2,,4G,
K003,王五,12,,男,广州,38,100,3,无合约,支付宝,普通,0.1,,4G,广州市某路3号
"""


def test_generic_mapping_imports_names_numbers_and_chinese_values(migrated_engine, tmp_path, caplog):
    path = write(tmp_path, "客户资料.csv", CHINESE_CSV)
    caplog.set_level(logging.DEBUG)

    report = import_customers(migrated_engine, path, load_mapping("generic"))

    assert (report.rows_read, report.inserted, report.rejected) == (3, 2, 1)
    [problem] = report.problems
    assert (problem.line, problem.column, problem.value, problem.en) == (
        4, "手机号码", None, "<redacted> is not a phone number")
    first = customer(migrated_engine, "K001")
    assert (first.name, first.gender, first.city) == ("张三", "male", "上海")
    assert (first.monthly_fee_fen, first.total_charges_fen, first.tenure_months) == (12800, 153650, 12)
    assert (first.contract, first.payment_method) == ("two_year", "autopay_bank")
    assert first.value_tier == "gold"  # derived: 128 yuan is in the 128 band
    assert first.churn_risk == pytest.approx(0.85)
    assert first.segments == ["高价值", "家庭", "net_5g"]
    assert first.attributes == {"address": "上海市某路1号"}
    assert numbers_of(migrated_engine, "K001") == [
        ("13800138000", True),
        ("13700137000", False),
        ("13900139000", False),
    ]
    second = customer(migrated_engine, "K002")
    assert (second.value_tier, second.tenure_months, second.total_charges_fen) == ("gold", 0, None)
    assert second.city is None  # 无: one of the mapping's null values
    assert numbers_of(migrated_engine, "K002") == [("13600136000", True)]

    logged = caplog.text
    for secret in ("张三", "李四", "王五", "13800138000", "13600136000", "上海市某路"):
        assert secret not in logged


def test_a_pop_by_caller_number_finds_an_imported_number(api, migrated_engine, tmp_path):
    import_customers(migrated_engine, write(tmp_path, "客户资料.csv", CHINESE_CSV), load_mapping("generic"))

    pop = api.pop(ani="+86 137 0013 7000")  # K001's third number, as the switch might send it

    assert pop["customer"]["customer_id"] == "K001"
    assert pop["customer"]["matched_msisdn"] == "13700137000"


def test_utf8_with_bom_is_accepted(migrated_engine, tmp_path, small_mapping):
    path = write(tmp_path, "bom.csv", SMALL_HEADER + "D-1,Ding,,10,10,1,One year\n", encoding="utf-8-sig")

    report = import_customers(migrated_engine, path, small_mapping)

    assert (report.inserted, report.rejected) == (1, 0)


def test_gb18030_file_imports_when_the_mapping_says_so(migrated_engine, tmp_path):
    generic = (load_mapping("generic").source).read_text(encoding="utf-8")
    mapping_path = write(tmp_path, "gbk.toml", generic.replace('encoding = "utf-8"', 'encoding = "gb18030"'))
    path = write(tmp_path, "gbk.csv", CHINESE_CSV, encoding="gb18030")

    report = import_customers(migrated_engine, path, load_mapping(str(mapping_path)))

    assert (report.inserted, report.rejected) == (2, 1)
    assert customer(migrated_engine, "K002").name == "李四"


# ---------------------------------------------------------------------------------- corrupt files


CORRUPT_FILES = {
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "NUL bytes"),
    "xlsx": (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 40, "ZIP archive"),
    "utf16": ("customerID,name\n".encode("utf-16"), "UTF-16"),
    "empty": (b"", "is empty"),
    "missing_column": (
        b"customerID,name,msisdn,TotalCharges,tenure,Contract\nE-1,Ee,,10,1,One year\n",
        "lacks column(s) that mapping small.toml requires: 'MonthlyCharges'",
    ),
    "misspelled_column": (
        b"customerID,name,msisdn,MonthlyCharge,TotalCharges,tenure,Contract\n",
        "'MonthlyCharges' (did you mean 'MonthlyCharge'?)",
    ),
    "wrong_delimiter": (
        SMALL_HEADER.replace(",", ";").encode() + b"E-1;Ee;;10;10;1;One year\n",
        'set delimiter = ";" under [csv]',
    ),
    "latin1": (
        SMALL_HEADER.encode() + "E-1,Jos\u00e9,,10,10,1,One year\n".encode("latin-1"),
        "is not utf-8 text: byte 0xe9 on line 2",
    ),
    "gb18030": (
        SMALL_HEADER.encode() + "E-1,张三,,10,10,1,One year\n".encode("gb18030"),
        'GB18030/GBK (common for Chinese Excel exports): set encoding = "gb18030"',
    ),
    "duplicate_header": (
        b"customerID,name,msisdn,MonthlyCharges,TotalCharges,tenure,Contract,tenure\n",
        "has two columns named 'tenure' (columns 6 and 8)",
    ),
    "unclosed_quote": (
        SMALL_HEADER.encode()
        + b'E-1,Ee,,10,10,1,One year\nE-2,"Ff,,10,10,1,One year\nE-3,Gg,,1,1,1,One year\n',
        "the quoted value opened on line 3 is never closed",
    ),
}


@pytest.mark.parametrize("kind", sorted(CORRUPT_FILES))
def test_corrupt_files_fail_clearly_and_write_nothing(migrated_engine, tmp_path, small_mapping, kind):
    content, expected = CORRUPT_FILES[kind]
    path = tmp_path / f"{kind}.csv"
    path.write_bytes(content)

    with pytest.raises(FeedFailure) as failure:
        import_customers(migrated_engine, path, small_mapping)

    assert expected in str(failure.value)
    assert failure.value.zh and failure.value.zh != failure.value.en  # said in zh_CN too
    assert count(migrated_engine, Customer) == 0


def test_a_fatal_error_late_in_the_file_rolls_back_earlier_chunks(migrated_engine, tmp_path, small_mapping,
                                                                   monkeypatch):
    monkeypatch.setattr(feed_runner, "CHUNK_ROWS", 2)  # PostgreSQL has merged earlier chunks by then
    good = "".join(f"F-{n},Name,,10,10,1,One year\n" for n in range(10))
    runaway = 'F-99,"' + "x" * 200_000 + "\n"  # an unclosed quote that swallows the rest of the file
    path = write(tmp_path, "late.csv", SMALL_HEADER + good + runaway)

    with pytest.raises(FeedFailure, match="never closed"):
        import_customers(migrated_engine, path, small_mapping)

    assert count(migrated_engine, Customer) == 0


def test_a_file_without_header_is_refused_without_echoing_its_data(migrated_engine, tmp_path, small_mapping):
    path = write(tmp_path, "no_header.csv", "G-1,Gao Feng,13800138000,10,10,1,One year\n")

    with pytest.raises(FeedFailure, match="Is the header line missing") as failure:
        import_customers(migrated_engine, path, small_mapping)

    assert "Gao Feng" not in str(failure.value)
    assert "13800138000" not in str(failure.value)


def test_a_missing_file_is_a_plain_failure(migrated_engine, tmp_path, small_mapping):
    with pytest.raises(FeedFailure, match="no such file"):
        import_customers(migrated_engine, tmp_path / "nope.csv", small_mapping)


# ----------------------------------------------------------------------------------------- mappings


def test_shipped_mappings_load_by_name_or_path():
    assert {"generic", "ibm-telco"} <= set(shipped_mappings())
    by_name = load_mapping("ibm-telco")
    assert by_name.version == 1
    assert by_name.fields[0].name == "customer_id"
    assert load_mapping("ibm-telco.toml") == by_name
    assert load_mapping(str(by_name.source)) == by_name


BAD_MAPPINGS = {
    "not_toml": ("version = 1\n[fields\n", "is not valid TOML"),
    "unknown_field": (
        SMALL_MAPPING.replace("[fields.monthly_fee]", "[fields.monthly_fe]"),
        "fields.monthly_fe is not a customers field (did you mean 'monthly_fee'?)",
    ),
    "unknown_type": (
        SMALL_MAPPING.replace('type = "int"', 'type = "integer"'),
        "fields.tenure_months.type 'integer' is not a type; use one of str, int, decimal, bool, enum, date, datetime",
    ),
    "type_does_not_fit": (
        SMALL_MAPPING.replace('type = "int"', 'type = "bool"'),
        "fields.tenure_months.type 'bool' does not fit this field; it takes int, enum",
    ),
    "typo_in_key": (
        SMALL_MAPPING.replace('blank = "error"', 'blnak = "error"', 1),
        "fields.customer_id.blnak unknown key (did you mean 'blank'?)",
    ),
    "no_version": (SMALL_MAPPING.replace("version = 1\n", ""), "version is missing"),
    "future_version": (SMALL_MAPPING.replace("version = 1", "version = 2"), "version is 2"),
    "no_key": (
        SMALL_MAPPING.replace('[fields.customer_id]\ncolumn = "customerID"\nblank = "error"\n', ""),
        "fields.customer_id is missing",
    ),
    "enum_without_values": (
        SMALL_MAPPING.replace(
            'values = { "Month-to-month" = "month_to_month", "One year" = "one_year" }\n', ""
        ),
        'fields.contract.values is needed with type = "enum"',
    ),
    "enum_value_not_a_code": (
        SMALL_MAPPING.replace('"month_to_month"', '"Month to month"'),
        'fields.contract.values."Month-to-month" "Month to month" is not a code',
    ),
    "blank_policy": (
        SMALL_MAPPING.replace('blank = "error"', 'blank = "skip"'),
        "fields.customer_id.blank 'skip' is not a policy",
    ),
    "bad_encoding": ('version = 1\n[csv]\nencoding = "klingon"\n' + SMALL_MAPPING[12:], "csv.encoding"),
}


@pytest.mark.parametrize("kind", sorted(BAD_MAPPINGS))
def test_bad_mappings_name_the_key(tmp_path, kind):
    text, expected = BAD_MAPPINGS[kind]
    path = write(tmp_path, f"{kind}.toml", text)

    with pytest.raises(FeedFailure) as failure:
        load_mapping(str(path))

    assert expected in str(failure.value)
    assert f"{kind}.toml" in str(failure.value)


def test_an_unknown_mapping_name_lists_the_shipped_ones():
    with pytest.raises(FeedFailure, match=r"shipped: .*ibm-telco"):
        load_mapping("no-such-mapping")


# ------------------------------------------------------------------------------- property tests

_SPECS = [
    spec
    for name in ("ibm-telco", "generic")
    for spec in (*load_mapping(name).fields, *load_mapping(name).attributes)
]
_CELL_TEXT = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"[ +-]?[0-9,]{0,12}(\.[0-9]{0,4})?[%元 ]?", fullmatch=True),
    st.sampled_from(
        ["Yes", "No", "", " ", "1", "0", "NULL", "Month-to-month", "男", "1e5", "nan", "-0", "¥"]
    ),
)


@settings(max_examples=200, deadline=None)
@given(spec=st.sampled_from(_SPECS), text=_CELL_TEXT)
def test_parsing_any_text_gives_a_value_or_a_clear_cell_error(spec, text):
    try:
        value = parse_cell(spec, text)
    except CellError as error:
        assert error.column == spec.columns[0] and error.en.strip() and error.zh.strip()
        if spec.sensitive:
            assert '"' not in error.en and error.value is None  # sensitive values are never quoted
        return
    if value is not None and spec.target.kind == "money":
        assert isinstance(value, int) and value >= 0
    if value is not None and spec.target.kind == "fraction":
        assert 0 <= value <= 1


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells=st.lists(_CELL_TEXT, min_size=21, max_size=21))
def test_converting_any_ibm_row_gives_a_row_or_a_reason(cells):
    header = IBM_HEADER.split(",")
    converter = RowConverter(load_mapping("ibm-telco"), header)
    try:
        row = converter.convert(7, cells)
    except RowRejected as rejection:
        assert rejection.problems and all(problem.en for problem in rejection.problems)
        return
    assert row[:3] == (7, 0, None)
    assert len(row) == 3 + len(converter.columns)
    assert row[3] == cells[0].strip()  # the key first


def test_a_header_only_file_reads_no_rows(migrated_engine, tmp_path, small_mapping):
    report = import_customers(migrated_engine, write(tmp_path, "h.csv", SMALL_HEADER), small_mapping)
    assert (report.rows_read, report.inserted, report.rejected, report.problems) == (0, 0, 0, [])


def test_cell_messages_quote_values_but_redact_sensitive_ones():
    mapping = load_mapping("generic")
    fee, numbers = mapping.field("monthly_fee"), mapping.field("msisdns")
    with pytest.raises(CellError) as bad_fee:
        parse_cell(fee, "abc")
    assert (bad_fee.value.column, bad_fee.value.value, bad_fee.value.en, bad_fee.value.zh) == (
        "月租(元)", "abc", '"abc" is not a number', '"abc" 不是数字')
    with pytest.raises(CellError) as bad_number:
        parse_cell(numbers, "138001380000000000000000")
    assert (bad_number.value.column, bad_number.value.value, bad_number.value.en) == (
        "手机号码", None, "<redacted> is not a phone number")
    assert parse_cell(fee, " 1,288.5元 ") == 128850
    assert parse_cell(numbers, "+86 138 0013 8000;13900139000") == ["13800138000", "13900139000"]
    with pytest.raises(CellError, match=r"is longer than 100 characters$"):
        parse_cell(mapping.field("name"), "张" * 101)
