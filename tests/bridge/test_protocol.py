"""The bridge's pure parts: commands, results, token file, Host/Origin rules, schemas, config keys."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import jsonschema_rs
import pytest

from desktop.calls import bridge_protocol
from desktop.calls.bridge import is_loopback_host, normalize_origin, resolve_token, token_path
from desktop.calls.bridge_protocol import (
    BridgeRefusal,
    call_result,
    decode_json,
    parse_command,
    state_snapshot,
)
from desktop.calls.events import CALL_STATES, CallEvent
from desktop.calls.router import CallRouter
from desktop.domain.events import SyncStateChanged
from desktop.domain.states import SyncState
from desktop.services.config import ConfigError, config_as_dict, load_config
from plugin_sdk import protocol
from tests.bridge.conftest import validate


def call(**fields):
    return {"v": 1, "type": "call", **fields}


# --- commands -----------------------------------------------------------------------------------------


def test_a_call_command_becomes_a_call_event_from_the_bridge():
    command = parse_command(call(call_id="c1", state="ringing", ani="+86 138 0013 8000"), expected_type="call")
    assert command.type == "call" and command.message_id is None
    # The number is kept as + and ASCII digits (docs/bridge.md, "Call events").
    assert command.event == CallEvent(call_id="c1", state="ringing", ani="+8613800138000", source="bridge")


@pytest.mark.parametrize(("message", "field", "code"), [
    ({"type": "call", "call_id": "c", "state": "ringing", "ani": "1"}, "v", "invalid_field"),
    (call(call_id="c", state="ringing", ani="1") | {"v": 2}, "v", "unsupported_version"),
    (call(call_id="c", state="ringing", ani="1") | {"v": True}, "v", "unsupported_version"),
    (call(call_id="c", state="ringing", ani="1") | {"v": 1.0}, "v", "unsupported_version"),
    ({"v": 1, "call_id": "c", "state": "ringing"}, "type", "invalid_field"),
    (call(call_id="c", state="ringing", ani="1") | {"type": "pop"}, "type", "invalid_field"),
    (call(state="ringing", ani="1"), "call_id", "invalid_field"),
    (call(call_id=7, state="ringing", ani="1"), "call_id", "invalid_field"),
    (call(call_id="c", state="on_hold", ani="1"), "state", "invalid_field"),
    (call(call_id="c", state="ringing"), "ani", "invalid_field"),
    (call(call_id="c", state="ringing", ani="x" * 129), "ani", "invalid_field"),
    (call(call_id="c", state="ringing", ani="1", at="yesterday"), "at", "invalid_field"),
    (call(call_id="c", state="ringing", ani="1", colour="red"), "colour", "invalid_field"),
    (call(call_id="c", state="ringing", ani="1", source="crm"), "source", "invalid_field"),
    (call(call_id="c", state="ringing", ani="1", id=3), "id", "invalid_field"),
])
def test_every_bad_command_is_refused_with_400_naming_the_field(message, field, code):
    with pytest.raises(BridgeRefusal) as caught:
        parse_command(message, expected_type="call")
    refusal = caught.value
    assert (refusal.status, refusal.field, refusal.code) == (400, field, code), refusal.message
    validate(refusal.as_message())


def test_refusals_never_repeat_a_phone_number():
    for message in (call(call_id="c", state="ringing", ani="13800138000" * 20),
                    call(call_id="c", state="ringing", ani="13800138000\x00"),
                    call(call_id="c", state="ringing", ani="13800138000") | {"v": "13800138000"},
                    call(call_id="c", state="ringing", ani="13800138000") | {"type": "13800138000"}):
        with pytest.raises(BridgeRefusal) as caught:
            parse_command(message)
        assert "13800138000" not in json.dumps(caught.value.as_message())


def test_websocket_commands_carry_an_id_back():
    command = parse_command({"v": 1, "type": "state.get", "id": "q-1"}, allow_id=True)
    assert (command.type, command.message_id) == ("state.get", "q-1")
    with pytest.raises(BridgeRefusal) as caught:
        parse_command({"v": 1, "type": "panel.show", "id": 5, "now": True}, allow_id=True)
    assert caught.value.field == "now" and caught.value.as_message()["id"] == 5
    for bad_id in (True, 1.5, [1], "x" * 65, 2**60, "a\nb"):
        with pytest.raises(BridgeRefusal) as caught:
            parse_command({"v": 1, "type": "state.get", "id": bad_id}, allow_id=True)
        assert caught.value.field == "id"


@pytest.mark.parametrize(("raw", "fragment"), [
    (b"", "empty"), (b"{", "not valid JSON"), (b"\xff{}", "not UTF-8"), (b'{"v": NaN}', "NaN"),
    (b'{"v": 1, "v": 1}', "twice"), (b"[" * 100_000 + b"]" * 100_000, "nested"),
    (b'{"v": ' + b"9" * 5000 + b"}", "too large"),
])
def test_only_strict_json_is_read(raw, fragment):
    with pytest.raises(BridgeRefusal) as caught:
        decode_json(raw)
    assert caught.value.status == 400 and fragment in caught.value.message


# --- results ------------------------------------------------------------------------------------------


def test_the_result_says_what_happened_to_each_event():
    router = CallRouter()

    def send(state, **fields):
        event = CallEvent(call_id="c1", state=state, source="bridge", **fields)
        result = call_result("c1", router.handle(event))
        validate(result)
        return result["result"], result["reason"]

    assert send("ringing", ani="13800138000") == ("popped", None)
    assert send("ringing", ani="13800138000") == ("ignored", "duplicate")
    assert send("answered") == ("answered", None)
    assert send("ringing", ani="13800138000") == ("ignored", "replay")
    assert send("transferred", customer_id="C-2") == ("updated", "transfer")
    assert send("transferred", customer_id="C-2") == ("ignored", "duplicate")
    assert send("ended") == ("ended", "hangup")
    router.dismiss("c1")
    assert send("answered") == ("ignored", "closed")
    first = call_result("q1", CallRouter().handle(CallEvent(call_id="q1", state="answered", customer_id="C-9")))
    assert first["result"] == "popped" and "active" in first["detail"]  # a queue call seen first when answered


def test_state_masks_numbers_and_lists_calls_oldest_first():
    router = CallRouter()
    router.handle(CallEvent(call_id="a", state="ringing", ani="+86 138 0013 8000", source="bridge"))
    router.handle(CallEvent(call_id="b", state="answered", customer_id="C-1", source="cli"))
    pops = {"a": {"call_id": "a", "state": "live", "customer_id": "C-A", "decision_id": "d", "offers": ["O1"],
                  "update": False}}
    sync = SyncStateChanged(SyncState(pending=2, offline_since=datetime(2026, 1, 1, tzinfo=UTC))).to_json()
    snapshot = validate(state_snapshot(router.calls(), pops, sync, True))
    assert [c["call_id"] for c in snapshot["calls"]] == ["a", "b"]
    assert snapshot["calls"][0]["ani"] == "138****8000" and snapshot["calls"][0]["pop"]["customer_id"] == "C-A"
    assert snapshot["calls"][1]["state"] == "active" and snapshot["calls"][1]["pop"] is None
    assert snapshot["sync"]["kind"] == "offline" and snapshot["sync"]["pending"] == 2
    assert "13800138000" not in json.dumps(snapshot)


# --- token ----------------------------------------------------------------------------------------------


def test_the_install_token_is_made_once_private_to_the_user_and_kept(tmp_path):
    first = resolve_token(None, tmp_path / "data")
    path = token_path(tmp_path / "data")
    assert first.path == path and not first.preset and len(first.value) >= 40
    assert path.read_text().strip() == first.value
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_token(None, tmp_path / "data").value == first.value  # no expiry, no rotation by itself
    assert first.value not in repr(first) and str(path) in first.hint()


def test_a_loosened_or_damaged_token_file_is_repaired(tmp_path):
    token = resolve_token(None, tmp_path)
    if os.name == "posix":
        token.path.chmod(0o644)
        assert resolve_token(None, tmp_path).value == token.value
        assert stat.S_IMODE(token.path.stat().st_mode) == 0o600
    token.path.write_text("short\n")
    renewed = resolve_token(None, tmp_path)
    assert renewed.value != token.value and renewed.value == token.path.read_text().strip()


def test_a_preset_token_wins_and_writes_no_file(tmp_path):
    token = resolve_token("it-preset-token-1234567890", tmp_path)
    assert token.preset and token.value == "it-preset-token-1234567890" and "preset by IT" in token.hint()
    assert not token_path(tmp_path).exists()
    with pytest.raises(ValueError):
        resolve_token("short", tmp_path)


def test_config_reads_port_and_token_from_the_environment_and_checks_them(tmp_path):
    environ = {"CALLCUE_BRIDGE_PORT": "48000", "CALLCUE_BRIDGE_TOKEN": "abcdefghijklmnop-1234"}
    config = load_config(machine_file=None, user_file=None, environ=environ, cli={})
    assert config.bridge.port == 48000 and config.bridge.token == "abcdefghijklmnop-1234"
    assert config_as_dict(config)["bridge.token"] == "<set>"
    for environ, key in (({"CALLCUE_BRIDGE_PORT": "70000"}, "bridge.port"),
                         ({"CALLCUE_BRIDGE_TOKEN": "has space in it 1234"}, "bridge.token")):
        with pytest.raises(ConfigError) as caught:
            load_config(machine_file=None, user_file=None, environ=environ, cli={})
        assert caught.value.key == key
    for origins in ("*", "null", "https://crm.example.com/app", "crm.example.com", "http://127.0.0.1:0",
                    "https://crm.example.com:99999"):
        with pytest.raises(ConfigError) as caught:
            load_config(machine_file=None, user_file=None, environ={}, cli={"bridge.allowed_origins": origins})
        assert caught.value.key == "bridge.allowed_origins"
    ok = load_config(machine_file=None, user_file=None, environ={},
                     cli={"bridge.allowed_origins": "https://crm.example.com, http://127.0.0.1:8080/"})
    assert ok.bridge.allowed_origins == ("https://crm.example.com", "http://127.0.0.1:8080/")


# --- Host and Origin -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "allowed"), [
    ("127.0.0.1:47615", True), ("localhost:47615", True), ("LOCALHOST", True), ("[::1]:47615", True),
    ("127.0.0.1", True), ("evil.example.com:47615", False), ("127.0.0.1.nip.io:47615", False),
    ("localhost.:47615", False), ("127.0.0.1:port", False), ("[::1]x", False), ("", False),
    ("127.0.0.2:47615", False), ("0.0.0.0:47615", False),
    # A port is 1-65535 in ASCII digits.
    ("127.0.0.1:1", True), ("localhost:65535", True), ("[::1]:80", True), ("127.0.0.1:0", False),
    ("127.0.0.1:99999", False), ("localhost:65536", False), ("[::1]:0", False), ("127.0.0.1:", False),
    ("127.0.0.1:٤٧٦١٥", False), ("127.0.0.1:４７６１５", False), ("127.0.0.1:²", False), ("127.0.0.1:+80", False),
])
def test_only_loopback_names_pass_the_host_check(host, allowed):
    assert is_loopback_host(host) is allowed


@pytest.mark.parametrize(("origin", "normalized"), [
    ("https://CRM.example.com", "https://crm.example.com"), ("https://crm.example.com:443/", "https://crm.example.com"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"), ("http://[::1]:80", "http://[::1]"),
    ("null", None), ("file://", None), ("https://crm.example.com/path", None), ("javascript:alert(1)", None),
    ("http://127.0.0.1:0", None), ("http://127.0.0.1:99999", None), ("https://crm.example.com:0443", "https://crm.example.com"),
])
def test_origins_are_compared_in_their_canonical_form(origin, normalized):
    assert normalize_origin(origin) == normalized


# --- schemas and constants -----------------------------------------------------------------------------------


def test_every_message_type_has_a_valid_draft_2020_12_schema():
    for name in protocol.MESSAGE_TYPES:
        document = protocol.schema(name)
        jsonschema_rs.meta.validate(document)
        assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert document["properties"]["v"] == {"const": 1, "description": "protocol version"}
        assert document["properties"]["type"] == {"const": name}
    shipped = {path.name.removesuffix(".json") for path in (Path(protocol.__file__).parent / "schemas").glob("*.json")}
    assert shipped == set(protocol.MESSAGE_TYPES)


def test_the_sdk_and_the_panel_agree_on_the_protocol_constants():
    from desktop.calls import bridge

    for name in ("PROTOCOL_VERSION", "WS_SUBPROTOCOL", "TOKEN_SUBPROTOCOL_PREFIX", "MAX_MESSAGE_BYTES",
                 "COMMAND_TYPES", "REPLY_TYPES", "EVENT_TYPES", "NOTICE_TYPES"):
        assert getattr(protocol, name) == getattr(bridge_protocol, name), name
    assert protocol.DEFAULT_PORT == bridge.DEFAULT_PORT and protocol.TOKEN_FILE_NAME == bridge.TOKEN_FILE_NAME
    assert protocol.CALL_STATES == CALL_STATES
    state_defs = protocol.schema("state")["$defs"]
    assert state_defs["pop"] == protocol.schema("pop.shown")["properties"]["data"]
    assert state_defs["sync"] == protocol.schema("sync.state")["properties"]["data"]


def test_the_protocol_reference_documents_every_message_and_error_code():
    reference = (Path(__file__).resolve().parents[2] / "docs" / "bridge.md").read_text(encoding="utf-8")
    for name in protocol.MESSAGE_TYPES:
        assert f"`{name}`" in reference or f'"{name}"' in reference, f"docs/bridge.md does not mention {name}"
    for code in protocol.schema("error")["properties"]["error"]["enum"]:
        assert f"`{code}`" in reference, f"docs/bridge.md does not explain the error code {code}"
    for status in (400, 401, 403, 413, 415, 421, 503):
        assert f"| {status} |" in reference
