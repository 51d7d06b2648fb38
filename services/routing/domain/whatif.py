"""What-if: replay scored leads through another organisation or rule set, in memory.

The replay uses the live router and lifecycle code on a fresh, private
:class:`RoutingContext`; nothing it does is saved. Assumption, stated in the report: a rep
works a lead off by its due time, so an assignment holds capacity from assignment to due.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from services.routing.domain.config import RoutingConfig
from services.routing.domain.lifecycle import ActiveAssignment, plan_for_scored
from services.routing.domain.router import LeadFacts, Router, RoutingContext


def owner_label(owner_kind: str, rep_id: str | None, team: str | None) -> str:
    """How an owner is shown in reports: a rep id, ``queue:<team>`` or ``nurture``."""
    if owner_kind == "rep":
        return str(rep_id)
    if owner_kind == "queue":
        return f"queue:{team}"
    return "nurture"


@dataclass
class Spread:
    """Where leads went and the follow-up load it puts on each rep."""

    owners: Counter[str] = field(default_factory=Counter)
    teams: Counter[str] = field(default_factory=Counter)
    peak_open: Counter[str] = field(default_factory=Counter)  # most follow-ups running at once, per rep

    def add(self, owner: str, team: str | None) -> None:
        self.owners[owner] += 1
        self.teams[team or "nurture"] += 1


def peak_concurrency(windows: Iterable[tuple[str, datetime, datetime]]) -> Counter[str]:
    """For each key, the most (start, end) windows open at the same moment."""
    points: list[tuple[datetime, int, str]] = []
    for key, start, end in windows:
        points += [(start, 1, key), (end, -1, key)]
    points.sort(key=lambda p: (p[0], p[1]))  # an end and a start at the same instant do not overlap
    open_now: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    for _, step, key in points:
        open_now[key] += step
        peak[key] = max(peak[key], open_now[key])
    return peak


def replay(config: RoutingConfig, scored: Iterable[tuple[datetime, LeadFacts]]) -> Spread:
    """Route ``scored`` (in time order) under ``config``; returns the spread it would give."""
    router = Router(config)
    ctx = RoutingContext()
    active: dict[str, ActiveAssignment] = {}
    holding: list[tuple[datetime, str, str]] = []  # (due, lead, rep): capacity held until due
    windows: list[tuple[str, datetime, datetime]] = []
    spread = Spread()
    for at, lead in scored:
        while holding and holding[0][0] <= at:
            _, lead_id, rep_id = heapq.heappop(holding)
            if lead_id in active and active[lead_id].rep_id == rep_id:
                ctx.release(rep_id)
                del active[lead_id]  # worked off: a later scoring may route it again
            # else the lead moved on before (taken hot to the field): the plan released its rep then
        plan = plan_for_scored(router, lead, active.get(lead.lead_id), ctx, at)
        if plan is None:
            continue
        d = plan.decision
        spread.add(owner_label(d.owner_kind, d.rep_id, d.team), d.team)
        active[lead.lead_id] = ActiveAssignment(f"whatif-{lead.lead_id}", lead.lead_id, d.owner_kind, d.rep_id,
                                                d.team, d.rule, plan.attempt, plan.chain,
                                                plan.clock.due_at if plan.clock else None)
        if d.rep_id and plan.clock:
            heapq.heappush(holding, (plan.clock.due_at, lead.lead_id, d.rep_id))
            windows.append((d.rep_id, at, plan.clock.due_at))
    spread.peak_open = peak_concurrency(windows)
    return spread
