"""The style sheet, rendered: a disabled button looks disabled, the offline badge is in the warning colour,
keyboard focus is clearly visible on every kind of button (light and dark)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from desktop.domain.states import SyncState
from desktop.ui.i18n import Texts
from desktop.ui.outcome_bar import OutcomeBar, SyncBadge
from desktop.ui.qt import QtGui, QtWidgets
from desktop.ui.theme import apply_theme_to_widget, theme_tokens

THEMES = Path(__file__).resolve().parents[2] / "resources" / "themes"


def _sync_state(kind: str) -> SyncState:
    """A real sync state of that kind, 2 outcomes pending."""
    since = dt.datetime(2026, 12, 7, 10, 42, tzinfo=dt.UTC)
    return {"offline": SyncState(pending=2, offline_since=since), "attention": SyncState(pending=2, needs_attention=1),
            "synced": SyncState()}[kind]


def _colours(widget: QtWidgets.QWidget) -> Counter:
    image = widget.grab().toImage()
    return Counter(image.pixelColor(x, y).name() for x in range(image.width()) for y in range(image.height()))


@pytest.fixture(params=["light", "dark"])
def themed(qtbot, request):
    panel = QtWidgets.QWidget()
    panel.setObjectName("Panel")
    qtbot.addWidget(panel)
    layout = QtWidgets.QVBoxLayout(panel)
    bar = OutcomeBar(Texts("en"))
    badge = SyncBadge(Texts("en"))
    layout.addWidget(bar)
    layout.addWidget(badge)
    apply_theme_to_widget(panel, request.param, THEMES)
    panel.resize(420, 320)
    panel.show()
    qtbot.waitExposed(panel)
    return panel, bar, badge, request.param


def test_disabled_declined_button_is_not_red_or_bold(themed):
    _panel, bar, _badge, theme = themed
    tokens = theme_tokens(theme)
    declined = bar.buttons["declined"]
    bar.set_target("Roaming pack", has_customer=True)
    assert declined.isEnabled()
    enabled = _colours(declined)
    assert enabled[tokens["danger"]] > 0
    bar.set_target(None, has_customer=False)
    assert not declined.isEnabled()
    disabled = _colours(declined)
    assert disabled[tokens["danger"]] == 0, "a disabled Declined button must not keep its red"
    # Fonts do not follow QSS pseudo-states: a bold enabled style stays bold when disabled, so no bold here.
    assert declined.font().weight() <= QtGui.QFont.Weight.Normal
    # Disabled buttons sit on the page colour, not on the card colour of a live button.
    assert disabled[tokens["bg"]] > disabled[tokens["card"]]


def test_offline_badge_uses_the_warning_colour(themed):
    _panel, _bar, badge, theme = themed
    tokens = theme_tokens(theme)
    badge.show_state(_sync_state("offline"))
    colours = _colours(badge)
    assert colours[tokens["warn_bg"]] > 0 and colours[tokens["accent"]] == 0
    assert badge.palette().color(QtGui.QPalette.ColorRole.ButtonText).name() == tokens["warn"]
    badge.show_state(_sync_state("attention"))
    assert badge.palette().color(QtGui.QPalette.ColorRole.ButtonText).name() == tokens["danger"]


@pytest.mark.parametrize("which", ["accepted", "declined", "callback", "badge"])
def test_focus_outline_is_visible_on_every_button(themed, qtbot, which):
    _panel, bar, badge, theme = themed
    bar.set_target("Roaming pack", has_customer=True)
    badge.show_state(_sync_state("synced"))
    button = badge if which == "badge" else bar.buttons[which]
    bar.note.setFocus()
    qtbot.waitUntil(bar.note.hasFocus)
    before = _colours(button)
    button.setFocus()
    qtbot.waitUntil(button.hasFocus)
    after = _colours(button)
    focus = theme_tokens(theme)["focus"]
    assert before[focus] == 0
    assert after[focus] >= 2 * (button.width() + button.height()), "a 2 px outline in the focus colour"


def test_a_long_badge_is_never_cut_off_it_says_why_on_a_second_line(qtbot, themed):
    """"Offline since 10:42 · 2 pending — the server's certificate is not trusted" centred in a panel
    narrower than it lost both ends; it wraps at the dash (the tooltip keeps one line)."""
    from desktop.domain.errors import UserError

    panel, _bar, badge, _theme = themed
    state = SyncState(pending=2, offline_since=dt.datetime(2026, 12, 7, 10, 42, tzinfo=dt.UTC),
                      last_error=UserError("tls_failed"))
    panel.resize(300, 320)
    badge.show_state(state)
    qtbot.waitUntil(lambda: "\n" in badge.text(), timeout=2000)
    lines = badge.text().split("\n")
    assert lines[1] == "the server's certificate is not trusted"
    assert all(badge.fontMetrics().horizontalAdvance(line) <= badge.width() for line in lines)
    assert "\n" not in badge.toolTip() and badge.full_text() == badge.toolTip()
    panel.resize(900, 320)  # room enough: one line again
    qtbot.waitUntil(lambda: "\n" not in badge.text(), timeout=2000)
