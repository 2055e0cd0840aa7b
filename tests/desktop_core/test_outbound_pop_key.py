"""An outbound call's pop (a campaign named by the agent or a host) is its own lookup: its own cache keys, so a
saved outbound view never stands in for an inbound call of the same customer (its outcomes would go out on
outbound_call), and the request names the channel and campaign."""

from __future__ import annotations

from desktop.calls.events import InvalidCallEvent, parse_call_event
from desktop.domain.states import PopKey


def test_outbound_keys_are_their_own():
    inbound, outbound = PopKey(customer_id="C1"), PopKey(customer_id="C1", outbound="CMP-OUT")
    assert inbound != outbound
    assert set(inbound.cache_keys()).isdisjoint(outbound.cache_keys())
    assert set(PopKey(ani="13800138000").cache_keys()).isdisjoint(PopKey(ani="13800138000", outbound="X").cache_keys())
    assert PopKey(customer_id="C1", outbound="  ").outbound is None
    assert "CMP-OUT" in repr(outbound)


def test_a_call_event_names_its_outbound_campaign_strictly():
    event = parse_call_event({"call_id": "c", "state": "answered", "customer_id": "C1",
                              "outbound": {"campaign_id": " CMP-OUT "}})
    assert event.outbound == "CMP-OUT" and event.as_dict()["outbound"] == {"campaign_id": "CMP-OUT"}
    assert parse_call_event(event.as_dict()) == event
    assert parse_call_event({"call_id": "c", "state": "answered", "customer_id": "C1", "outbound": None}).outbound is None
    for bad in ("CMP", {"campaign": "X"}, {}, {"campaign_id": ""}, {"campaign_id": "A\u200bB"}, {"campaign_id": 3}):
        try:
            parse_call_event({"call_id": "c", "state": "answered", "customer_id": "C1", "outbound": bad})
        except InvalidCallEvent as exc:
            assert exc.field.startswith("outbound"), bad
        else:
            raise AssertionError(f"accepted {bad!r}")
