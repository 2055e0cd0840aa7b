"""What went wrong, as a stable code the UI translates (zh/en), plus a detail for logs and "more info".

Lower layers raise their own exceptions (RemoteError, StoreError, ConfigError, …); each carries one of
these so the panel needs a single table of plain-language messages, not knowledge of every library.
"""

from __future__ import annotations

from dataclasses import dataclass

# code -> what the agent should read (English reference text; the UI owns the translations).
ERROR_MESSAGES_EN: dict[str, str] = {
    "server_unreachable": "Cannot reach the analytics server. Showing saved data; outcomes are kept and sent later.",
    "timeout": "The analytics server did not answer in time. Showing saved data; outcomes are kept.",
    "server_error": "The analytics server had a problem. Showing saved data; outcomes are kept and sent later.",
    "bad_response": "The analytics server sent something this panel cannot read. Tell your team lead.",
    "answer_too_large": "The analytics server's answer is too large to read (a fault of the server or of "
                        "a proxy). Showing saved data; outcomes are kept. Tell IT.",
    "rate_limited": "The analytics server asks to wait: this sign-in opened many customers in a short time. "
                    "Showing saved data; try again in a minute. Outcomes are kept.",
    "auth_failed": "You are signed out or your token expired. Sign in again; nothing you recorded is lost.",
    "server_url_invalid": "The server URL must start with http:// or https://, e.g. https://analytics.example.com.",
    "agent_id_invalid": "Enter your agent ID (1 to 64 characters).",
    "token_missing": "Paste the token your team lead gave you.",
    "token_other_agent": "This token belongs to another agent ID. Check the agent ID, or ask your team lead for "
                         "your own token.",
    "token_refused": "The server did not accept this token. Check that it is complete and meant for this agent "
                     "ID and server, or ask your team lead for a new one.",
    "unknown_caller": "This number is not a known customer: treat as a new caller, or search by name.",
    "ambiguous_caller": "This number belongs to several customers: ask who is calling and choose before "
                        "recording an outcome.",
    "disk_full": "The disk is full: the outcome was NOT saved. Free some space or tell IT.",
    "read_only": "The panel cannot write its data folder: outcomes cannot be saved. Tell IT.",
    "store_corrupt": "The panel's local data file is damaged. Tell IT; it can be moved aside and recreated.",
    "store_failed": "The panel's local data file cannot be used right now. Tell IT.",
    "config_invalid": "A CallCue settings file is invalid. Tell IT which file and setting (see details).",
    "invalid_input": "Some input is not valid (see details).",
    "tls_failed": "The server's security certificate is not trusted. Ask IT for the right CA bundle.",
    "keyring_unavailable": "This computer has no password store to keep your token. Tell IT.",
    "lease_ended": "This customer is no longer held for you (the result was recorded, the customer was skipped, "
                   "or the hold expired). Take the next customer.",
    "dial_failed": "The call could not be placed through the softphone (see details). Dial by hand, then record "
                   "the call result.",
    "outbound_not_running": "That campaign has no outbound calls running for you now. Close the tab and open the "
                            "customer again as an inbound call or a lookup.",
    "not_in_campaign": "This customer is not on that campaign's list. Close the tab and open them again as an "
                       "inbound call or a lookup.",
    "outbound_refused": "The analytics server refused this outbound request (see details). Take the next customer.",
}

ERROR_CODES = frozenset(ERROR_MESSAGES_EN)


@dataclass(frozen=True)
class UserError:
    """A failure the agent is told about. `detail` is technical context: never a token or phone number."""

    code: str
    detail: str = ""

    def __post_init__(self) -> None:
        if self.code not in ERROR_CODES:
            raise ValueError(f"unknown error code {self.code!r}; add it to ERROR_MESSAGES_EN")

    @property
    def message_en(self) -> str:
        return ERROR_MESSAGES_EN[self.code]


class UserFacingError(Exception):
    """Base of every exception whose message the agent may read (store, server, config, keyring, input).

    The UI cannot import storage or remote (layer rules), so it catches this and shows `user_error`.
    """

    code = "invalid_input"

    @property
    def user_error(self) -> UserError:
        return UserError(self.code, str(self))


class MalformedResponse(UserFacingError, ValueError):
    """The server's JSON does not match the v1 contract; the message names the bad field."""

    code = "bad_response"
