"""The agent's API token, kept only in the operating system's password store (keyring).

There is deliberately no file fallback (no keyrings.alt): a token in a plain file is readable by any
program of the user. Automation sets CALLCUE_TOKEN instead, which overrides the keyring.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import ModuleType

from desktop.domain.errors import UserFacingError

TOKEN_ENV = "CALLCUE_TOKEN"


class CredentialsUnavailable(UserFacingError):
    """No usable password store; the message says what to do."""

    code = "keyring_unavailable"


_NO_KEYRING = (
    "This computer has no password store for the CallCue token (on Linux: GNOME Keyring or KWallet; on "
    "Windows: Credential Manager). Ask IT to enable one, or set CALLCUE_TOKEN for automated use."
)


def _keyring() -> ModuleType:
    """keyring, imported at its first use: a panel whose token comes from CALLCUE_TOKEN never loads it
    (with its entry-point scan: ~3 MiB of the idle panel)."""
    import keyring
    import keyring.errors

    return keyring


def _account(server_url: str, agent_id: str) -> str:
    return f"{agent_id}@{server_url.strip().rstrip('/')}"


def token_from_environment(environ: Mapping[str, str] | None = None) -> str | None:
    """CALLCUE_TOKEN, if set: it overrides the keyring (meant for automation and kiosks)."""
    value = (os.environ if environ is None else environ).get(TOKEN_ENV, "").strip()
    return value or None


class CredentialStore:
    """Tokens per (server URL, agent id) under one keyring service name."""

    def __init__(self, service: str = "CallCue") -> None:
        self.service = service

    def get_token(self, server_url: str, agent_id: str) -> str | None:
        keyring = _keyring()
        try:
            return keyring.get_password(self.service, _account(server_url, agent_id))
        except keyring.errors.NoKeyringError:
            raise CredentialsUnavailable(_NO_KEYRING) from None
        except keyring.errors.KeyringLocked:
            raise CredentialsUnavailable("The password store is locked: unlock it and sign in again.") from None
        except keyring.errors.KeyringError as exc:
            raise CredentialsUnavailable(f"The password store failed: {type(exc).__name__}.") from None

    def set_token(self, server_url: str, agent_id: str, token: str) -> None:
        keyring = _keyring()
        try:
            keyring.set_password(self.service, _account(server_url, agent_id), token)
        except keyring.errors.NoKeyringError:
            raise CredentialsUnavailable(_NO_KEYRING) from None
        except keyring.errors.KeyringLocked:
            raise CredentialsUnavailable("The password store is locked: unlock it and sign in again.") from None
        except keyring.errors.KeyringError as exc:
            raise CredentialsUnavailable(f"The token could not be saved: {type(exc).__name__}.") from None

    def delete_token(self, server_url: str, agent_id: str) -> None:
        """Remove the token; a token that is not there is fine (sign-out must always succeed)."""
        keyring = _keyring()
        try:
            keyring.delete_password(self.service, _account(server_url, agent_id))
        except keyring.errors.PasswordDeleteError:
            pass
        except keyring.errors.NoKeyringError:
            raise CredentialsUnavailable(_NO_KEYRING) from None
        except keyring.errors.KeyringError as exc:
            raise CredentialsUnavailable(f"The token could not be removed: {type(exc).__name__}.") from None
