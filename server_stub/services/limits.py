"""Per-token rate limits on the routes that read customers (pop, search, the outbound worklist's next
customer) and on outcomes recorded without a pop ("unpopped": nothing ties them to a call the agent was
shown, and a do-not-disturb by number silences whoever holds the number): token buckets in this process.

A bucket holds up to `burst` requests and refills at `per_minute`; a request takes one, and an empty bucket
answers 429 with Retry-After (api/routes.py). Defaults are far above what a person does (a busy agent pops a
few customers a minute and searches now and then), so only a script dumping the customer base meets them.

The buckets live in each server process (no database round trip on the hot path): a server run with
`--workers N`, or several servers behind a load balancer, lets one token through up to N (x servers) times
the limit when its requests are spread over processes. The access audit (services/audit.py) records every
read whichever process served it.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger("callcue.server.limits")

# Environment variables (worker processes of `serve --workers N` read them; the CLI's options default to them).
ENV = {
    ("pop", "per_minute"): "CALLCUE_SERVER_POP_PER_MINUTE",
    ("pop", "burst"): "CALLCUE_SERVER_POP_BURST",
    ("search", "per_minute"): "CALLCUE_SERVER_SEARCH_PER_MINUTE",
    ("search", "burst"): "CALLCUE_SERVER_SEARCH_BURST",
    ("unpopped", "per_minute"): "CALLCUE_SERVER_UNPOPPED_PER_MINUTE",
    ("unpopped", "burst"): "CALLCUE_SERVER_UNPOPPED_BURST",
    ("worklist", "per_minute"): "CALLCUE_SERVER_WORKLIST_PER_MINUTE",
    ("worklist", "burst"): "CALLCUE_SERVER_WORKLIST_BURST",
}
ROUTES = ("pop", "search", "unpopped", "worklist")
ALERT_INTERVAL_S = 60.0  # one log line per token and route per minute while it keeps exceeding its limit
_MAX_BUCKETS = 50_000


@dataclass(frozen=True)
class Limit:
    """`per_minute` requests a minute on average, `burst` at once; per_minute 0 turns the limit off."""

    per_minute: float
    burst: int

    def __post_init__(self) -> None:
        if not (self.per_minute >= 0 and math.isfinite(self.per_minute)):
            raise ValueError(f"a rate limit must be 0 (off) or a positive number per minute, not {self.per_minute}")
        if self.burst < 1 and self.per_minute > 0:
            raise ValueError(f"a burst must be at least 1, not {self.burst}")

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0


DEFAULT_POP = Limit(per_minute=60, burst=60)
DEFAULT_SEARCH = Limit(per_minute=10, burst=30)
# Outcomes without a pop, per item: a person records a few an hour; a workstation back from a day-long outage
# sends its backlog in batches of up to 200 (the desktop's batch), which a full bucket always takes.
DEFAULT_UNPOPPED = Limit(per_minute=30, burst=200)
# POST/GET /v1/worklist/next hands out a customer with their whole pop: an agent takes one every minute or
# two (a skip is quicker), so this only stops a script walking the call lists.
DEFAULT_WORKLIST = Limit(per_minute=30, burst=30)


@dataclass(frozen=True)
class RateLimits:
    pop: Limit = DEFAULT_POP
    search: Limit = DEFAULT_SEARCH
    unpopped: Limit = DEFAULT_UNPOPPED
    worklist: Limit = DEFAULT_WORKLIST

    @classmethod
    def off(cls) -> RateLimits:
        return cls(Limit(0, 0), Limit(0, 0), Limit(0, 0))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> RateLimits:
        """The defaults, overridden by the CALLCUE_SERVER_{POP,SEARCH}_{PER_MINUTE,BURST} variables.
        ValueError names a bad variable."""
        environ = os.environ if environ is None else environ
        values: dict[tuple[str, str], float] = {}
        for (route, part), name in ENV.items():
            raw = environ.get(name)
            if raw is None or not raw.strip():
                continue
            try:
                values[(route, part)] = float(raw) if part == "per_minute" else int(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a number") from None
        limits = {}
        for route, default in (("pop", DEFAULT_POP), ("search", DEFAULT_SEARCH), ("unpopped", DEFAULT_UNPOPPED),
                               ("worklist", DEFAULT_WORKLIST)):
            try:
                limits[route] = Limit(values.get((route, "per_minute"), default.per_minute),
                                      int(values.get((route, "burst"), default.burst)))
            except ValueError as exc:
                raise ValueError(f"{ENV[(route, 'per_minute')]} / {ENV[(route, 'burst')]}: {exc}") from None
        return cls(**limits)

    def environment(self) -> dict[str, str]:
        """These limits as the variables from_environment reads (for worker processes)."""
        return {ENV[(route, part)]: str(getattr(getattr(self, route), part)) for route, part in ENV}

    def get(self, route: str) -> Limit:
        return getattr(self, route)


ROUTE_WORDS = {"pop": ("pops", "弹屏请求"), "search": ("customer searches", "客户查询"),
               "unpopped": ("outcomes recorded without a pop", "无弹屏记录的结果"),
               "worklist": ("outbound worklist requests", "外呼名单取号请求")}


@dataclass
class _Bucket:
    tokens: float
    stamp: float
    refused: int = 0  # since the last alert
    alerted_at: float | None = None


@dataclass
class RateLimiter:
    """Thread-safe token buckets keyed by (route, token id)."""

    limits: RateLimits
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[tuple[str, str], _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, route: str, token_id: str, agent_id: str, cost: int = 1) -> float | None:
        """`cost` requests (at most the burst: a larger batch takes a full bucket) of `route` by this token:
        None when allowed, else the seconds until they would be."""
        limit = self.limits.get(route)
        if not limit.enabled:
            return None
        cost = max(1, min(cost, limit.burst))
        rate = limit.per_minute / 60.0
        now = self.clock()
        key = (route, token_id)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= _MAX_BUCKETS:
                    self._forget_full(now)
                bucket = self._buckets[key] = _Bucket(float(limit.burst), now)
            else:
                bucket.tokens = min(float(limit.burst), bucket.tokens + (now - bucket.stamp) * rate)
                bucket.stamp = now
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return None
            wait = (cost - bucket.tokens) / rate
            bucket.refused += 1
            alert = bucket.alerted_at is None or now - bucket.alerted_at >= ALERT_INTERVAL_S
            refused = bucket.refused
            if alert:
                bucket.alerted_at, bucket.refused = now, 0
        if alert:
            # No customer, number or query here: who, which route, which limit, how many were refused.
            log.warning("rate limit exceeded", extra={
                "event": "rate_limited", "route": route, "agent_id": agent_id, "token_id": token_id,
                "limit_per_minute": limit.per_minute, "burst": limit.burst, "refused": refused})
        return wait

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled (they hold nothing a new bucket would not); called under the lock
        when there are very many tokens."""
        for key, bucket in list(self._buckets.items()):
            limit = self.limits.get(key[0])
            if bucket.tokens + (now - bucket.stamp) * limit.per_minute / 60.0 >= limit.burst:
                del self._buckets[key]
        if len(self._buckets) >= _MAX_BUCKETS:
            self._buckets.clear()


def retry_after_seconds(wait: float) -> int:
    return max(1, math.ceil(wait))


def limit_messages(route: str, limit: Limit, retry_after: int) -> tuple[str, str]:
    """(English, Chinese) explanation of a 429."""
    en_what, zh_what = ROUTE_WORDS[route]
    per_minute = f"{limit.per_minute:g}"
    return (
        f"Too many {en_what} with this sign-in: at most {per_minute} a minute (bursts of {limit.burst}). "
        f"Try again in {retry_after} s; if a real call queue needs more, ask the administrator to raise the limit.",
        f"此账号的{zh_what}过于频繁：每分钟最多 {per_minute} 次（短时最多连续 {limit.burst} 次）。"
        f"请 {retry_after} 秒后重试；如确因来电排队需要更多，请联系管理员调高限额。",
    )
