"""Offers and campaigns: small, read on every pop, so kept in a short-lived in-process cache.

The cache lives per app instance (no globals) and expires after a few seconds, so stateless servers
behind a load balancer converge on catalog edits without coordination.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from server_stub.db.models import Campaign, CampaignOffer, ContactCap, CustomerCap, Offer, Wave
from server_stub.domain.outbound import CallingHours, OutboundRuleError, RetryRule
from server_stub.domain.rules import OfferCondition, Text, WaveInfo, offer_condition_or_problem


@dataclass(frozen=True)
class OfferRow:
    offer_id: str
    category: str
    title: Text
    script: Text
    monthly_fee_delta_fen: int
    base_score: float
    active: bool  # false when switched off or retired: never pitched
    product_id: str | None = None  # what holding it means (None: the offer id itself)
    eligibility: tuple[OfferCondition, ...] = ()
    retired: bool = False  # left the catalog: kept so old decisions and outcomes still point at it

    @property
    def product_key(self) -> str:
        return self.product_id or self.offer_id


@dataclass(frozen=True)
class WaveOutbound:
    """What the worklist needs of one wave: when it may call, its retry rule, who may work it."""

    hours: CallingHours
    retry: RetryRule
    agents: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()

    def open_to(self, agent_id: str, team: str | None) -> bool:
        """Nobody assigned: every agent; else the agents named and the agents of the teams named."""
        if not self.agents and not self.teams:
            return True
        return agent_id in self.agents or (team is not None and team in self.teams)


def _wave_outbound(wave, campaign) -> WaveOutbound:
    def listed(value) -> frozenset[str]:
        return frozenset(value or ())

    try:
        hours = CallingHours.of(wave.calling_hours or campaign.calling_hours, campaign.time_zone)
    except OutboundRuleError:  # the feed validates; a hand-edited row must not break the worklist
        hours = CallingHours((), campaign.time_zone or "UTC")
    retry = RetryRule.of(wave.max_attempts, wave.retry if isinstance(wave.retry, dict) else None)
    return WaveOutbound(hours, retry, listed(wave.assigned_agents), listed(wave.assigned_teams))


@dataclass(frozen=True)
class CampaignRow:
    campaign_id: str
    name: Text
    inbound_may_serve_any_wave: bool
    active: bool  # false when switched off or retired
    waves: tuple[WaveInfo, ...]
    caps: dict[str, tuple[int, int]]
    offer_ids: tuple[str, ...]
    outbound: dict[int, WaveOutbound] = field(default_factory=dict)  # wave seq -> its outbound settings


@dataclass(frozen=True)
class Catalog:
    offers: dict[str, OfferRow]
    campaigns: dict[str, CampaignRow]
    campaigns_by_offer: dict[str, tuple[str, ...]]
    # Contacts per customer across all campaigns: channel ("*" = every channel) -> (max contacts, period days).
    customer_caps: dict[str, tuple[int, int]] = field(default_factory=dict)


def load_catalog(session: Session) -> Catalog:
    offers = {
        o.offer_id: OfferRow(
            o.offer_id, o.category, Text(o.title_zh, o.title_en), Text(o.script_zh, o.script_en),
            o.monthly_fee_delta_fen, o.base_score, o.active and o.retired_at is None, o.product_id or None,
            tuple(offer_condition_or_problem(c, f"offers.{o.offer_id}.eligibility[{i}]")
                  for i, c in enumerate(o.eligibility if isinstance(o.eligibility, list) else [o.eligibility])
                  if c is not None),
            o.retired_at is not None,
        )
        for o in session.scalars(select(Offer).order_by(Offer.offer_id))
    }
    campaign_rows = list(session.scalars(select(Campaign).order_by(Campaign.campaign_id)))
    by_id = {c.campaign_id: c for c in campaign_rows}
    waves: dict[str, list[WaveInfo]] = {}
    outbound: dict[str, dict[int, WaveOutbound]] = {}
    for w in session.scalars(select(Wave).order_by(Wave.campaign_id, Wave.seq)):
        waves.setdefault(w.campaign_id, []).append(WaveInfo(w.seq, w.channel, w.starts_on, w.ends_on))
        if w.channel == "outbound_call" and w.campaign_id in by_id:
            outbound.setdefault(w.campaign_id, {})[w.seq] = _wave_outbound(w, by_id[w.campaign_id])
    caps: dict[str, dict[str, tuple[int, int]]] = {}
    for c in session.scalars(select(ContactCap)):
        caps.setdefault(c.campaign_id, {})[c.channel] = (c.max_contacts, c.period_days)
    links: dict[str, list[str]] = {}
    by_offer: dict[str, list[str]] = {}
    for link in session.scalars(select(CampaignOffer).order_by(CampaignOffer.campaign_id, CampaignOffer.offer_id)):
        links.setdefault(link.campaign_id, []).append(link.offer_id)
        by_offer.setdefault(link.offer_id, []).append(link.campaign_id)
    campaigns = {
        c.campaign_id: CampaignRow(
            c.campaign_id, Text(c.name_zh, c.name_en), c.inbound_may_serve_any_wave,
            c.active and c.retired_at is None,
            tuple(waves.get(c.campaign_id, ())), caps.get(c.campaign_id, {}),
            tuple(links.get(c.campaign_id, ())), outbound.get(c.campaign_id, {}),
        )
        for c in campaign_rows
    }
    customer_caps = {c.channel: (c.max_contacts, c.period_days) for c in session.scalars(select(CustomerCap))}
    return Catalog(offers, campaigns, {k: tuple(v) for k, v in by_offer.items()}, customer_caps)


class CatalogCache:
    def __init__(self, ttl_seconds: float = 5.0) -> None:
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._catalog: Catalog | None = None
        self._loaded_at = 0.0

    def get(self, session: Session) -> Catalog:
        with self._lock:
            if self._catalog is None or time.monotonic() - self._loaded_at > self._ttl:
                self._catalog = load_catalog(session)
                self._loaded_at = time.monotonic()
            return self._catalog

    def invalidate(self) -> None:
        with self._lock:
            self._catalog = None
