"""Local guidance: apply outcomes this workstation recorded to a pop document, before the server has them.

An agent must never re-pitch what the customer refused five minutes ago, even offline or while the
outbox is still pending. The server applies the same rules once the outcomes arrive; codes already
present in the document are not added twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from desktop.domain.outcomes import LocalContact, OutcomeResult
from desktop.domain.pop import Offer, PopDocument, Reason

# How long a refusal or an acceptance recorded here suppresses the offer (the server's refusal cooldown).
LOCAL_MEMORY = dt.timedelta(days=30)
# Categories still offered to a customer who asked not to be disturbed (the server's `dnd_keeps`).
DND_KEEPS = frozenset({"care"})

RECENT_REFUSAL = Reason(
    code="recent_refusal", kind="contact",
    zh="刚刚已拒绝（本机记录）", en="Declined just now (recorded here)",
)
ALREADY_ACCEPTED = Reason(
    code="already_accepted", kind="contact",
    zh="客户已接受（本机记录）", en="Already accepted (recorded here)",
)
LOCAL_DND = Reason(
    code="dnd", kind="contact",
    zh="客户刚刚要求免打扰（本机记录）", en="Customer just asked not to be disturbed (recorded here)",
)


def _with_reason(offer: Offer, reason: Reason) -> Offer:
    if any(r.code == reason.code for r in offer.suppressed_by):
        return offer
    return dataclasses.replace(offer, suppressed_by=(*offer.suppressed_by, reason), suppressed=True)


def rerank(offers: Sequence[Offer]) -> tuple[Offer, ...]:
    """Pitchable offers first in their current order, numbered 1..n; suppressed ones after, unranked."""
    pitchable = [o for o in offers if o.pitchable]
    suppressed = [o for o in offers if not o.pitchable]
    return (
        *(dataclasses.replace(o, rank=i, suppressed=False) for i, o in enumerate(pitchable, start=1)),
        *(dataclasses.replace(o, rank=None, suppressed=True) for o in suppressed),
    )


def apply_local_outcomes(doc: PopDocument, local: Sequence[LocalContact], now: dt.datetime) -> PopDocument:
    """The document as the agent should see it given `local` outcomes (other customers' are ignored)."""
    mine = [c for c in local if c.customer_id == doc.customer.customer_id]
    if not mine:
        return doc
    recent = [c for c in mine if now - c.recorded_at <= LOCAL_MEMORY]
    refused = {c.offer_id for c in recent if c.result is OutcomeResult.DECLINED and c.offer_id}
    accepted = {c.offer_id for c in recent if c.result is OutcomeResult.ACCEPTED and c.offer_id}
    dnd_at = min((c.recorded_at for c in mine if c.result is OutcomeResult.DO_NOT_DISTURB), default=None)

    offers = []
    for offer in doc.offers:
        if offer.offer_id in accepted:
            offer = _with_reason(offer, ALREADY_ACCEPTED)
        elif offer.offer_id in refused:
            offer = _with_reason(offer, RECENT_REFUSAL)
        if dnd_at is not None and offer.category not in DND_KEEPS:
            offer = _with_reason(offer, LOCAL_DND)
        offers.append(offer)

    contact = doc.contact
    if dnd_at is not None and not contact.dnd:
        contact = dataclasses.replace(contact, dnd=True, dnd_since=dnd_at, eligible_now=False)
    return dataclasses.replace(doc, offers=rerank(offers), contact=contact)
