"""The baresip connector against real baresip (Debian `baresip-core`), end to end into the real panel.

Two baresip user agents on 127.0.0.1, no registrar: the "customer" agent's account user is a seeded
customer's number, it dials the "agent" agent; the connector on the agent's ctrl_tcp pops that customer in
a real CallCueApp (real analytics server on loopback); accept → active; the customer hangs up → wrap-up.

Skipped when baresip is not installed here; under CI=true that is a failure instead, because
scripts/bootstrap.sh --test installs baresip-core.
"""

from __future__ import annotations

import os
import time

import pytest

from desktop.calls.baresip import BaresipConnector
from desktop.calls.connector_base import Backoff
from desktop.calls.router import Activate, Ended, Pop
from desktop.domain.states import PopState
from desktop.runtime.connectors_host import ConnectorsHost
from desktop.ui.qt import QtWidgets
from tests.connectors.baresip_agents import baresip_binary, free_ports, module_dir, start_agent
from tests.connectors.conftest import Recorder
from tests.gui.conftest import CALM, make_app, wait_for_state

pytestmark = pytest.mark.timeout(90)


def _require_baresip() -> None:
    if baresip_binary() and module_dir():
        return
    reason = ("baresip is not installed (Debian: apt-get install baresip-core; "
              "scripts/bootstrap.sh --test installs it)")
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must run the real-softphone test")
    pytest.skip(reason)


@pytest.fixture
def agents(tmp_path):
    """The customer's and the agent's baresip, stopped (calls hung up first) whatever happens."""
    _require_baresip()
    sip_customer, sip_agent = free_ports(2, span=2)
    ctrl_customer, ctrl_agent = free_ports(2, taken={sip_customer, sip_customer + 1, sip_agent, sip_agent + 1})
    started = []
    try:
        started.append(start_agent(tmp_path / "customer", "customer", CALM[1], sip_customer, ctrl_customer))
        started.append(start_agent(tmp_path / "agent", "agent", "agent", sip_agent, ctrl_agent))
        yield started[0], started[1]
    finally:
        for agent in reversed(started):
            agent.stop()
        for agent in started:
            assert agent.process.poll() is not None, f"baresip {agent.name} is still running"


def labels(widget) -> str:
    return "\n".join(label.text() for label in widget.findChildren(QtWidgets.QLabel))


def test_a_real_baresip_call_pops_the_customer_then_goes_active_and_to_wrap_up(
        qapp, qtbot, tmp_path, server, memory_keyring, agents, record_property):
    customer, agent = agents
    qtbot.waitUntil(lambda: customer.ready and agent.ready, timeout=10_000)

    app = make_app(qapp, tmp_path / "panel", server.base_url, server.token)
    app.start(show=True)
    moments: dict[str, float] = {}
    app.router.add_listener(lambda action: moments.setdefault(type(action).__name__, time.monotonic()))
    host = ConnectorsHost(app.router.handle, parent=app)
    fast = {"backoff": Backoff(0.05, 0.5)}
    on_agent = BaresipConnector("127.0.0.1", agent.ctrl_port, host.post_event, host.post_status, **fast)
    caller = Recorder()
    on_customer = BaresipConnector("127.0.0.1", customer.ctrl_port, caller.on_event, caller.on_status, **fast)
    try:
        host.start([on_agent])
        on_customer.start()
        qtbot.waitUntil(lambda: host.statuses().get("baresip") is not None
                        and host.statuses()["baresip"].state == "connected", timeout=10_000)
        caller.wait_for(lambda r: r.states("connected"), 10, "the customer's ctrl_tcp")

        dialled = time.monotonic()
        response = on_customer.send_command("dial", f"sip:agent@127.0.0.1:{agent.sip_port}").result(5)
        assert response.ok, response.data
        qtbot.waitUntil(lambda: len(app.router.calls()) == 1, timeout=5_000)
        call = app.router.calls()[0]
        assert call.call_id.startswith("baresip:") and call.source == "baresip" and call.state == "ringing"
        view = wait_for_state(qtbot, app, call.call_id, PopState.LIVE, timeout=10_000)
        popped_live = time.monotonic()
        assert view.result.document.customer.customer_id == CALM[0]
        assert "王芳" in labels(view) and CALM[1] not in labels(app.window)  # masked in the panel

        assert on_agent.send_command("accept").result(5).ok
        qtbot.waitUntil(lambda: app.router.call(call.call_id).state == "active", timeout=5_000)
        answered = time.monotonic()

        assert on_customer.send_command("hangup").result(5).ok  # the customer hangs up
        qtbot.waitUntil(lambda: app.router.call(call.call_id).state == "wrap_up", timeout=5_000)
        ended = time.monotonic()
        assert app.router.call(call.call_id).answered
        assert {Pop.__name__, Activate.__name__, Ended.__name__} <= moments.keys()
        assert app.window.view(call.call_id) is not None  # the tab stays for the outcome
        # Only the agent's side popped: the customer's connector saw its own outgoing call to "agent",
        # which is not a customer number, so it reported nothing to pop.
        assert all(e.state != "ringing" for e in caller.events)

        timings = {
            "dial_to_router_pop_ms": round((moments["Pop"] - dialled) * 1000, 1),
            "dial_to_live_pop_ms": round((popped_live - dialled) * 1000, 1),
            "accept_to_active_ms": round((answered - popped_live) * 1000, 1),
            "hangup_to_wrap_up_ms": round((ended - answered) * 1000, 1),
        }
        for key, value in timings.items():
            record_property(key, value)
        print(f"real baresip timings: {timings}")
    finally:
        host.stop()
        on_customer.stop()
        app.close()
