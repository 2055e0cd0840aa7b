"""Screen pops: cached data at once, then the server's answer, and a plain reason when that fails.

The panel calls `cached(key)` (memory or database) and `fetch(key)` (network, short timeout) on workers at
once, then renders each PopResult as it arrives.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections import OrderedDict
from typing import Any

from desktop.domain.errors import MalformedResponse, UserError
from desktop.domain.guidance import LOCAL_MEMORY, apply_local_outcomes
from desktop.domain.pop import CustomerSummary, PopDocument, document_to_json, parse_pop
from desktop.domain.states import PopKey, PopResult, PopState
from desktop.remote.api_client import (
    AmbiguousCaller,
    AnalyticsClient,
    AuthFailed,
    InvalidRequest,
    OutboundPopRefused,
    RemoteError,
    UnknownCaller,
)
from desktop.services.clock import Clock, utc_now
from desktop.storage import LocalStore, StoreError

log = logging.getLogger("callcue.pop")

DEFAULT_CACHE_TTL = dt.timedelta(hours=24)
# Parsed documents kept in memory (by cache key: 3-4 per customer, so ~1,500 customers, a few days of an
# agent's calls; ~10 KiB each, ~15 MiB when full): a re-pop of a recent caller is shown at once, reading
# nothing from disk. The store remains the cache that survives restarts and outages.
MEMORY_CACHE_KEYS = 5000
NOT_SIGNED_IN = UserError("auth_failed", "not signed in")


class PopService:
    def __init__(
        self,
        client: AnalyticsClient | None,
        store: LocalStore,
        clock: Clock = utc_now,
        *,
        cache_ttl: dt.timedelta = DEFAULT_CACHE_TTL,
    ) -> None:
        self._client = client
        self._store = store
        self._clock = clock
        self.cache_ttl = cache_ttl
        self._memory: OrderedDict[str, tuple[PopDocument, dt.datetime]] = OrderedDict()
        # customer id -> (this workstation's recent outcomes for them, OutcomeRepository.generation when read)
        self._local_memory: OrderedDict[str, tuple[list, int]] = OrderedDict()
        self._memory_generation = store.views.generation  # see CachedViewRepository.generation
        self._memory_lock = threading.Lock()  # the db and net workers both read and fill it

    def use_client(self, client: AnalyticsClient | None) -> None:
        """After sign-in (a new server or token) or sign-out (None): customer data of the previous session
        is dropped from memory too (the session clears the stored copies)."""
        self._client = client
        with self._memory_lock:
            self._memory.clear()
            self._local_memory.clear()

    # --- reading ------------------------------------------------------------------------------------

    def cached(self, key: PopKey) -> PopResult | None:
        """The cached view for `key` (state LOADING, with its age), or None. Database only."""
        hit = self._cached_document(key)
        if hit is None:
            return None
        document, fetched_at = hit
        return PopResult(PopState.LOADING, key, self._with_local(document), fetched_at)

    def cached_in_memory(self, key: PopKey) -> PopResult | None:
        """The cached view for `key` from memory alone (no I/O, so it may run on the GUI thread and a
        re-pop paints at once), or None when answering would need the store (then use `cached`)."""
        not_before = self._clock() - self.cache_ttl
        with self._memory_lock:
            self._drop_memory_if_removed()
            hit = next((h for h in map(self._memory.get, key.cache_keys()) if h is not None and h[1] >= not_before),
                       None)
            if hit is None:
                return None
            document, fetched_at = hit
            local = self._local_memory.get(document.customer.customer_id)
            if local is None or local[1] != self._store.outcomes.generation:
                return None
        return PopResult(PopState.LOADING, key, apply_local_outcomes(document, local[0], self._clock()), fetched_at)

    def initial(self, key: PopKey) -> PopResult:
        """What to show the moment a call rings: the cached view, else an empty LOADING result."""
        return self.cached(key) or PopResult(PopState.LOADING, key)

    def purge_expired_cache(self) -> int:
        """Delete cached views older than the TTL (call at start-up and now and then)."""
        return self._store.views.purge_expired(self._clock() - self.cache_ttl)

    def fetch(self, key: PopKey, *, remember: bool = True) -> PopResult:
        """Ask the server (blocking: call on a worker). Never raises for network or server failures.

        `remember=False`: the caller shows the result first and then calls `remember(result)` (the cache
        write is a durable commit of a few ms that the agent should not wait for)."""
        if not key.is_lookupable:
            # Withheld number or an internal extension: nothing the server could match.
            return PopResult(PopState.UNKNOWN_CALLER, key)
        client = self._client
        if client is None:
            return self._failed(key, NOT_SIGNED_IN, stale_allowed=False)
        try:
            document = client.pop(key)
        except UnknownCaller:
            self._forget_number(key)
            return PopResult(PopState.UNKNOWN_CALLER, key)
        except AmbiguousCaller as exc:
            # Never silently one of them: the agent chooses. A view cached under this number (from before
            # it was shared) must not pop again either.
            self._forget_number(key)
            return PopResult(PopState.AMBIGUOUS, key, candidates=exc.candidates)
        except AuthFailed as exc:
            return self._failed(key, exc.user_error, stale_allowed=False)
        except InvalidRequest as exc:
            return self._failed(key, exc.user_error, stale_allowed=False)
        except OutboundPopRefused as exc:
            # Not this campaign's call (any more): no saved copy either, or outcomes would answer it. The
            # agent's words come from the code; the server's (English) reason goes to the log.
            log.info("outbound pop refused", extra={"error_code": exc.server_code})
            return PopResult(PopState.ERROR, key, error=UserError(exc.code))
        except RemoteError as exc:  # unreachable, timed out, 5xx, unreadable answer
            log.info("pop fetch failed", extra={"error_code": exc.code})
            return self._failed(key, exc.user_error, stale_allowed=True)
        fetched_at = self._clock()
        if remember:
            self._cache(key, document, fetched_at)
            return PopResult(PopState.LIVE, key, self._with_local(document), fetched_at)
        return PopResult(PopState.LIVE, key, self._with_local(document), fetched_at, server_document=document)

    def fetch_again(self, shown: PopResult) -> PopResult:
        """Ask the server again for a pop it could not answer (`shown.can_retry`: the agent pressed retry,
        or the server is back). The answer is cached here, before it is returned; a pop that needs no
        retry comes back as it is, without a request. Blocking: call on a worker."""
        if not shown.can_retry:
            return shown
        return self.fetch(shown.key, remember=True)

    def remember(self, result: PopResult) -> None:
        """Keep a live result's document for later pops of the same caller (and for when the server is
        down). Local outcomes applied to it are not stored: they are re-applied on every read."""
        if result.state is PopState.LIVE and result.server_document is not None and result.fetched_at is not None:
            self._cache(result.key, result.server_document, result.fetched_at)

    def after_shown(self, result: PopResult, call_id: str | None, agent_id: str | None, log: bool = True) -> int | None:
        """What follows a pop on screen, in one task: a live result's document is cached (`remember`) and,
        when the pop settled for its call (`log`), the pop is logged. Returns the pop_log id (None when not
        logged). Never raises for a store failure (a pop is never broken by its bookkeeping)."""
        self.remember(result)
        return self.log_pop(result, call_id, agent_id) if log else None

    def with_local_outcomes(self, result: PopResult) -> PopResult:
        """Re-apply outcomes recorded here (call after recording one: the panel updates at once)."""
        if result.document is None:
            return result
        return PopResult(result.state, result.key, self._with_local(result.document), result.fetched_at,
                         result.error)

    def search(self, q: str, limit: int = 10) -> list[CustomerSummary]:
        """Find a caller by number, name or id. Raises RemoteError (a UserFacingError) on failure."""
        if self._client is None:
            raise AuthFailed("not signed in")
        return self._client.search(q, limit)

    def callable_campaigns(self, customer_id: str) -> tuple:
        """The campaigns the agent may call this customer for (running outbound waves open to the agent whose
        list holds them), or () — also when the server cannot say (down, slow, older): then the customer
        opens as before, without a question. Blocking: call on a worker."""
        client = self._client
        if client is None:
            return ()
        try:
            return client.callable_campaigns(customer_id)
        except RemoteError as exc:
            log.info("outbound campaigns unavailable", extra={"error_code": exc.code})
            return ()

    # --- statistics ---------------------------------------------------------------------------------

    def log_pop(self, result: PopResult, call_id: str | None, agent_id: str | None) -> int | None:
        """Record that a pop was shown (once per call, when it settles); returns its pop_log id.

        Statistics must never break a pop, so a store failure is logged and None returned.
        """
        doc = result.document
        presented: list[str] = []
        suppressed: list[dict[str, Any]] = []
        campaign_id = wave = None
        names: list[tuple[str, str, str, str]] = []
        if doc is not None:
            # What the server calls them, so statistics show names (kept by the same write as the log).
            names = [("offer", o.offer_id, o.title.zh or o.title.en, o.title.en or o.title.zh)
                     for o in doc.offers if o.title is not None]
            if doc.contact.campaign is not None and doc.contact.campaign.name is not None:
                name = doc.contact.campaign.name
                names.append(("campaign", doc.contact.campaign.campaign_id, name.zh or name.en, name.en or name.zh))
            presented = [o.offer_id for o in doc.offers if o.pitchable]
            suppressed = [
                {"offer_id": o.offer_id, "codes": [r.code for r in o.suppressed_by]}
                for o in doc.offers if not o.pitchable
            ]
            if doc.contact.campaign is not None:
                campaign_id = doc.contact.campaign.campaign_id
                wave = doc.contact.wave.seq if doc.contact.wave else None
        try:
            return self._store.pops.log(
                popped_at=self._clock(), state=result.state.value, call_id=call_id,
                customer_id=doc.customer.customer_id if doc else result.key.customer_id,
                decision_id=doc.decision_id if doc else None, agent_id=agent_id,
                offers_presented=presented, suppressed=suppressed, campaign_id=campaign_id, wave=wave,
                names=names,
            )
        except StoreError as exc:
            log.warning("pop not logged", extra={"error_code": exc.code})
            return None

    # --- helpers ------------------------------------------------------------------------------------

    def _failed(self, key: PopKey, error: UserError, *, stale_allowed: bool) -> PopResult:
        hit = self._cached_document(key)
        if hit is None:
            return PopResult(PopState.ERROR, key, error=error)
        document, fetched_at = hit
        # Signed out: still show what we have (the agent is mid-call), but the state asks for sign-in.
        state = PopState.STALE if stale_allowed else PopState.ERROR
        return PopResult(state, key, self._with_local(document), fetched_at, error)

    def _with_local(self, document: PopDocument) -> PopDocument:
        now = self._clock()
        customer_id = document.customer.customer_id
        generation = self._store.outcomes.generation
        try:
            local = self._store.outcomes.local_contacts(customer_id, now - LOCAL_MEMORY)
        except StoreError as exc:
            log.warning("local outcomes unavailable", extra={"error_code": exc.code})
            return document
        with self._memory_lock:
            self._local_memory[customer_id] = (local, generation)
            self._local_memory.move_to_end(customer_id)
            while len(self._local_memory) > MEMORY_CACHE_KEYS:
                self._local_memory.popitem(last=False)
        return apply_local_outcomes(document, local, now)

    def _cached_document(self, key: PopKey) -> tuple[PopDocument, dt.datetime] | None:
        keys = key.cache_keys()
        not_before = self._clock() - self.cache_ttl
        generation = self._store.views.generation
        with self._memory_lock:
            self._drop_memory_if_removed()
            for cache_key in keys:
                hit = self._memory.get(cache_key)
                if hit is not None and hit[1] >= not_before:
                    self._memory.move_to_end(cache_key)
                    return hit
        try:
            stored = self._store.views.get(keys, not_before=not_before)
        except StoreError as exc:
            log.warning("cache unavailable", extra={"error_code": exc.code})
            return None
        if stored is None:
            return None
        data, fetched_at = stored
        try:
            document = parse_pop(data)
        except MalformedResponse:
            return None  # written by an older client version: as good as absent
        self._keep_in_memory(keys, document, fetched_at, generation)
        return document, fetched_at

    def _drop_memory_if_removed(self) -> None:
        """Anything removed from the stored cache (sign-out, expiry, a number forgotten) empties memory."""
        generation = self._store.views.generation
        if generation != self._memory_generation:
            self._memory.clear()
            self._local_memory.clear()
            self._memory_generation = generation

    def _keep_in_memory(self, keys: list[str], document: PopDocument, fetched_at: dt.datetime,
                        generation: int) -> None:
        """`generation`: the stored cache's when the document was read; a removal since then wins."""
        with self._memory_lock:
            self._drop_memory_if_removed()
            if generation != self._memory_generation:
                return
            for cache_key in keys:
                self._memory[cache_key] = (document, fetched_at)
                self._memory.move_to_end(cache_key)
            while len(self._memory) > MEMORY_CACHE_KEYS:
                self._memory.popitem(last=False)

    def _cache(self, key: PopKey, document: PopDocument, fetched_at: dt.datetime) -> None:
        customer = document.customer
        # Under the customer's id, and under the caller's number only when the server matched that number
        # to this customer alone (a pop by number that did not answer ambiguous_caller). Never under the
        # customer's other numbers, nor under the number of a call popped by id (a customer the agent chose
        # among several sharing it): a later call from a shared number must ask again, not show whoever
        # was cached under it.
        suffix = f"|outbound:{key.outbound}" if key.outbound else ""
        keys = [f"cust:{customer.customer_id}{suffix}"]
        if key.customer_id is None and key.ani:
            keys.append(f"ani:{key.ani}{suffix}")
        self._keep_in_memory(keys, document, fetched_at, self._store.views.generation)
        try:
            self._store.views.put(keys, customer.customer_id, document_to_json(document), fetched_at)
        except StoreError as exc:
            # The pop is still live; a full or read-only disk is reported when an outcome is recorded.
            log.warning("pop not cached", extra={"error_code": exc.code})

    def _forget_number(self, key: PopKey) -> None:
        if key.ani:
            with self._memory_lock:
                self._memory.pop(f"ani:{key.ani}", None)
            with contextlib.suppress(StoreError):
                self._store.views.forget(f"ani:{key.ani}")  # the number may have changed hands or be shared
