"""Fuzzing the bridge protocol's parser directly (desktop/calls/bridge_protocol.py: decode_json and
parse_command), the layer under the bridge server. The server around it (ASGI app, HTTP and WebSocket
over real sockets, hostile headers) is fuzzed in tests/bridge/test_fuzz.py; the softphone connectors'
parsers (netstrings, baresip JSON, AMI) in tests/connectors/test_fuzz_parsers.py.

Properties: bytes give a decoded value or BridgeRefusal(400, "bad_json"); a decoded value (valid commands
mutated 1-3 times, or any JSON) gives a Command or a BridgeRefusal(400) with a known code, a message and,
for a bad field, its name; a refusal never repeats the caller's number.
"""

from __future__ import annotations

import json
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from desktop.calls.bridge_protocol import BridgeRefusal, Command, decode_json, parse_command
from tests.fuzz._fuzz import JSON_VALUES, fuzz_settings, mutated

NUMBER = "13912345678"
VALID = [
    {"v": 1, "type": "call", "call_id": "c-1", "state": "ringing", "ani": NUMBER, "dnis": "10086",
     "customer_id": "C-1", "agent_id": "agent-007", "at": "2026-11-02T09:30:00Z"},
    {"v": 1, "type": "call", "call_id": "c-2", "state": "transferred", "ani": "+86 139 1234 5678"},
    {"v": 1, "type": "state.get"},
    {"v": 1, "type": "panel.show", "id": 7},
]
CODES = {"bad_json", "invalid_field", "unsupported_version"}


def _check_refusal(refusal: BridgeRefusal) -> None:
    assert refusal.status == 400 and refusal.code in CODES, (refusal.status, refusal.code)
    message = refusal.message
    assert message.strip() and len(message) < 1000, message[:300]
    assert NUMBER not in message and "139 1234 5678" not in message, message[:300]


@fuzz_settings()
@given(data=st.data())
def test_mutated_commands_parse_or_are_refused_naming_the_field(data):
    command = data.draw(mutated(data.draw(st.sampled_from(VALID))))
    allow_id = data.draw(st.booleans())
    try:
        parsed = parse_command(decode_json(json.dumps(command)), allow_id=allow_id)
    except BridgeRefusal as refusal:
        _check_refusal(refusal)
        return
    assert isinstance(parsed, Command)
    if parsed.type == "call":
        assert parsed.event is not None and parsed.event.call_id


@fuzz_settings(0.5)
@given(value=JSON_VALUES)
def test_any_json_is_a_command_or_refused(value):
    try:
        parse_command(value, allow_id=True)
    except BridgeRefusal as refusal:
        _check_refusal(refusal)


@fuzz_settings(0.5)
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200),
                     st.sampled_from([b"", b"  ", b"[" * 5000, b'{"a":1,"a":2}', b"NaN", b"1" * 5000,
                                      b'{"v": Infinity}', "\ufeff{}".encode()])))
def test_any_bytes_decode_or_are_refused_as_bad_json(raw):
    try:
        decode_json(raw)
    except BridgeRefusal as refusal:
        assert refusal.code == "bad_json"
        _check_refusal(refusal)


# Unicode (docs/bridge.md, "Text and ids" and "Numbers"): digits of any script are read as ASCII, numerals
# that are not decimal digits are refused, and so is any invisible, control or text-direction character.
_DECIMAL_DIGITS = st.characters(categories=["Nd"])
_NOT_DECIMAL_NUMERALS = st.characters(categories=["No", "Nl"])
_INVISIBLE = st.characters(categories=["Cc", "Cf", "Co", "Cs", "Zl", "Zp"]) | st.sampled_from(
    ["\u00a0", "\u3000", "\u2007", "\u202f"])


@fuzz_settings()
@given(digits=st.lists(_DECIMAL_DIGITS, min_size=5, max_size=20), plus=st.booleans())
def test_decimal_digits_of_any_script_are_read_as_ascii(digits, plus):
    ani = ("+" if plus else "") + "".join(digits)
    command = parse_command({"v": 1, "type": "call", "call_id": "u-1", "state": "ringing", "ani": ani})
    assert command.event.ani == ("+" if plus else "") + "".join(str(unicodedata.decimal(d)) for d in digits)


@fuzz_settings()
@given(numeral=_NOT_DECIMAL_NUMERALS, where=st.integers(0, len(NUMBER)))
def test_numerals_that_are_not_decimal_digits_are_refused(numeral, where):
    ani = NUMBER[:where] + numeral + NUMBER[where:]
    try:
        parse_command({"v": 1, "type": "call", "call_id": "u-2", "state": "ringing", "ani": ani})
    except BridgeRefusal as refusal:
        assert refusal.field == "ani"
        _check_refusal(refusal)
    else:
        raise AssertionError(f"U+{ord(numeral):04X} was accepted in a number")


@fuzz_settings()
@given(char=_INVISIBLE, field=st.sampled_from(["call_id", "customer_id", "agent_id", "ani"]),
       where=st.integers(1, 5))
def test_invisible_and_text_direction_characters_are_refused_in_every_field(char, field, where):
    message = {"v": 1, "type": "call", "call_id": "c-123456", "state": "ringing", "ani": NUMBER}
    base = message.get(field) or "C-123456"
    message[field] = base[:where] + char + base[where:]
    if field == "ani" and unicodedata.category(char) == "Zs":
        assert parse_command(message).event.ani == NUMBER  # any space in a number is a separator
        return
    try:
        parse_command(message)
    except BridgeRefusal as refusal:
        assert refusal.field == field and f"U+{ord(char):04X}" in refusal.message
        _check_refusal(refusal)
    else:
        raise AssertionError(f"U+{ord(char):04X} was accepted in {field}")
