"""parse_call_event: strict, clear errors that name the field and never echo a phone number."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.calls.events import CALL_STATES, CallEvent, InvalidCallEvent, parse_call_event

PHONE = "+8613912345678"


def test_a_complete_event_parses_and_round_trips() -> None:
    data = {
        "call_id": "c-1",
        "state": "ringing",
        "ani": PHONE,
        "dnis": "10086",
        "customer_id": "CUST-9",
        "agent_id": "a-7",
        "source": "baresip",
        "at": "2026-11-02T09:30:00+08:00",
    }
    event = parse_call_event(data)
    assert event == CallEvent(
        "c-1", "ringing", PHONE, "10086", "CUST-9", "a-7", "baresip", datetime(2026, 11, 2, 1, 30, tzinfo=UTC)
    )
    assert parse_call_event(event.as_dict()) == event


def test_optional_fields_default_and_blank_text_counts_as_absent() -> None:
    event = parse_call_event({"call_id": " c-2 ", "state": "ended", "ani": "  ", "dnis": ""})
    assert event == CallEvent(call_id="c-2", state="ended")
    assert event.source == "unknown"


def test_the_transport_names_the_source() -> None:
    event = parse_call_event({"call_id": "c", "state": "ended", "source": "spoofed"}, source="cli")
    assert event.source == "cli"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"state": "ringing", "ani": PHONE}, "call_id"),
        ({"call_id": "", "state": "ringing", "ani": PHONE}, "call_id"),
        ({"call_id": 17, "state": "ringing", "ani": PHONE}, "call_id"),
        ({"call_id": "x" * 129, "state": "ringing", "ani": PHONE}, "call_id"),
        ({"call_id": "c\nforged log line", "state": "ended"}, "call_id"),
        ({"call_id": "c"}, "state"),
        ({"call_id": "c", "state": "RINGING", "ani": PHONE}, "state"),
        ({"call_id": "c", "state": "on_hold"}, "state"),
        ({"call_id": "c", "state": "ringing"}, "ani"),
        ({"call_id": "c", "state": "ringing", "ani": 8613912345678}, "ani"),
        ({"call_id": "c", "state": "ringing", "ani": PHONE * 10}, "ani"),
        ({"call_id": "c", "state": "ended", "dnis": ["10086"]}, "dnis"),
        ({"call_id": "c", "state": "ended", "customer_id": {"id": 1}}, "customer_id"),
        ({"call_id": "c", "state": "ended", "agent_id": True}, "agent_id"),
        ({"call_id": "c", "state": "ended", "source": 3.5}, "source"),
        ({"call_id": "c", "state": "ended", "at": "yesterday"}, "at"),
        ({"call_id": "c", "state": "ended", "at": "2026-11-02T09:30:00"}, "at"),
        ({"call_id": "c", "state": "ended", "at": "0001-01-01T00:00:00+01:00"}, "at"),
        ({"call_id": "c", "state": "ended", "at": 1_700_000_000_000}, "at"),
        ({"call_id": "c", "state": "ended", "at": float("nan")}, "at"),
        ({"call_id": "c", "state": "ended", "at": True}, "at"),
    ],
)
def test_bad_events_name_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidCallEvent) as caught:
        parse_call_event(data)
    assert caught.value.field == field
    assert f"'{field}'" in str(caught.value)


@pytest.mark.parametrize("data", [None, "call", ["c", "ringing"], 42])
def test_a_non_object_is_refused(data: object) -> None:
    with pytest.raises(InvalidCallEvent, match="must be an object"):
        parse_call_event(data)


def test_unknown_fields_are_named_but_odd_keys_are_not_echoed() -> None:
    with pytest.raises(InvalidCallEvent, match="'callid'"):
        parse_call_event({"callid": "c", "state": "ended"})
    with pytest.raises(InvalidCallEvent) as caught:
        parse_call_event({"call_id": "c", "state": "ended", PHONE: "x"})
    assert PHONE not in str(caught.value)
    assert "1 other(s)" in str(caught.value)


def test_the_phone_number_never_appears_in_errors_or_reprs() -> None:
    for data in (
        {"call_id": "c", "state": "ringing", "ani": PHONE + "\x00"},
        {"call_id": "c", "state": PHONE, "ani": PHONE},
        {"call_id": "c", "state": "ringing", "ani": PHONE, "dnis": 5},
    ):
        with pytest.raises(InvalidCallEvent) as caught:
            parse_call_event(data)
        assert PHONE not in str(caught.value)
    event = parse_call_event({"call_id": "c", "state": "ringing", "ani": PHONE, "dnis": PHONE})
    assert PHONE not in repr(event)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-02T01:30:00Z", datetime(2026, 11, 2, 1, 30, tzinfo=UTC)),
        (1_793_583_000, datetime.fromtimestamp(1_793_583_000, UTC)),
        (1_793_583_000.5, datetime.fromtimestamp(1_793_583_000.5, UTC)),
        (
            datetime(2026, 11, 2, 9, 30, tzinfo=timezone(timedelta(hours=8))),
            datetime(2026, 11, 2, 1, 30, tzinfo=UTC),
        ),
    ],
)
def test_timestamps_become_utc(value: object, expected: datetime) -> None:
    assert parse_call_event({"call_id": "c", "state": "ended", "at": value}).at == expected


# --- fuzzing: whatever arrives, the only failure is InvalidCallEvent --------------------------------------

_json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=200)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_field_names = st.sampled_from(["call_id", "state", "ani", "dnis", "customer_id", "agent_id", "source", "at"])
_plausible_values = (
    st.sampled_from([*CALL_STATES, "", " ", PHONE, "2026-11-02T01:30:00Z", "2026-13-40", "c-1"])
    | st.text(max_size=140)
    | st.datetimes(timezones=st.none() | st.timezones())
    | _json_values
)
_events = st.dictionaries(_field_names, _plausible_values, max_size=8) | st.dictionaries(
    st.text(max_size=10) | _field_names, _json_values, max_size=6
)


@settings(max_examples=500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_events | _json_values)
def test_random_input_raises_only_invalid_call_event(data: object) -> None:
    try:
        event = parse_call_event(data)
    except InvalidCallEvent as exc:
        assert PHONE not in str(exc)
        return
    assert event.state in CALL_STATES
    assert event.call_id and len(event.call_id) <= 128
    assert event.at is None or event.at.tzinfo is UTC
    if PHONE not in (event.call_id, event.customer_id, event.agent_id, event.source):  # these are echoed
        assert PHONE not in repr(event)


# --- Unicode: digits of any script are read, look-alikes refused (docs/bridge.md, "Text and ids", "Numbers") --

DIGITS = "13912345678"


@pytest.mark.parametrize(
    ("ani", "expected"),
    [
        ("١٣٩١٢٣٤٥٦٧٨", DIGITS),  # Arabic-Indic
        ("۱۳۹۱۲۳۴۵۶۷۸", DIGITS),  # Extended Arabic-Indic (Persian, Urdu)
        ("１３９１２３４５６７８", DIGITS),  # full-width
        ("१३९१२३४५६७८", DIGITS),  # Devanagari
        ("１３９１２３４5678", DIGITS),  # mixed
        ("＋８６ （１３９） １２３４－５６７８", "+86" + DIGITS),  # full-width plus, parentheses, dash
        ("+86\u00a0139\u30001234 5678", "+86" + DIGITS),  # no-break and ideographic spaces
        ("+86 139-1234.5678 / ", "+86" + DIGITS),
        ("anonymous", "anonymous"),  # no digit: names no number, kept as before
        ("<sip:+86139-1234-5678@pbx.example;user=phone>", "+86" + DIGITS),  # a softphone's caller URI
        ("SIP:13912345678@10.0.0.1", DIGITS),
        ("tel:+86-139-1234-5678", "+86" + DIGITS),
    ],
)
def test_caller_numbers_in_any_script_are_kept_as_ascii_digits(ani: str, expected: str) -> None:
    event = parse_call_event({"call_id": "c", "state": "ringing", "ani": ani, "dnis": "١٠٠٨٦"})
    assert event.ani == expected and event.dnis == "10086"


@pytest.mark.parametrize(
    ("ani", "reason"),
    [
        ("1391234567⁸", "U+2078"),  # superscript: never silently a digit, never silently dropped
        ("¹3912345678", "U+00B9"),
        ("139123456₇8", "U+2087"),  # subscript
        ("①3912345678", "U+2460"),  # circled
        ("13912345678½", "U+00BD"),  # fraction
        ("Ⅻ3912345678", "U+216B"),  # Roman numeral
        ("⒈3912345678", "U+2488"),  # digit full stop
        ("㏠3912345678", "U+33E0"),  # no numeric value, but its compatibility form '1日' holds a digit
        ("139\u200b12345678", "U+200B"),  # zero width space
        ("\u202e13912345678", "U+202E"),  # right-to-left override
        ("139 1234 5678\u2066", "U+2066"),  # left-to-right isolate
        ("139 1234 5678 ext 12", "phone number"),  # digits with letters
        ("sip:alice7@10.0.0.1", "phone number"),  # a URI whose user part is no number
        ("+" + "1" * 33, "phone number"),
    ],
)
def test_numbers_with_other_numerals_or_hidden_characters_are_refused(ani: str, reason: str) -> None:
    with pytest.raises(InvalidCallEvent) as caught:
        parse_call_event({"call_id": "c", "state": "ringing", "ani": ani})
    assert caught.value.field == "ani" and reason in str(caught.value)
    assert DIGITS not in str(caught.value) and "3912345678" not in str(caught.value)


INVISIBLE = [
    "\u202e", "\u202d", "\u202a", "\u2066", "\u2067", "\u2068", "\u2069",  # bidi overrides and isolates
    "\u200e", "\u200f", "\u061c",  # direction marks
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e",  # zero width, BOM, soft hyphen
    "\u00a0", "\u3000", "\u2009", "\u2028", "\u2029",  # spaces other than U+0020, line/paragraph separators
    "\x1b", "\x85", "\x7f",  # C0, C1, DEL
    "\ue000", "\ud800", "\U000e0041",  # private use, a lone surrogate, a tag character
]


@pytest.mark.parametrize("field", ["call_id", "customer_id", "agent_id", "dnis", "source"])
@pytest.mark.parametrize("char", INVISIBLE)
def test_ids_with_invisible_or_text_direction_characters_are_refused(field: str, char: str) -> None:
    data = {"call_id": "c-1", "state": "ended", field: f"pbx{char}4711"}
    if field == "dnis" and unicodedata.category(char) == "Zs":
        assert parse_call_event(data).dnis == "pbx 4711"  # a number field reads any space as a space (NFKC)
        return
    with pytest.raises(InvalidCallEvent) as caught:
        parse_call_event(data)
    assert caught.value.field == field and f"U+{ord(char):04X}" in str(caught.value)


def test_printable_ids_in_any_script_stay_as_they_are() -> None:
    event = parse_call_event({"call_id": "呼叫 4711-ä", "state": "ended", "customer_id": "客户-١", "agent_id": "坐席🙂"})
    assert (event.call_id, event.customer_id, event.agent_id) == ("呼叫 4711-ä", "客户-١", "坐席🙂")


def test_every_call_source_applies_the_same_rules() -> None:
    """The bridge, `callcue pop`, the SDK (through the router) and the connectors: one rule."""
    from desktop.calls.baresip import BaresipMessageError, call_event_from_baresip, decode_message
    from desktop.calls.bridge_protocol import BridgeRefusal, parse_command
    from desktop.calls.cli_source import pop_event_from_argv
    from desktop.calls.connector_base import number_from_uri, phone_number
    from desktop.calls.router import CallRouter, Pop

    arabic, superscript, rlo = "١٣٩١٢٣٤٥٦٧٨", "1391234567⁸", "pbx\u202e4711"
    # The local bridge.
    assert parse_command({"v": 1, "type": "call", "call_id": "b1", "state": "ringing", "ani": arabic}).event.ani == DIGITS
    for fields, field in (({"ani": superscript}, "ani"), ({"ani": DIGITS, "call_id": rlo}, "call_id")):
        with pytest.raises(BridgeRefusal) as refused:
            parse_command({"v": 1, "type": "call", "call_id": "b2", "state": "ringing", **fields})
        assert (refused.value.status, refused.value.field) == (400, field)
    # callcue pop.
    assert pop_event_from_argv(["--ani", arabic, "--call-id", "cli-1"]).ani == DIGITS
    for argv in (["--ani", superscript], ["--ani", DIGITS, "--call-id", rlo], ["--ani", f"sip:{superscript}@pbx"]):
        with pytest.raises(InvalidCallEvent):
            pop_event_from_argv(argv)
    # The SDK's call_event (PanelHandle hands the data to the router's handle_data).
    router = CallRouter()
    pops = [a for a in router.handle_data({"call_id": "s1", "state": "ringing", "ani": arabic}, source="sdk")
            if isinstance(a, Pop)]
    assert [p.key.ani for p in pops] == [DIGITS]
    for data in ({"call_id": "s2", "state": "ringing", "ani": superscript},
                 {"call_id": rlo, "state": "ringing", "ani": DIGITS}):
        with pytest.raises(InvalidCallEvent):
            router.handle_data(data, source="sdk")
    # The connectors: a caller id they cannot read is withheld (no number), never a changed one.
    assert phone_number(arabic) == DIGITS and number_from_uri(f"sip:{arabic}@pbx") == DIGITS
    assert phone_number(superscript) is None and phone_number("139\u200b12345678") is None
    incoming = {"event": True, "type": "CALL_INCOMING", "class": "call", "direction": "incoming",
                "peeruri": f"sip:{arabic}@127.0.0.1", "id": "abc"}
    assert call_event_from_baresip(decode_message(json.dumps(incoming).encode())).ani == DIGITS
    with pytest.raises(BaresipMessageError, match="U\\+202E"):
        call_event_from_baresip(decode_message(json.dumps({**incoming, "id": "a\u202eb"}).encode()))
