"""A number shared by several customers, in the real panel (pytest-qt, offscreen): the call asks "who is
calling?" with one key each, nothing can be recorded before the choice (disabled and refused), the choice
pops that customer by id (the call keeps its number), a re-pop of the call keeps it, and the outcome that
reaches the server is the chosen customer's.

The server is the real one behind a fault injector that answers the shared number with the contract's 409
(tests/e2e/test_shared_numbers.py runs the same against the server's own 409)."""

from __future__ import annotations

import datetime as dt
import json

import jsonschema_rs
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from desktop.calls.bridge_protocol import event_message
from desktop.calls.events import CallEvent
from desktop.domain.events import PopAmbiguous, PopShown
from desktop.domain.states import PopState
from desktop.ui.panel import choice_key_sequences
from desktop.ui.qt import Qt, QtGui, QtWidgets
from plugin_sdk import protocol
from server_stub.db.models import Outcome
from tests.desktop_core.fault_server import Forward, Reply, fault_server
from tests.desktop_core.feed_docs import CANDIDATES, ambiguous_body
from tests.gui.conftest import CALM, PRICE_SENSITIVE, make_app, wait_for_state

SHARED = "13955550101"
OWNERS = [CALM[0], PRICE_SENSITIVE[0]]  # 王芳 and 张伟 of tests/gui/conftest.py share it


def ring(app, call_id: str, ani: str, state: str = "ringing", dnis: str | None = None):
    return app.router.handle(CallEvent(call_id=call_id, state=state, ani=ani, dnis=dnis, source="test"))


@pytest.fixture
def shared_server(server):
    details = [{**CANDIDATES[i], "customer_id": owner, "display_name": name}
               for i, (owner, name) in enumerate(zip(OWNERS, ("王芳", "张伟"), strict=True))]

    def route(method, path, query):
        if path == "/v1/pop" and query.get("ani") == SHARED:
            return Reply(409, ambiguous_body(details))
        return Forward(server.base_url)

    with fault_server(route) as front:
        yield front


@pytest.fixture
def app(qapp, qtbot, tmp_path, server, shared_server, memory_keyring):
    running = make_app(qapp, tmp_path, shared_server.base_url, server.token)
    running.start(show=True)
    yield running
    running.close()


def visible(widget) -> str:
    return "\n".join(label.text() for label in widget.findChildren(QtWidgets.QLabel) if label.isVisibleTo(widget))


def test_the_call_asks_who_is_calling_and_records_nothing_before(qtbot, app):
    with qtbot.waitSignal(app.controller.pop_ambiguous, timeout=5000) as asked:
        ring(app, "call-shared", SHARED)
    assert asked.args[0].to_json() == {"call_id": "call-shared", "candidates": OWNERS, "update": False}
    view = wait_for_state(qtbot, app, "call-shared", PopState.AMBIGUOUS)
    text = visible(view)
    assert "This number belongs to several customers — who is calling?" in text
    assert view.result.document is None and not view.content.isVisible()
    cards = [card for card in view.chooser.cards if card.isVisible()]
    assert [card.customer_id for card in cards] == OWNERS
    assert [card.key.text() for card in cards] == ["Alt+1", "Alt+2"]  # the key is on each choice
    assert "张伟" in cards[1].title.text() and "Secondary card" in cards[1].details.text()
    # Outcomes: every button disabled, the keys do nothing, and the controller and service refuse too.
    bar = app.window.outcome_bar
    assert not any(button.isEnabled() for button in bar.buttons.values())
    assert "Choose who is calling first" in bar.target.text()
    with qtbot.assertNotEmitted(app.window.outcome_requested):
        qtbot.keyClick(app.window, Qt.Key.Key_6, Qt.KeyboardModifier.ControlModifier)
        bar.request("do_not_disturb")
    app.controller.record_outcome("call-shared", "", "do_not_disturb", {})
    assert app.store.outcomes.pending(10) == []


def test_a_key_chooses_and_the_outcome_is_the_chosen_customers(qtbot, app, server):
    ring(app, "call-k", SHARED, state="answered")
    wait_for_state(qtbot, app, "call-k", PopState.AMBIGUOUS)
    with qtbot.waitSignal(app.controller.pop_shown, timeout=5000,
                          check_params_cb=lambda p: p.state == "live") as shown:
        qtbot.keyClick(app.window, Qt.Key.Key_2, Qt.KeyboardModifier.AltModifier)
    payload = shown.args[0]
    assert payload.customer_id == PRICE_SENSITIVE[0] and payload.chosen is True
    view = app.window.view("call-k")
    document = view.result.document
    assert document.customer.customer_id == PRICE_SENSITIVE[0]
    assert view.result.key.ani == SHARED and view.result.key.customer_id == PRICE_SENSITIVE[0]
    assert not view.chooser.isVisible() and view.shared.isVisible()
    assert "among 2 customers" in view.shared_note.text()
    # The choice keys are off again: Alt+1 now changes nothing.
    qtbot.keyClick(app.window, Qt.Key.Key_1, Qt.KeyboardModifier.AltModifier)
    assert view.result.document.customer.customer_id == PRICE_SENSITIVE[0]
    with qtbot.waitSignal(app.controller.outcome_recorded, timeout=5000) as recorded:
        qtbot.keyClick(app.window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert recorded.args[0].customer_id == PRICE_SENSITIVE[0]
    engine = create_engine(server.database_url)
    try:
        def stored():
            with Session(engine) as session:
                row = session.scalars(select(Outcome).where(
                    Outcome.outcome_id == recorded.args[0].outcome_id)).one_or_none()
                assert row is not None, "not synced yet"
                assert (row.customer_id, row.decision_id) == (PRICE_SENSITIVE[0], document.decision_id)

        qtbot.waitUntil(stored, timeout=10000)
    finally:
        engine.dispose()


def test_a_re_pop_of_the_call_keeps_the_choice_and_the_agent_may_choose_again(qtbot, app):
    ring(app, "call-r", SHARED, state="answered")
    view = wait_for_state(qtbot, app, "call-r", PopState.AMBIGUOUS)
    with qtbot.waitSignal(app.controller.pop_shown, timeout=5000, check_params_cb=lambda p: p.state == "live"):
        view.chooser.cards[0].clicked.emit(view.chooser.cards[0].customer_id)
    assert view.result.document.customer.customer_id == CALM[0]
    # The PBX reports a transfer with the number written another way: the same caller (one PopKey: the number
    # is normalized where the router reads it), so no second lookup; the tab keeps the chosen customer and
    # says the call was transferred, through which queue. (A re-pop by number keeps the choice as well:
    # tests/desktop_core/test_panel_events.py.)
    shown = []
    app.controller.pop_shown.connect(shown.append)
    actions = ring(app, "call-r", "+86 139 5555 0101", state="transferred", dnis="1001")
    assert [type(a).__name__ for a in actions] == ["UpdatePop"] and not actions[0].identity_changed
    assert "⇄ transferred to you via 1001" in app.window.call_title("call-r")
    assert not view.asks_for_caller() and view.result.document.customer.customer_id == CALM[0]
    assert view.result.state is PopState.LIVE and not shown
    app.controller.pop_shown.disconnect(shown.append)
    # A language switch rebuilds the panel: the call still shows the chosen customer.
    app.switch_language("zh_CN")
    view = wait_for_state(qtbot, app, "call-r", PopState.LIVE)
    assert view.result.document.customer.customer_id == CALM[0] and "共用号码" in view.shared_note.text()
    # Wrong person: back to the list (no outcome possible), then the other one.
    with qtbot.waitSignal(app.controller.pop_ambiguous, timeout=5000) as asked:
        view.choose_again_button.click()
    assert asked.args[0].update is True
    assert view.asks_for_caller() and not app.window.outcome_bar.buttons["declined"].isEnabled()
    assert "这个号码属于多位客户，请确认来电人" in visible(view)
    # Keys work while one of the panel's windows is active (the rebuilt panel appeared without activating).
    app.window.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is app.window)
    with qtbot.waitSignal(app.controller.pop_shown, timeout=5000, check_params_cb=lambda p: p.state == "live"):
        qtbot.keyClick(app.window, Qt.Key.Key_2, Qt.KeyboardModifier.AltModifier)
    assert view.result.document.customer.customer_id == PRICE_SENSITIVE[0]


def test_only_a_customer_the_server_named_can_be_chosen(qtbot, app):
    ring(app, "call-x", SHARED)
    wait_for_state(qtbot, app, "call-x", PopState.AMBIGUOUS)
    assert not app.controller.choose_customer("call-x", "C-COMPLAINT")  # a real customer, but not an owner
    assert not app.controller.choose_customer("no-such-call", OWNERS[0])
    assert app.window.view("call-x").asks_for_caller()


def test_choice_keys_never_clash_with_the_outcome_keys():
    defaults = [QtGui.QKeySequence(f"Ctrl+{n}") for n in range(1, 7)]
    assert [s.toString() for s in choice_key_sequences(defaults)][:2] == ["Alt+1", "Alt+2"]
    taken = [QtGui.QKeySequence("Alt+3"), QtGui.QKeySequence("Ctrl+Alt+9")]
    keys = [s.toString() for s in choice_key_sequences(taken)]
    assert keys[0] == "Ctrl+Shift+1" and len(keys) == 9 and not set(keys) & {"Alt+3", "Ctrl+Alt+9"}


def test_the_events_a_host_receives_match_their_schemas():
    def valid(event_type, data):
        message = event_message(event_type, data, 7, dt.datetime.now(dt.UTC))
        jsonschema_rs.validator_for(protocol.schema(event_type)).validate(json.loads(json.dumps(message)))

    valid("pop.ambiguous", PopAmbiguous("c1", tuple(OWNERS), update=False).to_json())
    valid("pop.shown", PopShown("c1", "live", OWNERS[1], "d", (), update=True, chosen=True).to_json())
    with pytest.raises(jsonschema_rs.ValidationError):
        valid("pop.ambiguous", PopAmbiguous("c1", tuple(OWNERS[:1]), update=False).to_json())
