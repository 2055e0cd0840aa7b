"""Tokens live in the OS keyring only; a missing keyring is a plain error, never a file fallback."""

from __future__ import annotations

import keyring
import pytest
from keyring.backends import fail

from desktop.remote.credentials import CredentialStore, CredentialsUnavailable, token_from_environment

URL = "https://analytics.example"


def test_set_get_delete(memory_keyring):
    store = CredentialStore()
    assert store.get_token(URL, "agent-007") is None
    store.set_token(URL + "/", "agent-007", "cc_abc_secret")
    assert store.get_token(URL, "agent-007") == "cc_abc_secret"  # trailing slash does not matter
    assert store.get_token(URL, "agent-008") is None
    assert memory_keyring.passwords == {("CallCue", "agent-007@https://analytics.example"): "cc_abc_secret"}
    store.delete_token(URL, "agent-007")
    store.delete_token(URL, "agent-007")  # deleting twice is fine: sign-out must always work
    assert store.get_token(URL, "agent-007") is None


def test_no_keyring_is_a_plain_error():
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        store = CredentialStore()
        with pytest.raises(CredentialsUnavailable, match="no password store") as caught:
            store.get_token(URL, "agent-007")
        assert "CALLCUE_TOKEN" in str(caught.value)
        assert caught.value.user_error.code == "keyring_unavailable"
        with pytest.raises(CredentialsUnavailable):
            store.set_token(URL, "agent-007", "cc_x_y")
    finally:
        keyring.set_keyring(previous)


def test_keyrings_alt_is_not_installed():
    # It would silently fall back to a plaintext token file.
    with pytest.raises(ImportError):
        __import__("keyrings.alt")


def test_environment_token():
    assert token_from_environment({"CALLCUE_TOKEN": " cc_env_tok "}) == "cc_env_tok"
    assert token_from_environment({"CALLCUE_TOKEN": ""}) is None
    assert token_from_environment({}) is None
