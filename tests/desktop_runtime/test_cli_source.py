"""`callcue pop` arguments become a CallEvent (or a printable InvalidCallEvent)."""

from __future__ import annotations

import argparse

import pytest

from desktop.calls.cli_source import add_pop_arguments, pop_event_from_argv, pop_event_from_options
from desktop.calls.events import CallEvent, InvalidCallEvent

PHONE = "+8613912345678"


def test_pop_with_every_option() -> None:
    event = pop_event_from_argv(
        [
            "--ani",
            PHONE,
            "--call-id",
            "sip-42",
            "--customer-id",
            "CUST-1",
            "--dnis",
            "10086",
            "--agent-id",
            "a7",
        ]
    )
    assert event == CallEvent("sip-42", "ringing", PHONE, "10086", "CUST-1", "a7", "cli")


def test_without_a_call_id_each_pop_is_a_new_call() -> None:
    ids = iter(["cli-1", "cli-2"])
    first = pop_event_from_argv(["--ani", PHONE], new_call_id=lambda: next(ids))
    second = pop_event_from_argv(["--ani", PHONE], new_call_id=lambda: next(ids))
    assert (first.call_id, second.call_id) == ("cli-1", "cli-2")


@pytest.mark.parametrize(
    "uri", ["sip:+8613912345678@10.0.0.1:5060", '"Li Lei" <sip:+86-139-1234-5678@pbx>', "tel:+8613912345678"])
def test_ani_may_be_the_sip_uri_a_softphone_hands_over(uri: str) -> None:
    assert pop_event_from_argv(["--ani", uri]).ani == PHONE


def test_a_uri_without_a_number_is_refused_without_echoing_it() -> None:
    with pytest.raises(InvalidCallEvent, match="holds no phone number") as caught:
        pop_event_from_argv(["--ani", "sip:anonymous@anonymous.invalid"])
    assert "anonymous.invalid" not in str(caught.value)


def test_a_softphone_can_end_the_call_it_popped() -> None:
    assert pop_event_from_argv(["--call-id", "sip-42", "--state", "ended"]).state == "ended"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "'ani'"),
        (["--ani"], "expected one argument"),
        (["--ani", PHONE, PHONE], "unrecognized arguments"),
        (["--ani", PHONE, "--colour", "red"], "unrecognized arguments"),
        (["--ani", PHONE, "--state", "rining"], "'state'"),
        (["--ani", PHONE, "--call-id", "x" * 200], "'call_id'"),
        (["--help"], "unrecognized arguments"),
    ],
)
def test_bad_arguments_raise_a_printable_error(argv: list[str], message: str) -> None:
    with pytest.raises(InvalidCallEvent) as caught:
        pop_event_from_argv(argv)
    assert message in str(caught.value)
    assert PHONE not in str(caught.value)


def test_the_options_can_live_in_the_clis_own_parser() -> None:
    parser = argparse.ArgumentParser(prog="callcue")
    add_pop_arguments(parser.add_subparsers(dest="command").add_parser("pop"))
    options = parser.parse_args(["pop", "--customer-id", "CUST-1", "--call-id", "c"])
    assert pop_event_from_options(options) == CallEvent("c", "ringing", customer_id="CUST-1", source="cli")
