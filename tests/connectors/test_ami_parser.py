"""The AMI reader and call tracker as pure code (the transcripts test them over TCP)."""

from __future__ import annotations

import pytest

from desktop.calls.ami import (
    AmiCallTracker,
    AmiMessage,
    AmiMessageError,
    AmiProtocolError,
    AmiReader,
    device_of,
    encode_action,
)

BANNER = b"Asterisk Call Manager/7.0.3\r\n"


def test_reader_splits_messages_across_any_chunking_and_keeps_keys_case_insensitive():
    stream = BANNER + b"Response: Success\r\nActionID: a1\r\nMessage: Authentication accepted\r\n\r\n" \
        b"\r\nEvent: Hangup\r\nuniqueid: 1.1\r\nCause-txt: Normal Clearing\r\n\r\n"
    for size in (1, 3, len(stream)):
        reader = AmiReader()
        items = []
        for start in range(0, len(stream), size):
            items += reader.feed(stream[start : start + size])
        assert reader.banner == "Asterisk Call Manager/7.0.3"
        assert [type(i) for i in items] == [AmiMessage, AmiMessage]
        assert items[0].response == "Success" and items[0].action_id == "a1"
        assert items[1].event == "Hangup" and items[1].get("UniqueID") == "1.1"
        assert items[1].get("cause-txt") == "Normal Clearing"


def test_reader_accepts_bare_newlines_and_survives_bad_messages():
    reader = AmiReader()
    items = reader.feed(BANNER + b"no colon here\n\nEvent: A\nx" + b"y" * 9000 + b"\n\nEvent: Newstate\n\n")
    assert [type(i) for i in items] == [AmiMessageError, AmiMessageError, AmiMessage]
    assert "not 'Key: Value'" in items[0].problem and "longer than 8192 bytes" in items[1].problem


def test_reader_bounds_fields_and_message_size():
    reader = AmiReader(max_fields=3, max_message=100)
    items = reader.feed(BANNER + b"Event: A\nB: 1\nC: 2\nD: 3\n\nEvent: B\nX: " + b"9" * 120 + b"\n\n")
    assert [i.problem for i in items] == ["a message has more than 3 fields (message skipped)",
                                          "a message is larger than 100 bytes (message skipped)"]


def test_a_peer_that_does_not_greet_like_ami_is_refused():
    with pytest.raises(AmiProtocolError, match="not an AMI server"):
        AmiReader().feed(b"HTTP/1.1 400 Bad Request\r\n")
    with pytest.raises(AmiProtocolError):
        AmiReader().feed(b"x" * 10_000)


def test_actions_cannot_smuggle_lines():
    assert encode_action("Ping", [("ActionID", "a1")]) == b"Action: Ping\r\nActionID: a1\r\n\r\n"
    with pytest.raises(ValueError):
        encode_action("Login", [("Secret", "x\r\nAction: Originate")])


@pytest.mark.parametrize(
    ("name", "device"),
    [
        ("PJSIP/1001-0000000a", "pjsip/1001"),
        ("SIP/agent-1001-00000001", "sip/agent-1001"),
        ("Local/1001@agents-00000003;2", "local/1001@agents"),
        ("Local/1001@agents/n", "local/1001@agents"),
        ("PJSIP/1001", "pjsip/1001"),
        ("DAHDI/1-1", "dahdi/1"),
    ],
)
def test_device_of_channel_names(name, device):
    assert device_of(name) == device


def event(name: str, **fields: str) -> AmiMessage:
    return AmiMessage((("Event", name), *fields.items()))


def test_a_call_first_seen_answered_pops_and_a_bad_id_is_a_clear_error():
    tracker = AmiCallTracker(devices=["PJSIP/1001"])
    events = tracker.handle(event("Newstate", Channel="PJSIP/1001-00000002", ChannelState="6",
                                  ConnectedLineNum="13800138000", Uniqueid="9.2", Linkedid="9.1"))
    assert [(e.state, e.call_id, e.ani) for e in events] == [("answered", "ami:9.1", "13800138000")]
    with pytest.raises(AmiMessageError, match="'Uniqueid' is not a valid id") as caught:
        tracker.handle(event("Hangup", Uniqueid="9 2", CallerIDNum="13800138000"))
    assert "13800138000" not in str(caught.value)
    with pytest.raises(AmiMessageError, match="'DestUniqueid' is missing"):
        tracker.handle(event("DialBegin", Uniqueid="9.1"))


def test_tracker_memory_is_bounded():
    tracker = AmiCallTracker(max_calls=10, max_channels=4)
    for n in range(100):
        for leg in range(10):
            tracker.handle(event("Newchannel", Channel=f"PJSIP/x-{leg}", Uniqueid=f"{n}.{leg}",
                                 Linkedid=f"{n}.0", ChannelState="0"))
    assert tracker.tracked_calls == 10
    assert all(len(call.channels) <= 4 for call in tracker._calls.values())


def test_unrelated_events_and_responses_cause_nothing():
    tracker = AmiCallTracker()
    assert tracker.handle(AmiMessage.of(Response="Success", ActionID="x")) == []
    assert tracker.handle(event("PeerStatus", Peer="PJSIP/1001", PeerStatus="Reachable")) == []
    assert tracker.handle(event("Hangup", Uniqueid="1.1")) == []  # a call we never saw
