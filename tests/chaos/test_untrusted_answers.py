"""Answers the panel must not trust, with the real desktop app (offscreen, in this process) talking to the real
server through a real loopback fault server (tests/desktop_core/fault_server.py) that forwards most requests
and answers chosen ones badly:

- an answer that drips one byte every half second (each read is well within the read timeout): the pop
  settles as stale by its deadline, and four of them at once (one per network worker) do not keep a
  normal pop from going live;
- an answer of 50 MB: refused with a plain reason in the panel's language, the GUI thread never stalls;
- a per-item answer to an outcome batch that names no outcome: the outcome stays pending, the sync status
  says the answer is unreadable, and it is delivered exactly once when the answers are right again.
"""

from __future__ import annotations

import re
import time

import pytest

from desktop.domain.errors import UserError
from desktop.domain.states import PopState
from tests.chaos.harness import assert_confirmed_exactly_once, server_outcomes
from tests.chaos.test_server_faults import CJK, SYNCED, StallMonitor, pop, record
from tests.desktop_core.fault_server import Drip, Flood, Forward, fault_server
from tests.gui.conftest import make_app, wait_for_state

pytestmark = pytest.mark.slow

POP_DEADLINE_S = 2.0  # server.timeout_s, the default
MARGIN_S = 1.5  # scheduling on a loaded 2-core machine, the paint, the cached read
# 300 bytes at one per 0.5 s: a pop used to wait 150 s for it (every read came well within 2 s).
DRIP = Drip(body=b'{"padding": "' + b"x" * 284 + b'"}', interval_s=0.5)


class Rules:
    """What the fault server does per request: drip or flood chosen customers' pops, rewrite outcome
    answers, forward everything else to the real server."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.drip: set[str] = set()
        self.flood: set[str] = set()
        self.unnamed_outcomes = False

    def __call__(self, method: str, path: str, query: dict[str, str]):
        customer = query.get("customer_id")
        if path == "/v1/pop" and customer in self.drip:
            return DRIP
        if path == "/v1/pop" and customer in self.flood:
            return Flood(50_000_000, declare=False)  # no Content-Length: refused while reading
        if path == "/v1/outcomes" and self.unnamed_outcomes:
            return Forward(self.upstream, rewrite=_unnamed)
        return Forward(self.upstream)


def _unnamed(_status, body):
    return {**body, "results": [{**r, "outcome_id": None} for r in body["results"]]}


def test_a_dripping_answer_settles_the_pop_as_stale_by_its_deadline(qapp, qtbot, tmp_path, chaos_server,
                                                                    memory_keyring):
    database = chaos_server.database
    customer = database.customers[10]
    rules = Rules(chaos_server.base_url)
    with fault_server(rules) as fault:
        app = make_app(qapp, tmp_path, fault.base_url, database.token)
        try:
            app.start(show=True)
            pop(app, "warm", customer)
            wait_for_state(qtbot, app, "warm", PopState.LIVE)
            rules.drip.add(customer)
            started = time.monotonic()
            pop(app, "drip", customer)
            view = wait_for_state(qtbot, app, "drip", PopState.STALE, timeout=20_000)
            elapsed = time.monotonic() - started
            assert view.result.error.code == "timeout"
            assert "too slow" in view.state_label.text()
            assert elapsed < POP_DEADLINE_S + MARGIN_S, f"the pop settled after {elapsed:.1f} s"
            assert not fault.dripped.is_set()
            qtbot.waitUntil(lambda: app.runner.stats().pending == 0, timeout=5000)  # the worker is free
        finally:
            app.close()


def test_four_dripping_answers_do_not_keep_a_normal_pop_from_going_live(qapp, qtbot, tmp_path, chaos_server,
                                                                        memory_keyring):
    database = chaos_server.database
    dripping, normal = database.customers[11:15], database.customers[15]
    rules = Rules(chaos_server.base_url)
    rules.drip.update(dripping)
    with fault_server(rules) as fault:
        app = make_app(qapp, tmp_path, fault.base_url, database.token)
        try:
            app.start(show=True)
            started = time.monotonic()
            for i, customer in enumerate(dripping):  # one per network worker
                pop(app, f"drip-{i}", customer)
            pop(app, "normal", normal)  # waits for a worker: until the first drip's deadline at most
            wait_for_state(qtbot, app, "normal", PopState.LIVE, timeout=20_000)
            elapsed = time.monotonic() - started
            assert elapsed < POP_DEADLINE_S + MARGIN_S, f"the normal pop went live after {elapsed:.1f} s"
            for i in range(len(dripping)):
                view = wait_for_state(qtbot, app, f"drip-{i}", PopState.ERROR, timeout=1000)
                assert view.result.error.code == "timeout"  # never seen before: nothing saved to show
            assert not fault.dripped.is_set()
        finally:
            app.close()


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_a_huge_answer_is_refused_in_plain_words_without_stalling_the_panel(qapp, qtbot, tmp_path, chaos_server,
                                                                           memory_keyring, language):
    database = chaos_server.database
    customer = database.customers[16 + ["en", "zh_CN"].index(language)]
    rules = Rules(chaos_server.base_url)
    with fault_server(rules) as fault:
        app = make_app(qapp, tmp_path, fault.base_url, database.token, language=language)
        try:
            app.start(show=True)
            pop(app, "warm", customer)
            wait_for_state(qtbot, app, "warm", PopState.LIVE)
            rules.flood.add(customer)
            with StallMonitor() as monitor:
                pop(app, "huge", customer)
                view = wait_for_state(qtbot, app, "huge", PopState.STALE, timeout=10_000)
            assert view.result.error.code == "answer_too_large"
            from desktop.ui.pop_view import describe_error

            reason = describe_error(UserError("answer_too_large"), app.panel.texts).split(" (")[0]
            assert reason in view.state_label.text()
            assert ("过大" if language == "zh_CN" else "too large") in reason
            assert (CJK.search(reason) is not None) == (language == "zh_CN")
            assert fault.flooded < 50_000_000  # the rest was never read
            assert monitor.max_own_ms <= 50, monitor.summary()
        finally:
            app.close()


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_an_outcome_answer_that_names_nothing_keeps_the_outcome_pending_and_says_so(
        qapp, qtbot, tmp_path, chaos_server, memory_keyring, language):
    database = chaos_server.database
    customer = database.customers[18 + ["en", "zh_CN"].index(language)]
    rules = Rules(chaos_server.base_url)
    rules.unnamed_outcomes = True
    unreadable = {"en": "the server's answer is unreadable", "zh_CN": "服务器的应答无法读取"}[language]
    with fault_server(rules) as fault:
        app = make_app(qapp, tmp_path, fault.base_url, database.token, language=language,
                       **{"sync.interval_s": "5"})
        try:
            app.start(show=True)
            pop(app, "call", customer)
            wait_for_state(qtbot, app, "call", PopState.LIVE)
            outcome_id = record(qtbot, app)
            badge = app.window.sync_badge
            qtbot.waitUntil(lambda: unreadable in badge.text(), timeout=10_000)
            assert re.search(r"\b1\b", badge.text()), badge.text()  # 1 pending
            assert server_outcomes(database.url).get(outcome_id) == 1  # the server has it; the panel is not told
            rules.unnamed_outcomes = False
            app.controller.request_sync(force=True)  # as the next outcome would (or the timer, after backoff)
            qtbot.waitUntil(lambda: SYNCED[language] in badge.text(), timeout=10_000)
            assert_confirmed_exactly_once(database.url, {outcome_id})
            assert fault.requests_seen.count(("POST", "/v1/outcomes")) >= 2
        finally:
            app.close()
