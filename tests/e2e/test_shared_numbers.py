"""End to end, 20 % shared numbers: the real server process on loopback (SQLite and PostgreSQL) whose
database holds customers where one number in five belongs to two of them, and the real panel (offscreen)
driven through many calls by an agent who asks who is calling whenever the panel asks, records an
outcome on every call and syncs. On the server, every outcome belongs to the customer the agent confirmed
(or the number's only owner), never to another customer sharing the number; each outcome answers a
decision made for that same customer.

The customers are inserted with SQLAlchemy; their numbers arrive through the numbers feed
(`callcue-server import numbers`, its standard mapping), as an operator's would; the 409 is the server's own.
"""

from __future__ import annotations

import csv
import itertools
import os
import subprocess
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from desktop.calls.events import CallEvent
from desktop.domain.states import PopState
from desktop.ui.qt import Qt, QtWidgets
from server_stub.db.engine import make_engine, upgrade
from server_stub.db.models import CustomerNumber, Decision, Outcome
from server_stub.live import live_server
from server_stub.services.auth import create_token
from tests.desktop_runtime.conftest import no_leftover_threads  # noqa: F401 - autouse fixture
from tests.gui.conftest import make_app, memory_keyring  # noqa: F401 - fixture
from tests.server import factories

AGENT = "agent-007"
NUMBERS = 25  # 5 of them (20 %) shared by two customers
SHARED_EVERY = 5
CALLS = 50
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
RESULTS = ("declined", "considering", "accepted", "not_offered")
OUTCOME_KEYS = {"accepted": Qt.Key.Key_1, "declined": Qt.Key.Key_2, "considering": Qt.Key.Key_3}


@dataclass(frozen=True)
class World:
    owners: dict[str, list[str]]  # number -> its customers (one, or two for a shared number)

    @property
    def shared(self) -> list[str]:
        return [number for number, owners in self.owners.items() if len(owners) > 1]


def populate(database_url: str, directory) -> tuple[World, str]:
    engine = make_engine(database_url)
    upgrade(engine)
    owners: dict[str, list[str]] = {}
    names = (f"{surname}{given}" for surname, given in itertools.product(SURNAMES, "伟芳娜敏静丽强磊"))
    with Session(engine) as session:
        factories.add_catalog(session)
        for index in range(NUMBERS):
            number = f"1380000{index:04d}"
            owners[number] = [f"C-E2E-{index:02d}A"]
            if index % SHARED_EVERY == 0:  # a family line or a recycled number: a second customer has it
                owners[number].append(f"C-E2E-{index:02d}B")
            for customer_id in owners[number]:
                factories.add_customer(session, customer_id, None, name=next(names))
        token = create_token(session, AGENT)
    feed = directory / "numbers.csv"
    with feed.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["msisdn", "customer_id", "is_primary"])
        for number, customers in owners.items():
            for position, customer_id in enumerate(customers):
                writer.writerow([f"+86 {number}" if position else number, customer_id, "yes" if position == 0 else ""])
    imported = subprocess.run([sys.executable, "-m", "server_stub.cli", "import", "numbers", str(feed),
                               "--database-url", database_url, "--lang", "en"],
                              capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    with Session(engine) as session:
        shared = session.scalar(select(func.count()).select_from(
            select(CustomerNumber.msisdn).group_by(CustomerNumber.msisdn)
            .having(func.count() > 1).subquery()))
        assert shared == NUMBERS // SHARED_EVERY  # 20 % of the numbers
    engine.dispose()
    return World(owners), token


def ring(app, call_id: str, state: str, ani: str) -> None:
    app.router.handle(CallEvent(call_id=call_id, state=state, ani=ani, agent_id=AGENT, source="test"))


def settled(qtbot, app, call_id: str, *states: PopState):
    def check():
        view = app.window.view(call_id)
        assert view is not None and view.result is not None and view.result.state in states

    qtbot.waitUntil(check, timeout=10000)
    return app.window.view(call_id)


@pytest.mark.slow
def test_no_outcome_goes_to_a_customer_the_agent_did_not_confirm(qapp, qtbot, tmp_path, database_url,
                                                                  memory_keyring):  # noqa: F811
    world, token = populate(database_url, tmp_path)
    numbers = list(world.owners)
    truth: dict[str, str] = {}  # call id -> who was really calling
    chosen_among_two = 0
    with live_server(database_url, tmp_path / "server-logs") as server:
        app = make_app(qapp, tmp_path / "panel", server.base_url, token)
        app.start(show=True)
        try:
            app.window.activateWindow()  # the agent works in the panel: its keys are live
            qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is app.window)
            bar = app.window.outcome_bar
            bar._ask_reason = lambda: "customer was busy"
            for call in range(CALLS):
                number = numbers[(call * 7) % len(numbers)]  # every number, shared ones several times
                owners = world.owners[number]
                caller = owners[(call // len(numbers)) % len(owners)] if len(owners) > 1 else owners[0]
                if len(owners) > 1 and call % 3 == 0:
                    caller = owners[-1]
                call_id = f"e2e-{call:03d}"
                truth[call_id] = caller
                ring(app, call_id, "answered", number)
                view = settled(qtbot, app, call_id, PopState.LIVE, PopState.AMBIGUOUS)
                if len(owners) > 1:
                    # Never silently one of them: the panel asks, and nothing can be recorded until answered.
                    assert view.result.state is PopState.AMBIGUOUS and view.result.document is None
                    candidates = [c.customer_id for c in view.result.candidates]
                    assert candidates == sorted(owners)
                    with qtbot.assertNotEmitted(app.window.outcome_requested):
                        qtbot.keyClick(app.window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
                    if call % 4 == 0:  # the agent picks the wrong person, hears the name, chooses again
                        wrong = next(c for c in candidates if c != caller)
                        view.chooser.cards[candidates.index(wrong)].clicked.emit(wrong)
                        qtbot.waitUntil(lambda v=view, w=wrong: v.result.state is PopState.LIVE
                                        and v.result.document.customer.customer_id == w, timeout=10000)
                        view.choose_again_button.click()
                        assert view.asks_for_caller()
                    qtbot.keyClick(app.window, getattr(Qt.Key, f"Key_{candidates.index(caller) + 1}"),
                                   Qt.KeyboardModifier.AltModifier)
                    chosen_among_two += 1
                    view = settled(qtbot, app, call_id, PopState.LIVE)
                document = view.result.document
                assert document.customer.customer_id == caller
                result = RESULTS[call % len(RESULTS)]
                if result != "not_offered" and not document.pitchable_offers:
                    result = "not_offered"
                with qtbot.waitSignal(app.controller.outcome_recorded, timeout=10000) as recorded:
                    if result in OUTCOME_KEYS:
                        qtbot.keyClick(app.window, OUTCOME_KEYS[result], Qt.KeyboardModifier.ControlModifier)
                    else:
                        bar.buttons["not_offered"].click()
                assert recorded.args[0].customer_id == caller
                ring(app, call_id, "ended", number)  # the outcome is in: the tab closes
                qtbot.waitUntil(lambda c=call_id: app.window.view(c) is None, timeout=10000)
            app.controller.request_sync(force=True)
            qtbot.waitUntil(lambda: not app.store.outcomes.pending(1) and not app.controller._sync_running,
                            timeout=30000)
        finally:
            app.close()
        engine = make_engine(database_url)
        try:
            with Session(engine) as session:
                rows = session.execute(select(Outcome.call_id, Outcome.customer_id, Decision.customer_id)
                                       .join(Decision, Decision.decision_id == Outcome.decision_id)).all()
        finally:
            engine.dispose()
    assert chosen_among_two >= CALLS // 5
    assert sorted(call_id for call_id, _, _ in rows) == sorted(truth), "every outcome reached the server once"
    shared_owners = {c for number in world.shared for c in world.owners[number]}
    seen_shared = set()
    for call_id, customer_id, decision_customer in rows:
        assert customer_id == truth[call_id], (call_id, customer_id, truth[call_id])
        assert decision_customer == customer_id  # the decision it answers was made for that customer
        if customer_id in shared_owners:
            seen_shared.add(customer_id)
    # Both customers of shared numbers called (and got their own outcomes), not only the first one.
    assert any(c.endswith("A") for c in seen_shared) and any(c.endswith("B") for c in seen_shared)
