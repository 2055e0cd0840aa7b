"""The panel's per-call screen state (desktop/domain/call_screen.py): which notice shows under which call,
what a closed call leaves between calls, the wrap-up clock, closing that asks first, and the undo banner's
target. Plain pytest: no Qt."""

from __future__ import annotations

import datetime as dt

from desktop.domain.call_screen import CallScreen, NoticeLine, wrap_up_clock
from desktop.domain.calls import Transfer

NOW = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)


def test_a_calls_notice_shows_only_while_that_call_is_in_front_with_the_panels_under_it():
    screen = CallScreen()
    screen.set_notice("A", "✓ Saved “Declined” for 王芳", "synced")
    screen.set_notice("B", "Wrap-up: record an outcome for 张伟", "attention")
    screen.set_notice(None, "⚠ The local data file was set aside", "pending")
    assert screen.notice_line("A") == NoticeLine("✓ Saved “Declined” for 王芳\n⚠ The local data file was set aside",
                                                 "pending")
    # B's warning is B's alone (its kind wins over the panel's) and A's "saved" never stands under B.
    assert screen.notice_line("B") == NoticeLine("Wrap-up: record an outcome for 张伟\n"
                                                 "⚠ The local data file was set aside", "attention")
    assert screen.warns("B") and not screen.warns("A")
    screen.set_notice("B", "")
    assert screen.notice_of("B") == "" and not screen.warns("B")
    assert screen.notice_line("B").text == "⚠ The local data file was set aside"


def test_a_closed_calls_saved_notice_stays_between_calls_until_another_call_is_in_front():
    screen = CallScreen()
    screen.set_notice("A", "✓ Saved “Accepted” for 王芳", "synced")
    screen.set_notice("B", "✗ Not saved: disk full", "attention")
    screen.closed("A")
    screen.closed("B")  # a warning is not left behind: it was about a call that is gone
    assert screen.notice_line(None) == NoticeLine("✓ Saved “Accepted” for 王芳", "synced")
    assert screen.notice_line(None).text  # still there while no call is in front
    assert screen.notice_line("C") == NoticeLine()  # never under another customer…
    assert screen.notice_line(None) == NoticeLine()  # …and gone once another customer was on screen


def test_what_a_closed_call_says_later_is_its_last_word_not_a_notice_of_another_call():
    screen = CallScreen()
    screen.offer_undo("o-1", "A", NOW, dt.timedelta(seconds=8))
    screen.closed("A")
    ended = screen.end_undo()
    screen.set_notice(ended.call_id, "↶ Outcome undone", "synced")
    assert screen.notice_of("A") == ""  # not kept for a call that is gone
    assert screen.notice_line(None).text == "↶ Outcome undone"
    assert screen.notice_line("B").text == ""
    # The same call reopened (answered after a mistaken close) speaks for itself again.
    screen.opened("A")
    screen.set_notice("A", "✓ Saved “Declined”")
    assert screen.notice_line("A").text == "✓ Saved “Declined”"


def test_the_wrap_up_clock_counts_from_the_hang_up_and_ticks_only_while_a_call_is_in_wrap_up():
    screen = CallScreen()
    screen.mark_phase("A", "talking")
    assert not screen.clock_ticks() and screen.wrap_up_clock("A", NOW) is None
    screen.mark_phase("A", "wrap_up", NOW - dt.timedelta(seconds=75))
    assert screen.clock_ticks() and screen.in_wrap_up() == ["A"]
    assert screen.wrap_up_clock("A", NOW) == "1:15"
    assert screen.wrap_up_clock("A", NOW + dt.timedelta(minutes=10)) == "11:15"
    screen.mark_phase("A", "recorded")
    assert not screen.clock_ticks() and screen.wrap_up_since("A") is None
    screen.mark_phase("B", "wrap_up", NOW)
    screen.closed("B")
    assert not screen.clock_ticks()
    assert wrap_up_clock(NOW + dt.timedelta(seconds=5), NOW) == "0:00" and wrap_up_clock(None, NOW) == "0:00"


def test_closing_a_ringing_call_or_a_wrap_up_asks_first():
    screen = CallScreen()
    for phase, asks in (("ringing", True), ("talking", False), ("wrap_up", True), ("recorded", False)):
        screen.mark_phase("A", phase, NOW)
        assert screen.asks_before_closing("A") is asks, phase
    assert not screen.asks_before_closing("unknown")


def test_a_transfer_marker_belongs_to_its_call_until_it_closes():
    screen = CallScreen()
    marker = Transfer(from_agent="8002", via="sales")
    screen.mark_transfer("A", marker)
    assert screen.transfer("A") == marker and screen.transfer("B") is None
    screen.closed("A")
    assert screen.transfer("A") is None


def test_the_undo_banner_offers_one_outcome_once_and_its_end_brings_back_the_notice_it_covered():
    screen = CallScreen()
    screen.set_notice("A", "✓ Saved “Declined” for 王芳")
    offer = screen.offer_undo("o-1", "A", NOW, dt.timedelta(seconds=8))
    assert offer.deadline == NOW + dt.timedelta(seconds=8) and offer.covered == "✓ Saved “Declined” for 王芳"
    assert screen.undo_call == "A" and screen.undo == offer
    assert screen.take_undo() == "o-1"
    assert screen.take_undo() is None  # used up: a second Ctrl+Z does nothing
    assert screen.end_undo() is None
    assert screen.undo_call == "A"  # the undo's answer still goes to that call
    screen.offer_undo("o-2", "B", NOW, dt.timedelta(seconds=8))
    ended = screen.end_undo()
    assert (ended.call_id, ended.text) == ("B", "")
    assert screen.take_undo() is None  # the banner's time is up
