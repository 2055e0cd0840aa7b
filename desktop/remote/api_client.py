"""HTTP client of the analytics server's API v1 (resources/openapi/server-v1.json).

Short timeouts (a pop must not wait on a slow server), one quick retry for idempotent GETs on connect
errors only, and every failure turned into a RemoteError carrying a UserError code. Nothing logged here
contains a token, a phone number or a query string.

Every request has a deadline for the whole exchange, not only for each socket read (see deadline.py): the
second number of a timeout pair bounds the time from sending the request to the last byte of the answer,
so an answer that trickles in byte by byte ends as `timeout` on time and frees its worker. Answers are
read in chunks and refused beyond MAX_ANSWER_BYTES (by Content-Length first, then while reading), so a
huge answer costs neither memory nor a long JSON parse; parsing happens here, on the calling worker.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError
from urllib3.exceptions import SSLError as Urllib3SSLError
from urllib3.util import Retry

from desktop.domain.errors import MalformedResponse, UserError, UserFacingError
from desktop.domain.outbound import (
    AttemptAnswer,
    CallableCampaign,
    CallAttempt,
    Empty,
    LeaseState,
    Previewed,
    parse_attempt_answer,
    parse_callable_campaigns,
    parse_lease_state,
    parse_worklist_next,
)
from desktop.domain.outcomes import ItemResult, parse_batch_result
from desktop.domain.pop import (
    CallerCandidate,
    CustomerSummary,
    PopDocument,
    parse_candidates,
    parse_customer_search,
    parse_pop,
)
from desktop.domain.states import PopKey
from desktop.remote.deadline import DeadlineAdapter, deadline

log = logging.getLogger("callcue.remote")

# (connect, whole answer) seconds: connecting may take the first number (tried twice for a GET), and the
# answer must be complete within the second, counted from the start of the request.
DEFAULT_TIMEOUT = (1.0, 2.0)  # the pop, and the other lookups (search, offers, sign-in)
DEFAULT_SYNC_TIMEOUT = (1.0, 10.0)  # a batch of outcomes may take longer; it runs in the background
# The largest answer read: a pop is ~10 KiB, a search or a batch result tens of KiB, the offer catalog a
# few hundred. Anything bigger is refused unread (answer_too_large): a 50 MB answer once cost 150 MB of
# memory and an 87 ms GUI freeze (its JSON parse holding the interpreter).
MAX_ANSWER_BYTES = 4 * 1024 * 1024
_CHUNK_BYTES = 64 * 1024
USER_AGENT = "CallCue-desktop/0.1"
_NOT_JSON = object()


class RemoteError(UserFacingError):
    """The server could not give an answer; `user_error` says what to tell the agent."""

    code = "server_error"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.code)
        self.detail = detail

    @property
    def user_error(self) -> UserError:
        return UserError(self.code, self.detail)


class Unreachable(RemoteError):
    code = "server_unreachable"


class TlsFailed(Unreachable):
    code = "tls_failed"


class TimedOut(RemoteError):
    code = "timeout"


class ServerFailed(RemoteError):
    code = "server_error"

    def __init__(self, status: int, detail: str = "", retry_after: float | None = None) -> None:
        super().__init__(detail or f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


class RateLimited(ServerFailed):
    """The server refused because this sign-in asked too often (429 rate_limited): a limit against
    bulk reading of customers. `retry_after` says when to ask again."""

    code = "rate_limited"

    @property
    def user_error(self) -> UserError:
        # The agent's message already says what to do (wait a minute); the server's English explanation of
        # its limit is for IT (kept in str(self) and the log), not appended to a Chinese screen.
        return UserError(self.code)


class BadResponse(RemoteError):
    code = "bad_response"


class AnswerTooLarge(BadResponse):
    """The answer is larger than the client reads (MAX_ANSWER_BYTES): refused, connection dropped."""

    code = "answer_too_large"


class AuthFailed(RemoteError):
    code = "auth_failed"


class UnknownCaller(RemoteError):
    code = "unknown_caller"


class AmbiguousCaller(RemoteError):
    """409 ambiguous_caller: the number belongs to several customers. `candidates` lists them (the agent
    chooses one; the pop is then asked for by customer id). The server recorded no decision."""

    code = "ambiguous_caller"

    def __init__(self, candidates: tuple[CallerCandidate, ...], detail: str = "") -> None:
        super().__init__(detail or f"{len(candidates)} customers share this number")
        self.candidates = candidates


class OutcomeNotFound(RemoteError):
    """404 outcome_not_found: the server holds no such outcome of this agent's (nothing to retract)."""

    code = "outcome_not_found"


class InvalidRequest(RemoteError):
    """400/422: the server refused the request itself (e.g. a 3-digit extension as caller id)."""

    code = "invalid_input"


class PayloadTooLarge(InvalidRequest):
    """413: send smaller batches."""


class LeaseEnded(RemoteError):
    """404 lease_not_found / 409 lease_ended, lease_has_result: the customer is no longer held for this agent
    (a result was recorded, it was released, or it expired and went to someone else)."""

    code = "lease_ended"

    def __init__(self, server_code: str, detail: str = "") -> None:
        super().__init__(detail or server_code)
        self.server_code = server_code


class OutboundRefused(RemoteError):
    """The worklist refused for another reason (campaign_not_found, customer_gone, attempt_id_reused)."""

    code = "outbound_refused"

    def __init__(self, server_code: str, detail: str = "") -> None:
        super().__init__(detail or server_code)
        self.server_code = server_code


class OutboundPopRefused(RemoteError):
    """An outbound call's pop refused: the campaign has no outbound wave running for this agent any more
    (campaign_not_found, no_outbound_wave: code outbound_not_running), or the customer is not on its list
    (not_in_campaign). The server recorded no decision."""

    def __init__(self, server_code: str, detail: str = "") -> None:
        super().__init__(detail or server_code)
        self.server_code = server_code
        self.code = "not_in_campaign" if server_code == "not_in_campaign" else "outbound_not_running"


class _Answer(NamedTuple):
    status: int
    retry_after: str | None
    body: bytes


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: rare enough to ignore


class AnalyticsClient:
    """One server, one agent. Thread-safe for use from the pop worker and the sync worker at once."""

    def __init__(
        self,
        base_url: str,
        token_provider: Callable[[], str | None],
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        *,
        sync_timeout: tuple[float, float] = DEFAULT_SYNC_TIMEOUT,
        verify: bool | str = True,
        renew_token: Callable[[str], str | None] | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        """`token_provider()` gives the bearer token for each request. `renew_token(refused)`, if given, is
        called when the server answers 401 to `refused`: a different token it returns is tried once (for
        that request only, within the same deadline), so an expired token costs one extra request, never a
        loop. `timeout` / `sync_timeout`: (connect, whole answer) seconds for lookups / outcome batches."""
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) server URL: {base_url!r}")
        self.base_url = base_url.strip().rstrip("/")
        self._host = parts.netloc
        self._token_provider = token_provider
        self._renew_token = renew_token
        self.timeout = timeout
        self.sync_timeout = sync_timeout
        self.max_answer_bytes = max_answer_bytes
        self._session = session or self._make_session()
        # The environment's proxy and CA settings, read once: requests would otherwise re-read the whole
        # environment (and ~/.netrc) on every request, ~0.6 ms of a pop's ~2 ms of client CPU.
        if verify is True:
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        if self._session.trust_env:
            self._session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
            self._session.trust_env = False
        # True, False, or the path of a CA bundle (company CA), passed on every request.
        self._verify = verify
        self._session.headers.setdefault("User-Agent", USER_AGENT)

    @property
    def verify(self) -> bool | str:
        return self._verify

    @staticmethod
    def _make_session() -> requests.Session:
        session = requests.Session()
        # One immediate retry of GETs whose connection failed (a dropped keep-alive, a server restarting):
        # never POSTs, never after the request reached the server, never a long sleep.
        retry = Retry(
            # read=False re-raises a read timeout as itself (read=0 would wrap it as a connection error).
            total=1, connect=1, read=False, redirect=3, status=0, other=0,
            allowed_methods=frozenset({"GET"}), backoff_factor=0.1, backoff_max=0.2,
            raise_on_status=False, respect_retry_after_header=False,
        )
        adapter = DeadlineAdapter(max_retries=retry, pool_connections=2, pool_maxsize=4)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def close(self) -> None:
        self._session.close()

    # --- API ---------------------------------------------------------------------------------------

    def pop(self, key: PopKey) -> PopDocument:
        """GET /v1/pop by customer id (preferred: unambiguous) or caller number."""
        params = {"customer_id": key.customer_id} if key.customer_id else {"ani": key.ani or ""}
        if key.outbound:  # an outbound call for this campaign: the pop of its outbound wave
            params.update(channel="outbound_call", campaign_id=key.outbound)
        data = self._json("GET", "/v1/pop", params=params)
        try:
            return parse_pop(data)
        except MalformedResponse as exc:
            raise BadResponse(f"/v1/pop: {exc}") from None

    def callable_campaigns(self, customer_id: str | None = None) -> tuple[CallableCampaign, ...]:
        """GET /v1/outbound/campaigns: the campaigns the agent may call for (with customer_id: whose list holds
        that customer)."""
        data = self._json("GET", "/v1/outbound/campaigns",
                          params={"customer_id": customer_id} if customer_id else None)
        try:
            return parse_callable_campaigns(data)
        except MalformedResponse as exc:
            raise BadResponse(f"/v1/outbound/campaigns: {exc}") from None

    def search(self, q: str, limit: int = 10) -> list[CustomerSummary]:
        data = self._json("GET", "/v1/customers", params={"q": q, "limit": max(1, min(50, limit))})
        try:
            return parse_customer_search(data)
        except MalformedResponse as exc:
            raise BadResponse(f"/v1/customers: {exc}") from None

    def post_outcomes(self, items: list[dict[str, Any]]) -> list[ItemResult]:
        data = self._json("POST", "/v1/outcomes", json_body={"outcomes": items}, timeout=self.sync_timeout)
        try:
            results = parse_batch_result(data)
        except MalformedResponse as exc:
            raise BadResponse(f"/v1/outcomes: {exc}") from None
        return results

    def retract_outcome(self, outcome_id: str) -> None:
        """POST /v1/outcomes/{outcome_id}/retraction (idempotent). OutcomeNotFound: nothing to take back."""
        data = self._json("POST", f"/v1/outcomes/{outcome_id}/retraction", timeout=self.sync_timeout)
        if not isinstance(data, dict) or data.get("outcome_id") != outcome_id:
            raise BadResponse("/v1/outcomes/…/retraction: the answer does not name the outcome")

    def offers(self) -> list[dict[str, Any]]:
        """GET /v1/offers (the catalog); also the cheapest authenticated call, used to check a token."""
        data = self._json("GET", "/v1/offers")
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise BadResponse("/v1/offers: items should be a list")
        return items

    def me(self) -> str:
        """GET /v1/me: the agent id the token belongs to (sign-in checks it against what was typed)."""
        data = self._json("GET", "/v1/me")
        agent_id = data.get("agent_id") if isinstance(data, dict) else None
        if not isinstance(agent_id, str):
            raise BadResponse("/v1/me: agent_id should be a string")
        return agent_id

    def identity(self) -> tuple[str, str]:
        """GET /v1/me: (agent id, role) of the token; role is "agent" or "lead" (older servers: "agent")."""
        data = self._json("GET", "/v1/me")
        agent_id = data.get("agent_id") if isinstance(data, dict) else None
        if not isinstance(agent_id, str):
            raise BadResponse("/v1/me: agent_id should be a string")
        role = data.get("role", "agent")
        if role not in ("agent", "lead"):
            raise BadResponse("/v1/me: role should be 'agent' or 'lead'")
        return agent_id, role

    # --- outbound (docs/outbound-api.md) -------------------------------------------------------------

    def worklist_next(self, campaign_id: str | None = None, lease_seconds: int | None = None) -> Previewed | Empty:
        """POST /v1/worklist/next: the next customer, held for this agent. Idempotent on the server (asking
        again answers the lease already held), so a lost answer is simply asked again."""
        body = {k: v for k, v in (("campaign_id", campaign_id), ("lease_seconds", lease_seconds)) if v is not None}
        data = self._json("POST", "/v1/worklist/next", json_body=body or None)
        try:
            return parse_worklist_next(data)
        except MalformedResponse as exc:
            raise BadResponse(f"/v1/worklist/next: {exc}") from None

    def renew_lease(self, lease_id: str, lease_seconds: int | None = None) -> LeaseState:
        body = {"lease_seconds": lease_seconds} if lease_seconds is not None else None
        return self._lease_call(f"/v1/worklist/leases/{lease_id}/renew", body)

    def release_lease(self, lease_id: str, reason: str, hold_minutes: int) -> LeaseState:
        """A skip (no attempt counted). Repeating it answers the same."""
        return self._lease_call(f"/v1/worklist/leases/{lease_id}/release",
                                {"reason": reason, "hold_minutes": hold_minutes})

    def post_attempt(self, attempt: CallAttempt) -> AttemptAnswer:
        """POST /v1/outbound/attempts; `attempt.attempt_id` makes a resend after a lost answer `duplicate`."""
        data = self._json("POST", "/v1/outbound/attempts", json_body=attempt.to_payload(), timeout=self.sync_timeout)
        try:
            answer = parse_attempt_answer(data)
        except MalformedResponse as exc:
            raise BadResponse(f"/v1/outbound/attempts: {exc}") from None
        if answer.attempt_id != attempt.attempt_id:
            raise BadResponse("/v1/outbound/attempts: the answer names another attempt")
        return answer

    def _lease_call(self, path: str, body: dict[str, Any] | None) -> LeaseState:
        data = self._json("POST", path, json_body=body)
        try:
            return parse_lease_state(data)
        except MalformedResponse as exc:
            raise BadResponse(f"{path.rsplit('/', 1)[-1]}: {exc}") from None

    def health(self) -> dict[str, Any]:
        data = self._json("GET", "/v1/health", authenticated=False)
        if not isinstance(data, dict):
            raise BadResponse("/v1/health: the answer should be an object")
        return data

    # --- plumbing ----------------------------------------------------------------------------------

    def _json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        timeout: tuple[float, float] | None = None,
        authenticated: bool = True,
    ) -> Any:
        headers = {"Accept": "application/json"}
        token = None
        if authenticated:
            token = self._token_provider()
            if not token:
                raise AuthFailed("not signed in")
            headers["Authorization"] = f"Bearer {token}"
        connect, total = timeout or self.timeout
        at = time.monotonic() + total  # one deadline, a retry with a renewed token included
        answer = self._send(method, path, params, json_body, headers, connect, at, total)
        if answer.status == 401 and token and self._renew_token is not None:
            fresh = self._renew_token(token)
            if fresh and fresh != token:
                headers["Authorization"] = f"Bearer {fresh}"
                answer = self._send(method, path, params, json_body, headers, connect, at, total)
        return self._decode(path, answer)

    def _send(self, method: str, path: str, params: Mapping[str, Any] | None, json_body: Any,
              headers: dict[str, str], connect: float, at: float, read: float) -> _Answer:
        """One exchange, complete by `at` (time.monotonic()); each read waits at most `read` seconds."""
        started = time.perf_counter()
        remaining = at - time.monotonic()
        if remaining <= 0:
            raise TimedOut(f"{path}: no answer from {self._host} in time")
        with deadline(at, read):
            try:
                response = self._session.request(
                    method, self.base_url + path, params=params, json=json_body, headers=headers,
                    timeout=(min(connect, remaining), min(read, remaining)), verify=self._verify, stream=True,
                )
            except requests.exceptions.SSLError:
                raise TlsFailed(f"TLS handshake with {self._host} failed (certificate not trusted?)") from None
            except requests.exceptions.ConnectTimeout:
                raise Unreachable(f"no connection to {self._host} in time") from None
            except requests.exceptions.ReadTimeout:
                raise TimedOut(f"{path}: no answer from {self._host} in time") from None
            except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError):
                raise Unreachable(f"cannot connect to {self._host}") from None
            except requests.exceptions.RequestException as exc:
                raise Unreachable(f"{path}: {type(exc).__name__}") from None
            try:
                body = self._read_body(path, response, at)
            finally:
                response.close()  # after a complete answer the connection is back in the pool already
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.debug("%s %s -> %s in %.0f ms", method, path, response.status_code, elapsed_ms)
        return _Answer(response.status_code, response.headers.get("Retry-After"), body)

    def _read_body(self, path: str, response: requests.Response, at: float) -> bytes:
        """The answer's body, refused beyond max_answer_bytes (declared or read) or past the deadline."""
        cap = self.max_answer_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap:
            raise AnswerTooLarge(f"{path}: the answer would be {int(declared):,} bytes; the limit is {cap:,}")
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.raw.stream(_CHUNK_BYTES, decode_content=True):
                size += len(chunk)
                if size > cap:  # no or a false Content-Length, or compressed: counted as it arrives
                    raise AnswerTooLarge(f"{path}: the answer is larger than the limit of {cap:,} bytes")
                chunks.append(chunk)
                if time.monotonic() > at:  # decompressing may yield without reading the socket
                    raise TimedOut(f"{path}: the answer from {self._host} did not arrive in time")
        except ReadTimeoutError:
            raise TimedOut(f"{path}: the answer from {self._host} did not arrive in time") from None
        except DecodeError:
            raise BadResponse(f"{path}: the answer's compression is broken") from None
        except (ProtocolError, Urllib3SSLError, OSError):
            raise Unreachable(f"{path}: the connection to {self._host} broke during the answer") from None
        return b"".join(chunks)

    def _decode(self, path: str, answer: _Answer) -> Any:
        status = answer.status
        try:
            body: Any = json.loads(answer.body)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deeply to parse
            body = _NOT_JSON
        error = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
        code = error.get("code") if isinstance(error.get("code"), str) else None
        message = error.get("message") if isinstance(error.get("message"), str) else ""
        if 200 <= status < 300:
            if body is _NOT_JSON:
                raise BadResponse(f"{path}: the answer is not JSON (HTTP {status})")
            return body
        if status in (401, 403):
            raise AuthFailed(message or f"HTTP {status}")
        if status == 404 and code == "customer_not_found":
            raise UnknownCaller(message)
        if status == 409 and code == "ambiguous_caller":
            try:
                candidates = parse_candidates(body)
            except MalformedResponse as exc:
                raise BadResponse(f"{path}: HTTP 409 ambiguous_caller: {exc}") from None
            raise AmbiguousCaller(candidates)
        if status == 404 and code == "outcome_not_found":
            raise OutcomeNotFound(message)
        if status in (404, 409) and code in ("lease_not_found", "lease_ended", "lease_has_result"):
            raise LeaseEnded(code, message)
        if path == "/v1/pop" and status in (404, 409) and code in ("campaign_not_found", "no_outbound_wave",
                                                                   "not_in_campaign"):
            raise OutboundPopRefused(code, message)
        if status in (404, 409) and code in ("campaign_not_found", "customer_gone", "attempt_id_reused"):
            raise OutboundRefused(code, message)
        if status == 404:
            raise BadResponse(f"{path} not found on {self._host}: is the server URL right?")
        if status == 413:
            raise PayloadTooLarge(message or "request too large")
        if status in (400, 422):
            raise InvalidRequest(message or f"HTTP {status}")
        if status == 429 and code == "rate_limited":
            raise RateLimited(status, message, _retry_after(answer.retry_after))
        if status == 429 or status >= 500:
            raise ServerFailed(status, message, _retry_after(answer.retry_after))
        raise BadResponse(f"{path}: unexpected HTTP {status}")
