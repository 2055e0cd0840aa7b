"""Fuzzing the CSV feeds (server_stub/feeds): mapping files and CSV files.

- Mapping TOML: the shipped mappings (every kind's standard mapping, generic, ibm-telco), parsed, mutated
  1-3 times (keys deleted, nulled, emptied, wrapped, stringified, replaced by any value) and written back as
  TOML, plus cut-off and arbitrary text: parse_mapping gives a Mapping or a FeedFailure that starts with
  "mapping <name>".
- CSV: files with the mapping's header (sometimes shuffled or cut short) and rows of odd cells, odd
  delimiters, quotes, blank lines, BOMs and arbitrary bytes, applied to a real SQLite database with every bad
  row allowed (--max-rejects): a FeedReport whose counts add up and whose problems give a line and a
  reason, or a FeedFailure; names and numbers (sensitive) are never quoted in a problem.
"""

from __future__ import annotations

import json
import math
import tempfile
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server_stub.db.engine import make_engine, upgrade
from server_stub.feeds import FeedFailure, FeedReport, apply_feed
from server_stub.feeds.mapping import Mapping, load_mapping, mappings_dir, parse_mapping
from tests.fuzz._fuzz import ODD_TEXT, fuzz_settings, mutated

SHIPPED = {path.stem: tomllib.loads(path.read_text(encoding="utf-8")) for path in sorted(mappings_dir().glob("*.toml"))}


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value("" if v is None else v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()
                               if v is not None) + "}"
    return json.dumps(str(value))


def toml_document(table: dict) -> str:
    """Every top-level key as `key = <inline value>`: valid TOML for any nesting."""
    return "\n".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in table.items() if v is not None) + "\n"


def test_the_shipped_mappings_survive_the_writer():
    for name, table in SHIPPED.items():
        assert isinstance(parse_mapping(toml_document(table), name=name), Mapping)


def _clear_failure(error: FeedFailure, prefix: str) -> None:
    message = str(error)
    assert message.startswith(prefix) and len(message) < 2000 and "Traceback" not in message, message[:300]
    assert error.zh.strip() and len(error.zh) < 2000


@fuzz_settings()
@given(data=st.data())
def test_any_mutated_mapping_parses_or_fails_naming_the_mapping(data):
    name = data.draw(st.sampled_from(sorted(SHIPPED)))
    text = toml_document(data.draw(mutated(SHIPPED[name])))
    if data.draw(st.integers(0, 9)) == 0:
        text = text[: data.draw(st.integers(0, len(text)))]
    try:
        mapping = parse_mapping(text, name=name)
    except FeedFailure as error:
        _clear_failure(error, f"mapping {name}")
        return
    assert isinstance(mapping, Mapping)


@fuzz_settings(0.5)
@given(text=st.text(max_size=200))
def test_any_text_as_a_mapping_parses_or_fails_naming_the_mapping(text):
    try:
        parse_mapping(text, name="fuzzed")
    except FeedFailure as error:
        _clear_failure(error, "mapping fuzzed")


@fuzz_settings(0.5)
@given(data=st.one_of(st.binary(max_size=200), st.sampled_from([b"\xef\xbb\xbfversion = 1\n", b"\xff\xfe",
                                                                 b"version = 1\n[fields.customer_id]\n"])))
def test_any_bytes_as_a_mapping_file_load_or_fail_naming_the_file(data):
    with tempfile.TemporaryDirectory(prefix="callcue-mapping-fuzz-") as directory:
        path = Path(directory) / "carrier.toml"
        path.write_bytes(data)
        try:
            load_mapping(path)
        except FeedFailure as error:
            _clear_failure(error, "mapping carrier")


# --------------------------------------------------------------------------------------------------------
# CSV files
# --------------------------------------------------------------------------------------------------------

MAPPING_TEXT = """\
version = 1
[csv]
null_values = ["NULL", "-"]
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
[fields.tenure_months]
column = "tenure"
type = "int"
[fields.contract]
column = "Contract"
type = "enum"
values = { "Month-to-month" = "month_to_month", "One year" = "one_year" }
[fields.churn_risk]
column = "churn"
type = "decimal"
[attributes]
senior = { column = "SeniorCitizen", type = "bool", required = false }
"""
HEADER = ["customerID", "name", "msisdn", "MonthlyCharges", "tenure", "Contract", "churn", "SeniorCitizen"]
SECRET_NAME = "Zq9名字"  # in every name cell: row errors must never quote it
SECRET_DIGITS = "13912345678"  # in every number cell
CELLS = {
    "customerID": st.one_of(st.from_regex(r"C-[0-9]{1,4}", fullmatch=True), ODD_TEXT),
    "name": st.text(max_size=8).map(lambda t: SECRET_NAME + t),
    "msisdn": st.sampled_from([SECRET_DIGITS, "+86" + SECRET_DIGITS, SECRET_DIGITS + ";" + SECRET_DIGITS,
                               SECRET_DIGITS + "x", SECRET_DIGITS[:6], "0086-" + SECRET_DIGITS + "9"]),
    "MonthlyCharges": st.one_of(st.sampled_from(["29.85", "1,234.50", "¥12", "-1", "1e400", "NULL", "", "abc"]),
                                ODD_TEXT),
    "tenure": st.one_of(st.integers(-5, 2**40).map(str), ODD_TEXT),
    "Contract": st.one_of(st.sampled_from(["Month-to-month", "one year", "Two year", ""]), ODD_TEXT),
    "churn": st.sampled_from(["0.2", "85%", "1.5", "-0", "nan", "inf", "", "-"]),
    "SeniorCitizen": st.sampled_from(["Yes", "No", "1", "0", "maybe", ""]),
}


def csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n\r') else text


@st.composite
def csv_files(draw) -> bytes:
    header = draw(st.one_of(st.just(HEADER), st.permutations(HEADER),
                            st.lists(st.sampled_from(HEADER), max_size=len(HEADER))))
    lines = [",".join(header)]
    for _ in range(draw(st.integers(0, 6))):
        cells = [draw(CELLS[column]) for column in header]
        extra = draw(st.sampled_from([[], [], ["extra"], None]))
        if extra is None:
            cells = cells[: draw(st.integers(0, len(cells)))]  # a short row
        else:
            cells += extra
        lines.append(",".join(csv_cell(c) for c in cells))
        if draw(st.integers(0, 7)) == 0:
            lines.append("")  # a blank line
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    data = ending.join(lines).encode("utf-8", errors="surrogatepass") + ending.encode()
    kind = draw(st.integers(0, 9))
    if kind == 0:
        data = b"\xef\xbb\xbf" + data
    elif kind == 1:
        data = data[: draw(st.integers(0, len(data)))]
    elif kind == 2:
        data = draw(st.binary(max_size=200))
    return data


@pytest.fixture(scope="module")
def import_target():
    with tempfile.TemporaryDirectory(prefix="callcue-import-fuzz-") as directory:
        engine = make_engine(f"sqlite:///{Path(directory) / 'server.sqlite3'}")
        upgrade(engine)
        yield engine, Path(directory), parse_mapping(MAPPING_TEXT, name="fuzz")
        engine.dispose()


@fuzz_settings(0.5)
@given(data=csv_files())
def test_any_csv_file_imports_or_fails_clearly_and_never_quotes_names_or_numbers(import_target, data):
    engine, directory, mapping = import_target
    path = directory / "customers.csv"
    path.write_bytes(data)
    try:
        report = apply_feed(engine, "customers", path, mapping, max_rejects=10_000)
    except FeedFailure as error:
        for message in (error.en, error.zh):
            assert message.strip() and "Traceback" not in message, message[:300]
            assert SECRET_NAME not in message and SECRET_DIGITS not in message, message[:300]
        return
    assert isinstance(report, FeedReport)
    assert report.inserted + report.updated + report.unchanged + report.deleted + report.rejected == report.rows_read
    assert len({problem.line for problem in report.problems}) <= report.rejected
    for problem in report.problems:
        assert problem.line >= 2 and problem.en.strip() and problem.zh.strip() and problem.file == "customers.csv"
        for text in (problem.en, problem.zh, problem.value or ""):
            assert SECRET_NAME not in text and SECRET_DIGITS not in text, problem
