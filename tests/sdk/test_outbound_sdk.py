"""Outbound work through the in-process SDK (API 1.4): a host previews, dials and records the result with
PanelHandle's outbound methods; the replies and outbound_state() are the bridge's outbound object."""

from __future__ import annotations

from plugin_sdk import PanelConfig, embed_panel
from tests.gui.test_outbound_mode import CAMPAIGN, FakeDialer, server  # noqa: F401 - the outbound server fixture


def test_a_host_works_an_outbound_call_through_the_sdk(qtbot, tmp_path, host_window, server,  # noqa: F811
                                                        memory_keyring):
    config = PanelConfig(server_url=server.base_url, agent_id="agent-007", language="en", theme="light",
                         store_path=tmp_path / "sdk.sqlite3")
    handle = embed_panel(host_window, config, credentials=lambda: server.token)
    try:
        handle._session.outbound_service.campaign_id = CAMPAIGN  # this test server's running wave
        dialed: list[str] = []
        handle._session.outbound.dialer = FakeDialer(dialed)
        assert handle.outbound_state()["phase"] == "idle"
        replies: list[dict] = []
        handle.outbound_next(replies.append)
        qtbot.waitUntil(lambda: len(replies) == 1, timeout=5000)
        assert replies[0]["accepted"] and replies[0]["outbound"]["customer_id"] == "OG-1"
        assert replies[0]["outbound"]["wave"]["channel"] == "outbound_call"
        handle.outbound_dial(replies.append)
        qtbot.waitUntil(lambda: len(replies) == 2, timeout=5000)
        assert dialed == ["13600136001"] and replies[1]["outbound"]["call"]["channel"] == "outbound_call"
        handle.outbound_result("no_answer", done=replies.append)
        qtbot.waitUntil(lambda: len(replies) == 3, timeout=5000)
        assert replies[2]["outbound"]["call"]["result"] == "no_answer" and replies[2]["outbound"]["phase"] == "done"
        try:
            handle.outbound_result("maybe")
        except ValueError as exc:
            assert "maybe" in str(exc)
        else:
            raise AssertionError("an unknown call result must be refused")
    finally:
        handle.close()
