"""parse_call_event: strict, clear errors that name the field and never echo a phone number."""

from __future__ import annotations

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
