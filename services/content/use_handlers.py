"""Content's handlers for collateral in use: deals learnt from ``deal-outcome-recorded``,
reps' usage reports and ratings, measured effectiveness (the ``effectiveness`` job keeps
the per-segment scores "for this lead" ranks by), the revise / prune / expand report,
and the one-message check. Registered in :func:`services.content.handlers.registry`;
the rules are ``domain.effectiveness``, ``domain.upkeep`` and ``domain.message``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.content import metrics
from services.content.domain.effectiveness import Deal, ItemEffectiveness, apply_outcome, measure, ranking_score
from services.content.domain.lifecycle import is_live
from services.content.domain.message import Answer, SegmentCheck, TeamCheck, by_team, check, items_to_send
from services.content.domain.upkeep import LiveItem, Upkeep, upkeep
from shared.events import DealOutcomeRecorded
from shared.handling import UnitOfWork, UnitOfWorkFactory

if TYPE_CHECKING:
    from services.content.handlers import ContentDeps

REPORTED_USAGE = ("shared", "viewed", "used_in_meeting")


class Refusal(Exception):
    """A request the rules refuse: ``status`` (404 unknown, 409 state, 422 input), the
    field at fault and why. The routes turn it into the HTTP answer."""

    def __init__(self, status: int, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.status, self.field, self.reason = status, field, reason


async def on_deal_outcome(deps: ContentDeps, event: DealOutcomeRecorded, uow: UnitOfWork) -> None:
    """Fold the CRM's report into the opportunity it is about (effectiveness reads deals)."""
    deal = await deps.use.deal(uow.conn, event.opportunity_id) or Deal(event.opportunity_id, event.lead_id)
    deal = apply_outcome(deal, event.kind.value, event.stage, event.amount_minor, event.currency, event.close_date,
                         event.occurred_at)
    if deal.lead_id != event.lead_id:  # capture re-matched the opportunity to another lead
        deal = Deal(**{**deal.__dict__, "lead_id": event.lead_id})
    await deps.use.save_deal(uow.conn, deal, deps.clock())


async def known_item(deps: ContentDeps, uow: UnitOfWork, item_id: str) -> Any:
    row = await deps.collateral.get(uow.conn, item_id)
    if row is None:
        raise Refusal(404, "item_id", f"no collateral {item_id}")
    return row


async def report_usage(deps: ContentDeps, uow: UnitOfWork, item_id: str, kind: str, rep_id: str,
                       lead_id: str | None, usage_id: str | None) -> dict[str, Any]:
    """A rep says they shared an item's published version (outside a share link), opened
    it, or used it in a meeting. A share names its lead (effectiveness counts it on that
    lead's deals); ``usage_id`` makes a retried report count once."""
    row = await known_item(deps, uow, item_id)
    if not is_live(row["status"], row["published_version"]):
        raise Refusal(409, "item_id", f"the item is {row['status']} and not in reps' hands")
    if kind not in REPORTED_USAGE:
        raise Refusal(422, "kind", f"one of {list(REPORTED_USAGE)}")
    if kind == "shared" and not lead_id:
        raise Refusal(422, "lead_id", "a share names the lead it was shared with")
    usage_id = usage_id or str(uuid.uuid4())
    at = deps.clock()
    await deps.collateral.add_usage(uow.conn, usage_id, kind, item_id, row["published_version"], None, lead_id,
                                    rep_id, at)
    metrics.USAGE.labels(kind).inc()
    return {"usage_id": usage_id, "item_id": item_id, "version": row["published_version"], "kind": kind,
            "rep_id": rep_id, "lead_id": lead_id, "at": at.isoformat()}


async def rate(deps: ContentDeps, uow: UnitOfWork, item_id: str, rep_id: str, rating: int,
               comment: str) -> dict[str, Any]:
    """A rep rates an item they have had in hand (one that was published: live or retired),
    1–5 with a comment; their latest rating counts."""
    row = await known_item(deps, uow, item_id)
    if row["published_version"] is None:
        raise Refusal(409, "item_id", f"the item is {row['status']} and was never published: nothing to rate")
    if not 1 <= rating <= 5:
        raise Refusal(422, "rating", "from 1 to 5")
    rating_id, at = str(uuid.uuid4()), deps.clock()
    await deps.use.add_rating(uow.conn, rating_id, item_id, rep_id, rating, comment, at)
    metrics.RATINGS.labels(str(rating)).inc()
    return {"rating_id": rating_id, "item_id": item_id, "rep_id": rep_id, "rating": rating, "comment": comment,
            "at": at.isoformat()}


async def effectiveness(deps: ContentDeps, uow: UnitOfWork, item_ids: Sequence[str] | None = None
                        ) -> list[ItemEffectiveness]:
    """Each item's measured effectiveness (all live items, and any item shared on a deal,
    unless ``item_ids`` names them)."""
    deals, shares = await deps.use.deals(uow.conn), await deps.use.shares(uow.conn)
    if item_ids is None:
        live = [r["item_id"] for r in await deps.use.live_items(uow.conn)]
        item_ids = sorted({*live, *(s.item_id for s in shares)})
    return await asyncio.to_thread(measure, item_ids, deals, shares)  # CPU work, off the event loop


async def refresh_effectiveness(deps: ContentDeps, units: UnitOfWorkFactory) -> None:
    """The ``effectiveness`` job: re-measure every item and keep each one's score per
    segment for "for this lead" (:func:`ranking_score`)."""
    async with units() as uow:
        measured = await effectiveness(deps, uow)
        scores = [(m.item_id, segment, ranking_score(c), c.shared.deals, c.not_shared.deals)
                  for m in measured for segment, c in m.by_segment.items()]
        overall = {m.item_id: ranking_score(m.overall) for m in measured}
        await deps.use.replace_effectiveness(uow.conn, scores, overall, deps.clock())


async def effectiveness_for_segment(deps: ContentDeps, uow: UnitOfWork, segment: str) -> dict[str, float]:
    """The ranking hook: each measured item's score for the segment (absent: 0)."""
    return await deps.use.effectiveness_scores(uow.conn, segment)


async def upkeep_report(deps: ContentDeps, uow: UnitOfWork) -> Upkeep:
    """What marketing should revise, prune and expand, from ratings, usage and deals."""
    items = [LiveItem(r["item_id"], r["title"], tuple(r["segments"]), tuple(r["stages"]),
                      r["published_at"]) for r in await deps.use.live_items(uow.conn)]
    return upkeep(items, await deps.use.ratings(uow.conn), await deps.use.last_used(uow.conn),
                  await deps.use.deals(uow.conn), deps.clock(), deps.upkeep_thresholds)


async def publish_value_proposition(deps: ContentDeps, uow: UnitOfWork, segment: str, text: str,
                                    author: str) -> Any:
    """Marketing publishes the segment's value proposition as its next version."""
    if not await deps.use.segment_known(uow.conn, segment):
        raise Refusal(422, "segment", f"unknown segment {segment!r}: no lead has been graded into it")
    return await deps.use.publish_message(uow.conn, segment, text, author, deps.clock())


async def answer_value_proposition(deps: ContentDeps, uow: UnitOfWork, segment: str, rep_id: str, team: str,
                                   text: str) -> Any:
    """A rep answers "what is your value proposition?" for a segment with a published message."""
    messages = await deps.use.messages(uow.conn, segment)
    if not messages:
        raise Refusal(409, "segment", f"no value proposition is published for {segment!r} yet")
    return await deps.use.add_answer(uow.conn, str(uuid.uuid4()), segment, rep_id, team, text,
                                     messages[0]["version"], deps.clock())


@dataclass(frozen=True)
class SegmentReport:
    segment: str
    message: Any
    result: SegmentCheck
    teams: list[TeamCheck]
    send: list[Any]  # published items for the segment, to send to its outlying reps


async def one_message(deps: ContentDeps, uow: UnitOfWork, segment: str | None = None,
                      team: str | None = None) -> list[SegmentReport]:
    """The one-message check for each segment with a published message (or the one named):
    every rep's latest answer scored, per team, with the items to send to the outliers."""
    messages = await deps.use.latest_messages(uow.conn)
    if segment is not None:
        messages = [m for m in messages if m["segment"] == segment]
        if not messages:
            raise Refusal(404, "segment", f"no value proposition is published for {segment!r}")
    reports = []
    for message in messages:
        rows = await deps.use.latest_answers(uow.conn, message["segment"])
        answers = [Answer(r["rep_id"], r["team"], r["text"]) for r in rows]
        # the vectoriser is CPU work: off the event loop, so consuming and other requests go on
        result = await asyncio.to_thread(check, message["text"], answers, outlier_below=deps.outlier_below)
        teams = [t for t in by_team(result) if team is None or t.team == team]
        items = await deps.use.live_items(uow.conn, message["segment"])
        scores = await deps.use.effectiveness_scores(uow.conn, message["segment"])
        send = items_to_send([(r["item_id"], r["title"], r["kind"]) for r in items], scores) \
            if any(a.outlier for t in teams for a in t.answers) else []
        reports.append(SegmentReport(message["segment"], message, result, teams, send))
    return reports
