"""Sign-in against the real server: the token is checked, kept only in the keyring, forgotten on sign-out."""

from __future__ import annotations

import datetime as dt

import keyring
import pytest
from keyring.backends import fail

from desktop.domain.errors import UserFacingError
from desktop.domain.states import PopKey
from desktop.remote.api_client import AnalyticsClient, AuthFailed, Unreachable
from desktop.remote.credentials import CredentialStore, CredentialsUnavailable
from desktop.services.config import load_config, save_user_settings
from desktop.services.outcomes import OutcomeService
from desktop.services.pop import PopService
from desktop.services.session import InvalidSignIn, SignInService, make_client_factory
from server_stub.live import free_port
from tests.desktop_core.conftest import AGENT


def factory(url, token_provider):
    return AnalyticsClient(url, token_provider, timeout=(0.5, 2.0))


def test_sign_in_checks_the_token_and_keeps_it_in_the_keyring(live, store, memory_keyring, tmp_path):
    user_file = tmp_path / "config.toml"
    session = SignInService(factory, CredentialStore(), store, environ={},
                            remember=lambda url, agent: save_user_settings(user_file, {"server.url": url,
                                                                                       "agent.id": agent}))
    assert session.client() is None and session.current_token() is None
    client = session.sign_in(live.base_url + "/", AGENT, f"  {live.token}\n")
    assert client.pop(PopKey(customer_id="C-PLAIN")).customer.customer_id == "C-PLAIN"
    assert list(memory_keyring.passwords.values()) == [live.token]
    assert session.account.server_url == live.base_url
    saved = load_config(machine_file=None, user_file=user_file, environ={}, cli={})
    assert (saved.server.url, saved.agent.id) == (live.base_url, AGENT)
    assert live.token not in user_file.read_text(encoding="utf-8")
    # A restart: the service is rebuilt from the saved settings and finds the token in the keyring.
    restarted = SignInService(factory, CredentialStore(), store, server_url=saved.server.url,
                              agent_id=saved.agent.id, environ={})
    assert restarted.current_token() == live.token
    assert restarted.client().health()["status"] == "ok"


def test_wrong_token_or_url_is_refused_and_nothing_stored(live, store, memory_keyring):
    session = SignInService(factory, CredentialStore(), store, environ={})
    with pytest.raises(AuthFailed) as refused:
        session.sign_in(live.base_url, AGENT, "cc_0000000000000000_wrong")
    assert refused.value.user_error.code == "token_refused"  # a wrong token, not an expired sign-in
    with pytest.raises(Unreachable):
        session.sign_in(f"http://127.0.0.1:{free_port()}", AGENT, live.token)
    for url, agent, token, field, code in (("analytics.local", AGENT, "t", "server URL", "server_url_invalid"),
                                           (live.base_url, "", "t", "agent id", "agent_id_invalid"),
                                           (live.base_url, AGENT, " ", "token", "token_missing")):
        with pytest.raises(InvalidSignIn, match=field) as caught:
            session.sign_in(url, agent, token)
        # A code per field: the agent reads which field in their language, not an English detail.
        assert isinstance(caught.value, UserFacingError) and caught.value.user_error.code == code
    with pytest.raises(InvalidSignIn, match="belongs to") as caught:
        session.sign_in(live.base_url, "someone-else", live.token)
    assert caught.value.user_error.code == "token_other_agent"
    assert memory_keyring.passwords == {} and session.account is None


def test_sign_out_forgets_token_and_customer_data_but_keeps_outcomes(live, store, memory_keyring, clock):
    session = SignInService(factory, CredentialStore(), store, environ={})
    client = session.sign_in(live.base_url, AGENT, live.token)
    pops = PopService(client, store, clock)
    result = pops.fetch(PopKey(customer_id="C-COMPLAINT"))
    saved = OutcomeService(store, clock).record(result, offer_id=None, result="do_not_disturb", agent_id=AGENT,
                                                call_id="so-1")
    callback = OutcomeService(store, clock).record(result, offer_id=None, result="callback", agent_id=AGENT,
                                                   call_id="so-2", callback_at=clock.now + dt.timedelta(hours=1))
    named = store.outcomes.open_callbacks(clock.now - dt.timedelta(days=1), clock.now + dt.timedelta(days=1))
    assert [c.display_name for c in named] == [result.document.customer.display_name]
    session.sign_out()
    assert memory_keyring.passwords == {} and session.current_token() is None
    assert pops.cached(PopKey(customer_id="C-COMPLAINT")) is None
    assert store.outcomes.entry(saved.outcome_id) is not None  # unsent outcomes survive sign-out
    # The name kept with the callback is customer data too: gone; the callback itself stays (by customer id).
    left = store.outcomes.open_callbacks(clock.now - dt.timedelta(days=1), clock.now + dt.timedelta(days=1))
    assert [(c.outcome_id, c.display_name, c.masked_number) for c in left] == [(callback.outcome_id, None, None)]
    session.sign_out()  # signing out twice is harmless


def test_environment_token_overrides_the_keyring(live, store, memory_keyring):
    session = SignInService(factory, CredentialStore(), store, server_url=live.base_url, agent_id=AGENT,
                            environ={"CALLCUE_TOKEN": live.token})
    assert session.current_token() == live.token and memory_keyring.passwords == {}
    assert session.client().offers()


def test_without_a_keyring_sign_in_says_so(live, store):
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        session = SignInService(factory, CredentialStore(), store, server_url=live.base_url, agent_id=AGENT,
                                environ={})
        assert session.current_token() is None
        assert session.token_problem.code == "keyring_unavailable"
        with pytest.raises(CredentialsUnavailable, match="no password store"):
            session.sign_in(live.base_url, AGENT, live.token)
    finally:
        keyring.set_keyring(previous)


def test_client_factory_uses_configured_timeout_and_ca(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    config = load_config(machine_file=None, user_file=None, environ={},
                         cli={"server.timeout_s": "4", "server.ca_bundle": str(ca)})
    client = make_client_factory(config)("https://analytics.example", lambda: None)
    assert client.timeout == (1.0, 4.0) and client.verify == str(ca)
