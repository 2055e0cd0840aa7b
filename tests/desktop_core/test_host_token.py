"""Tokens from a host's callback (plugin_sdk): asked again once after a 401, never a request loop,
against the real server (through the fault injector, which counts the requests that reach it)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.orm import Session

from desktop.domain.states import PopKey
from desktop.remote.api_client import AnalyticsClient, AuthFailed
from desktop.services.session import HostToken
from server_stub.services.auth import revoke_tokens
from tests.desktop_core.fault_server import Forward, fault_server


class Callback:
    """A host's credentials callback that hands out the tokens it is given, one per call."""

    def __init__(self, *tokens: str | None) -> None:
        self.tokens = list(tokens)
        self.calls = 0

    def __call__(self) -> str | None:
        self.calls += 1
        return self.tokens.pop(0) if len(self.tokens) > 1 else self.tokens[0]


def client_for(base_url: str, token: HostToken) -> AnalyticsClient:
    return AnalyticsClient(base_url, token.current, renew_token=token.renew)


def revoked_token(live, agent: str) -> str:
    token = live.new_token(agent)
    with Session(live.engine) as session:
        revoke_tokens(session, agent)
    return token


def test_the_callback_is_asked_once_and_its_token_reused(live):
    callback = Callback(live.token)
    token = HostToken(callback)
    with fault_server(Forward(live.base_url)) as fault:
        client = client_for(fault.base_url, token)
        try:
            client.pop(PopKey(customer_id="C-PLAIN"))
            client.pop(PopKey(customer_id="C-PLAIN"))
        finally:
            client.close()
    assert callback.calls == 1
    assert len(fault.requests_seen) == 2


def test_an_expired_token_is_renewed_once_and_the_request_retried(live):
    expired = revoked_token(live, "agent-expiring")
    callback = Callback(expired, live.token)
    token = HostToken(callback)
    with fault_server(Forward(live.base_url)) as fault:
        client = client_for(fault.base_url, token)
        try:
            document = client.pop(PopKey(customer_id="C-PLAIN"))
        finally:
            client.close()
    assert document.customer.customer_id == "C-PLAIN"
    assert callback.calls == 2  # the first token, then once after the 401
    assert len(fault.requests_seen) == 2  # the refused request and its one retry


def test_a_callback_that_keeps_the_refused_token_causes_no_loop(live):
    expired = revoked_token(live, "agent-stuck")
    callback = Callback(expired)
    token = HostToken(callback)
    with fault_server(Forward(live.base_url)) as fault:
        client = client_for(fault.base_url, token)
        try:
            with pytest.raises(AuthFailed):
                client.pop(PopKey(customer_id="C-PLAIN"))
            assert len(fault.requests_seen) == 1  # the same token is not retried
            assert callback.calls == 2
            # Later requests ask the callback first and, while it still has the refused token, fail at
            # once without bothering the server.
            for _ in range(3):
                with pytest.raises(AuthFailed):
                    client.pop(PopKey(customer_id="C-PLAIN"))
            assert len(fault.requests_seen) == 1
            assert callback.calls == 5
            # The host gets a new token: the next request uses it.
            callback.tokens = [live.token]
            assert client.pop(PopKey(customer_id="C-PLAIN")).customer.customer_id == "C-PLAIN"
            assert len(fault.requests_seen) == 2
        finally:
            client.close()


def test_concurrent_401s_ask_the_callback_only_once(live):
    expired = revoked_token(live, "agent-concurrent")
    callback = Callback(expired, live.token)
    token = HostToken(callback)
    assert token.current() == expired
    # Two workers got 401 for the same token at about the same time.
    results: list[str | None] = []
    workers = [threading.Thread(target=lambda: results.append(token.renew(expired))) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert results == [live.token, live.token]
    assert callback.calls == 2


def test_invalidate_asks_again_and_a_failing_callback_means_no_token():
    def broken() -> str:
        raise OSError("SSO down")

    token = HostToken(broken)
    assert token.current() is None
    calls = Callback("cc_a", "cc_b")
    token = HostToken(calls)
    assert token.current() == "cc_a"
    assert token.current() == "cc_a"
    token.invalidate()
    assert token.current() == "cc_b"
    assert HostToken(lambda: 42).current() is None  # type: ignore[arg-type, return-value]
    assert HostToken(lambda: "  ").current() is None
