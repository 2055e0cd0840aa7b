"""Sign-in and sign-out: the token is checked against the server, then kept in the OS keyring only."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from desktop.domain.errors import UserError, UserFacingError
from desktop.remote.api_client import AnalyticsClient, AuthFailed
from desktop.remote.credentials import CredentialStore, CredentialsUnavailable, token_from_environment
from desktop.services.config import Config
from desktop.storage import LocalStore

log = logging.getLogger("callcue.session")

TokenProvider = Callable[[], str | None]
ClientFactory = Callable[[str, TokenProvider], AnalyticsClient]


class InvalidSignIn(UserFacingError):
    """The sign-in form is incomplete or malformed; the message names the field, `code` tells the agent
    which (server_url_invalid, agent_id_invalid, token_missing, token_other_agent) in their language."""

    code = "invalid_input"

    def __init__(self, message: str, code: str = "invalid_input") -> None:
        super().__init__(message)
        self.code = code

    @property
    def user_error(self) -> UserError:
        return UserError(self.code, "" if self.code != "invalid_input" else str(self))


class TokenRefused(AuthFailed):
    """At sign-in the server refused the token typed in (wrong, mistyped, another agent's or server's):
    not an expired sign-in, which is what `auth_failed` tells an agent who was signed in. Still an
    AuthFailed for code that handles any refused token."""

    code = "token_refused"


def make_client_factory(config: Config) -> ClientFactory:
    """Clients with the configured read timeout and CA bundle."""

    def factory(server_url: str, token_provider: TokenProvider) -> AnalyticsClient:
        return AnalyticsClient(server_url, token_provider, timeout=(1.0, config.server.timeout_s),
                               verify=config.server.verify)

    return factory


@dataclass(frozen=True)
class SignedIn:
    server_url: str
    agent_id: str
    role: str | None = None  # "agent" / "lead" as GET /v1/me said; None until the server was asked


class SignInService:
    """Who is signed in, and their token. `current_token` is the token provider for AnalyticsClient."""

    def __init__(
        self,
        client_factory: ClientFactory,
        credentials: CredentialStore,
        store: LocalStore,
        *,
        server_url: str | None = None,
        agent_id: str | None = None,
        environ: Mapping[str, str] | None = None,
        remember: Callable[[str, str], None] | None = None,
    ) -> None:
        """`server_url`/`agent_id`: from the configuration (last sign-in). `remember(url, agent)` saves
        them after a successful sign-in (e.g. config.save_user_settings)."""
        self._factory = client_factory
        self._credentials = credentials
        self._store = store
        self._environ = os.environ if environ is None else environ
        self._remember = remember
        self._lock = threading.Lock()
        self._account = SignedIn(server_url.rstrip("/"), agent_id) if server_url and agent_id else None
        # Kept in memory after the first keyring read (no keyring call per request); None after sign-out.
        self._token: str | None = None
        self._token_loaded = False
        self.token_problem: UserError | None = None  # e.g. no keyring: shown on the sign-in screen

    @property
    def account(self) -> SignedIn | None:
        return self._account

    def current_token(self) -> str | None:
        """CALLCUE_TOKEN if set, else the keyring's token for the current account. Never raises."""
        from_env = token_from_environment(self._environ)
        if from_env:
            return from_env
        with self._lock:
            if self._token_loaded or self._account is None:
                return self._token
            account = self._account
        try:
            token = self._credentials.get_token(account.server_url, account.agent_id)
        except CredentialsUnavailable as exc:
            self.token_problem = exc.user_error
            return None
        with self._lock:
            if self._account == account and not self._token_loaded:
                self._token, self._token_loaded = token, True
        return token

    def client(self) -> AnalyticsClient | None:
        """A client for the current account (None before the first sign-in)."""
        if self._account is None:
            return None
        return self._factory(self._account.server_url, self.current_token)

    def sign_in(self, server_url: str, agent_id: str, token: str) -> AnalyticsClient:
        """Check the token with an authenticated request, then store it in the keyring.

        Raises InvalidSignIn (form), a RemoteError (AuthFailed: wrong token; Unreachable: wrong URL or
        offline) or CredentialsUnavailable (no keyring). Returns the client to hand to the services.
        """
        server_url, agent_id, token = server_url.strip().rstrip("/"), agent_id.strip(), token.strip()
        parts = urlsplit(server_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidSignIn("server URL: must start with http:// or https://, e.g. https://analytics.example.com",
                                "server_url_invalid")
        if not agent_id or len(agent_id) > 64:
            raise InvalidSignIn("agent id: 1 to 64 characters", "agent_id_invalid")
        if not token:
            raise InvalidSignIn("token: paste the token your team lead gave you", "token_missing")
        probe = self._factory(server_url, lambda: token)
        try:
            owner, role = probe.identity()  # 401 here means the token is wrong
        except AuthFailed:
            raise TokenRefused() from None  # the message says it all; the server's words add nothing
        finally:
            probe.close()
        if owner != agent_id:
            # Otherwise every outcome would later be refused as "not the signed-in agent".
            raise InvalidSignIn(f"agent id: this token belongs to {owner!r}, not {agent_id!r}", "token_other_agent")
        self._credentials.set_token(server_url, agent_id, token)
        previous = self._account
        with self._lock:
            self._account = SignedIn(server_url, agent_id, role)
            self._token, self._token_loaded = token, True
            self.token_problem = None
        if previous is not None and previous.server_url != server_url:
            self._store.views.clear()  # another server's customer data has no business here
        if self._remember is not None:
            self._remember(server_url, agent_id)
        log.info("signed in")
        return self._factory(server_url, self.current_token)

    def role(self) -> str | None:
        """The signed-in token's role ("agent" / "lead"), asking GET /v1/me once when not known yet.

        Blocking (network): call it on the "net" pool. None when nobody is signed in or the server cannot
        say (offline, token refused): callers then treat the person as an agent (their own figures only).
        """
        account = self._account
        if account is None:
            return None
        if account.role is not None:
            return account.role
        client = self.client()
        if client is None:
            return None
        try:
            owner, role = client.identity()
        except UserFacingError as exc:
            log.info("role not confirmed", extra={"error_code": exc.code})
            return None
        finally:
            client.close()
        if owner != account.agent_id:
            return None
        with self._lock:
            if self._account == account:
                self._account = SignedIn(account.server_url, account.agent_id, role)
        return role

    def sign_out(self) -> None:
        """Forget the token (keyring and memory) and the customer data on this PC: the cached pops and the
        names kept with callbacks. Outcomes (callbacks included) are kept.

        The customer data is cleared even if the keyring fails; that failure is raised afterwards.
        """
        with self._lock:
            account = self._account
            self._token, self._token_loaded = None, True
        problem: CredentialsUnavailable | None = None
        if account is not None:
            try:
                self._credentials.delete_token(account.server_url, account.agent_id)
            except CredentialsUnavailable as exc:
                problem = exc
        self._store.outcomes.forget_callback_names()
        self._store.views.clear()  # last: its checkpoint leaves no deleted row in the WAL file
        log.info("signed out")
        if problem is not None:
            raise problem


class HostToken:
    """Bearer tokens from a host application's callback (plugin_sdk) instead of the keyring.

    The callback is asked
    - before the first request;
    - once after the server refused the token (401): a different token is tried once, for that request;
    - while the last token is known to be refused, before each request — which then fails at once
      (auth_failed) without contacting the server, until the callback gives another token.
    So an expired token never makes a request loop, and a host that renews its token late still recovers.
    `invalidate()` (the host says it has a new token) makes the next request ask again and try it.

    Use `current` as AnalyticsClient's token_provider and `renew` as its renew_token. Thread-safe (workers
    call it); calls to the callback never overlap. A callback that raises counts as "no token".
    """

    def __init__(self, fetch: TokenProvider) -> None:
        self._fetch = fetch
        self._lock = threading.Lock()
        self._token: str | None = None
        self._loaded = False
        self._refused: str | None = None
        self.asked = 0  # how often the callback was called (diagnostics and tests)

    def current(self) -> str | None:
        with self._lock:
            if not self._loaded or (self._token is not None and self._token == self._refused):
                self._token, self._loaded = self._ask(), True
            if self._token is not None and self._token == self._refused:
                return None
            return self._token

    def renew(self, refused: str) -> str | None:
        with self._lock:
            if self._token is not None and self._token != refused and self._token != self._refused:
                return self._token  # another request already renewed it
            self._refused = refused
            self._token, self._loaded = self._ask(), True
            return self._token if self._token != refused else None

    def invalidate(self) -> None:
        with self._lock:
            self._loaded = False
            self._refused = None

    def _ask(self) -> str | None:
        self.asked += 1
        try:
            token = self._fetch()
        except Exception as exc:  # a host's callback must not break the panel
            log.warning("the host's credentials callback failed", extra={"error": type(exc).__name__})
            return None
        if token is not None and not isinstance(token, str):
            log.warning("the host's credentials callback returned a %s, not a str", type(token).__name__)
            return None
        return (token.strip() or None) if token else None
