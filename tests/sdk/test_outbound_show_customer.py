"""A host says the channel itself (SDK 1.5, bridge v1 `call` with `outbound`): show_customer(outbound=…) and
call events with an outbound campaign pop for that campaign's outbound wave without asking the agent, and the
outcomes reach the real server with channel outbound_call, the campaign and its wave; outbound=False opens a
lookup without a question; a host that says nothing (a v1 host) gets the agent's question."""

from __future__ import annotations

import pytest

from desktop.domain.states import PopState
from plugin_sdk import PanelConfig, embed_panel
from plugin_sdk.bridge_client import BridgeRequestError
from tests.bridge.conftest import panel_with_host
from tests.gui.conftest import wait_for_state
from tests.gui.test_outbound_search import CAMPAIGN, outcomes, server  # noqa: F401 - the live server fixture


def test_show_customer_with_an_outbound_campaign_pops_it_without_a_question(qtbot, tmp_path, host_window,
                                                                            server, memory_keyring):  # noqa: F811
    config = PanelConfig(server_url=server.base_url, agent_id="agent-007", language="en", theme="light",
                         store_path=tmp_path / "sdk.sqlite3", require_api="1.5")
    handle = embed_panel(host_window, config, credentials=lambda: server.token)
    try:
        shown: list[dict] = []
        handle.subscribe("pop_shown", shown.append)
        result = handle.show_customer("OS-3", outbound={"campaign_id": CAMPAIGN})
        assert result.popped and result.call_id.startswith("search-")
        qtbot.waitUntil(lambda: len(shown) == 1, timeout=5000)
        assert (shown[0]["channel"], shown[0]["campaign_id"]) == ("outbound_call", CAMPAIGN)
        view = handle._session.window.view(result.call_id)
        assert not view.asks_for_channel() and view.result.document.contact.channel == "outbound_call"
        with qtbot.waitSignal(handle.outcome_recorded, timeout=5000):
            handle._session.controller.record_outcome(result.call_id, "RET-DISCOUNT-20", "declined", {})
        qtbot.waitUntil(lambda: [(o.channel, o.campaign_id, o.wave) for o in outcomes(server, "OS-3")
                                 if o.result == "declined"] == [("outbound_call", CAMPAIGN, 2)], timeout=10000)
        # outbound=False: a lookup, no question; None (a v1 host): the agent is asked, pop_shown follows the answer.
        lookup = handle.show_customer("OS-1", outbound=False)
        qtbot.waitUntil(lambda: len(shown) == 2, timeout=5000)
        assert shown[1]["call_id"] == lookup.call_id and shown[1]["channel"] == "inbound_call"
        assert handle._session.window.view(lookup.call_id).result.document.contact.channel == "inbound_call"
        asked = handle.show_customer("OS-2")
        assert asked.popped
        qtbot.waitUntil(lambda: handle._session.window.view(asked.call_id).asks_for_channel(), timeout=5000)
        assert len(shown) == 2
        assert handle._session.controller.choose_channel(asked.call_id, CAMPAIGN)
        qtbot.waitUntil(lambda: len(shown) == 3, timeout=5000)
        for bad in ({"campaign": CAMPAIGN}, {"campaign_id": "\u202e"}, "CMP", True):
            refused = handle.show_customer("OS-2", outbound=bad)
            assert refused.result == "rejected" and "outbound" in refused.detail, bad
    finally:
        handle.close()


@pytest.fixture
def bridged(qapp, qtbot, tmp_path, server, memory_keyring):  # noqa: F811
    with panel_with_host(qapp, qtbot, tmp_path, server.base_url, server.token) as bridged:
        yield bridged


def test_a_bridge_host_reports_an_outbound_call_for_a_campaign(qtbot, bridged, server):  # noqa: F811
    app, client, run = bridged
    answer = run(client.send_call, "crm-out-1", "answered", customer_id="OS-1", outbound_campaign=CAMPAIGN)
    assert answer.result == "popped"
    view = wait_for_state(qtbot, app, "crm-out-1", PopState.LIVE)
    assert view.result.document.contact.channel == "outbound_call" and not view.asks_for_channel()
    with qtbot.waitSignal(app.controller.outcome_recorded, timeout=5000):
        app.controller.record_outcome("crm-out-1", "RET-DISCOUNT-20", "considering", {})
    qtbot.waitUntil(lambda: [(o.channel, o.campaign_id, o.wave, o.call_id) for o in outcomes(server, "OS-1")
                             if o.result == "considering"] == [("outbound_call", CAMPAIGN, 2, "crm-out-1")],
                    timeout=10000)
    # A call event without `outbound` (every v1 host) pops as before: an inbound call, no question.
    run(client.send_call, "crm-in-1", "answered", customer_id="OS-2")
    view = wait_for_state(qtbot, app, "crm-in-1", PopState.LIVE)
    assert view.result.document.contact.channel == "inbound_call"
    for bad in ({"campaign": CAMPAIGN}, "CMP", {"campaign_id": 7}):
        with pytest.raises(BridgeRequestError) as refused:
            run(client._request, "POST", "/v1/calls", {"v": 1, "type": "call", "call_id": "crm-bad",
                                                       "state": "answered", "customer_id": "OS-1", "outbound": bad},
                expect="call.result")
        assert refused.value.status == 400 and "outbound" in str(refused.value), bad
