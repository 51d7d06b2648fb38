"""In-memory twin of :class:`services.routing.repository.RoutingRepository` for the
handlers' unit tests: the same answers as the tables, no database (``conn`` is ignored).

Stored documents go through a JSON round trip, as ``jsonb`` columns do, and every read
returns copies, so a handler never holds what is stored."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import orjson

from services.routing.domain.followup import ACTIVE_STATUSES, WORKED_STATUSES
from services.routing.domain.lifecycle import ActiveAssignment
from services.routing.domain.router import RoutingContext
from services.routing.repository import PendingWrites, Row, ScoredItem, active_from_row


def _json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


class InMemoryRouting:
    """Routing's tables as dictionaries (implements ``RoutingStore``)."""

    def __init__(self) -> None:
        self.config: dict[str, tuple[int, dict[str, Any]]] = {}
        self.config_history: list[tuple[str, int, str, str]] = []  # kind, version, change, changed by
        self.leads: dict[str, dict[str, Any]] = {}
        self.scored_history: dict[str, dict[str, Any]] = {}
        self.load: dict[str, int] = {}
        self.rotation: dict[str, dict[str, float]] = {}
        self.accounts: dict[str, str] = {}
        self.assignments: dict[str, dict[str, Any]] = {}
        self.decisions: list[dict[str, Any]] = []
        self.follow_ups: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ configuration

    async def lock_routing_state(self, conn: Any) -> None:
        pass

    async def lock_and_config_versions(self, conn: Any) -> dict[str, int]:
        return await self.config_versions(conn)

    async def config_versions(self, conn: Any) -> dict[str, int]:
        return {kind: version for kind, (version, _) in self.config.items()}

    async def config_documents(self, conn: Any, for_update: bool = False) -> dict[str, tuple[int, dict[str, Any]]]:
        return copy.deepcopy(self.config)

    async def save_config(self, conn: Any, kind: str, version: int, document: dict[str, Any], change: str,
                          changed_by: str) -> None:
        self.config[kind] = (version, _json(document))
        self.config_history.append((kind, version, change, changed_by))

    # ------------------------------------------------------------------ leads

    async def save_scored(self, conn: Any, items: Sequence[ScoredItem]) -> None:
        for event_id, facts, profile, occurred_at in items:
            self.scored_history.setdefault(event_id, {"event_id": event_id, "lead_id": facts.lead_id,
                                                      "occurred_at": occurred_at, "facts": _json(facts.as_dict())})
            self.leads[facts.lead_id] = {"lead_id": facts.lead_id, "facts": _json(facts.as_dict()),
                                         "profile": _json(profile), "last_event_id": event_id,
                                         "scored_at": occurred_at}

    async def lead(self, conn: Any, lead_id: str) -> Row | None:
        return copy.deepcopy(self.leads.get(lead_id))

    # ------------------------------------------------------------------ routing state

    async def load_context(self, conn: Any, companies: Iterable[str]) -> RoutingContext:
        wanted = {c for c in companies if c}
        return RoutingContext(load=dict(self.load), credits=copy.deepcopy(self.rotation),
                              accounts={k: v for k, v in self.accounts.items() if k in wanted})

    async def save_context(self, conn: Any, ctx: RoutingContext) -> None:
        for team in ctx.changed_teams:
            self.rotation[team] = dict(ctx.credits.get(team, {}))
        for rep in ctx.changed_reps:
            self.load[rep] = ctx.load.get(rep, 0)
        for key, rep in ctx.new_accounts.items():
            self.accounts.setdefault(key, rep)
        ctx.changed_teams.clear()
        ctx.changed_reps.clear()
        ctx.new_accounts.clear()

    async def rep_loads(self, conn: Any) -> dict[str, int]:
        return dict(self.load)

    # ------------------------------------------------------------------ assignments

    async def active_for(self, conn: Any, lead_ids: Sequence[str]) -> dict[str, ActiveAssignment]:
        wanted = set(lead_ids)
        return {a["lead_id"]: active_from_row(a) for a in self.assignments.values()
                if a["lead_id"] in wanted and a["status"] in ACTIVE_STATUSES}

    async def assignment(self, conn: Any, assignment_id: str, for_update: bool = False) -> Row | None:
        return copy.deepcopy(self.assignments.get(assignment_id))

    async def flush(self, conn: Any, writes: PendingWrites) -> None:
        for assignment_id, status, reason, at in writes.closes:
            self.assignments[assignment_id].update(status=status, close_reason=reason, closed_at=at)
        for row in writes.assignments.values():
            if row.assignment_id not in self.assignments:  # ON CONFLICT DO NOTHING
                self.assignments[row.assignment_id] = {
                    **copy.deepcopy(vars(row)), "chain": list(row.chain), "closed_at": None, "close_reason": None,
                    "reminded_at": None,
                    "followed_up_at": None, "opportunity_id": None, "deal_status": None, "deal_amount_minor": None,
                    "deal_currency": None, "deal_closed_on": None, "deal_updated_at": None}
        for lead_id, assignment_id, decided_at, trigger, cause_id, detail in writes.decisions:
            self.decisions.append({"id": len(self.decisions) + 1, "lead_id": lead_id, "assignment_id": assignment_id,
                                   "decided_at": decided_at, "trigger": trigger, "cause_id": cause_id,
                                   "detail": _json(detail)})
        writes.assignments.clear()
        writes.closes.clear()
        writes.decisions.clear()

    def _with_facts(self, row: dict[str, Any]) -> dict[str, Any]:
        return {**copy.deepcopy(row), "facts": copy.deepcopy(self.leads[row["lead_id"]]["facts"])}

    async def due(self, conn: Any, now: datetime, limit: int) -> list[Row]:
        rows = sorted((a for a in self.assignments.values() if a["status"] == "open" and a["due_at"] is not None
                       and a["due_at"] <= now), key=lambda a: a["due_at"])
        return [self._with_facts(a) for a in rows[:limit]]

    async def reminders_due(self, conn: Any, now: datetime, limit: int) -> list[Row]:
        rows = sorted((a for a in self.assignments.values() if a["status"] == "open" and a["reminded_at"] is None
                       and a["remind_at"] is not None and a["remind_at"] <= now and a["due_at"] > now),
                      key=lambda a: a["remind_at"])
        return [self._with_facts(a) for a in rows[:limit]]

    async def timer_backlog(self, conn: Any, now: datetime) -> dict[str, tuple[int, datetime | None]]:
        due = [a["due_at"] for a in self.assignments.values() if a["status"] == "open" and a["due_at"] is not None
               and a["due_at"] <= now]
        remind = [a["remind_at"] for a in self.assignments.values() if a["status"] == "open"
                  and a["reminded_at"] is None and a["remind_at"] is not None and a["remind_at"] <= now
                  and a["due_at"] is not None and a["due_at"] > now]
        return {"due": (len(due), min(due, default=None)), "reminder": (len(remind), min(remind, default=None))}

    async def next_due(self, conn: Any) -> datetime | None:
        times = [t for a in self.assignments.values() if a["status"] == "open" and a["due_at"] is not None
                 for t in (a["due_at"], a["remind_at"] if a["reminded_at"] is None and a["remind_at"] is not None
                           and a["remind_at"] < a["due_at"] else None) if t is not None]
        return min(times, default=None)

    async def mark_reminded(self, conn: Any, ids: Sequence[str], at: datetime) -> None:
        for assignment_id in ids:
            self.assignments[assignment_id]["reminded_at"] = at

    async def mark_followed_up(self, conn: Any, assignment_id: str, at: datetime) -> None:
        self.assignments[assignment_id].update(status="followed_up", followed_up_at=at)

    async def add_follow_up(self, conn: Any, follow_up_id: str, assignment_id: str, lead_id: str, rep_id: str,
                            outcome: str, note: str, on_time: bool, at: datetime,
                            idempotency_key: str | None = None) -> None:
        assert idempotency_key is None or all(f["idempotency_key"] != idempotency_key for f in self.follow_ups), \
            "the unique index refuses a second follow-up with the same key"
        self.follow_ups.append({"follow_up_id": follow_up_id, "assignment_id": assignment_id, "lead_id": lead_id,
                                "rep_id": rep_id, "outcome": outcome, "note": note, "on_time": on_time,
                                "recorded_at": at, "idempotency_key": idempotency_key})

    async def follow_up_by_key(self, conn: Any, idempotency_key: str) -> Row | None:
        found = next((f for f in self.follow_ups if f["idempotency_key"] == idempotency_key), None)
        return copy.deepcopy(found)

    # ------------------------------------------------------------------ reads for HTTP

    async def rep_assignments(self, conn: Any, rep_id: str) -> list[Row]:
        rows = [a for a in self.assignments.values() if a["rep_id"] == rep_id and a["status"] in WORKED_STATUSES]
        rows.sort(key=lambda a: (a["due_at"] is None, a["due_at"] or a["assigned_at"]))
        return [{**self._with_facts(a), "profile": copy.deepcopy(self.leads[a["lead_id"]]["profile"])}
                for a in rows]

    async def lead_assignments(self, conn: Any, lead_id: str) -> list[Row]:
        rows = [a for a in self.assignments.values() if a["lead_id"] == lead_id]
        return copy.deepcopy(sorted(rows, key=lambda a: (a["assigned_at"], a["attempt"])))

    async def lead_decisions(self, conn: Any, lead_id: str) -> list[Row]:
        return copy.deepcopy([d for d in self.decisions if d["lead_id"] == lead_id])

    async def lead_follow_ups(self, conn: Any, lead_id: str) -> list[Row]:
        return copy.deepcopy(sorted((f for f in self.follow_ups if f["lead_id"] == lead_id),
                                    key=lambda f: f["recorded_at"]))

    async def queued(self, conn: Any, per_team: int) -> list[Row]:
        by_team: dict[str, list[dict[str, Any]]] = {}
        for a in sorted(self.assignments.values(), key=lambda a: a["assigned_at"]):
            if a["owner_kind"] == "queue" and a["status"] in WORKED_STATUSES:
                by_team.setdefault(a["team"], []).append(a)
        out: list[Row] = []
        for team in sorted(by_team):
            rows = by_team[team]
            out += [{**copy.deepcopy(a), "queued": len(rows)} for a in rows[:per_team]]
        return out

    async def next_queued(self, conn: Any, team: str, assignment_id: str | None = None) -> Row | None:
        rows = [a for a in self.assignments.values()
                if a["owner_kind"] == "queue" and a["status"] == "open" and a["team"] == team
                and assignment_id in (None, a["assignment_id"])]
        if not rows:
            return None
        rows.sort(key=lambda a: (a["due_at"] is None, a["due_at"] or a["assigned_at"], a["assigned_at"]))
        return self._with_facts(rows[0])

    async def team_open(self, conn: Any, team: str, limit: int) -> list[Row]:
        rows = sorted((a for a in self.assignments.values()
                       if a["team"] == team and a["status"] == "open" and a["due_at"] is not None),
                      key=lambda a: a["due_at"])
        return [{**self._with_facts(a), "profile": copy.deepcopy(self.leads[a["lead_id"]]["profile"])}
                for a in rows[:limit]]

    async def clocks_ended(self, conn: Any, team: str, since: datetime) -> list[Row]:
        first: dict[str, dict[str, Any]] = {}
        for f in sorted(self.follow_ups, key=lambda f: f["recorded_at"]):
            first.setdefault(f["assignment_id"], f)
        out: list[dict[str, Any]] = []
        for a in self.assignments.values():
            if a["team"] != team:
                continue
            f = first.get(a["assignment_id"])
            if f is not None and a["due_at"] is not None and f["recorded_at"] >= since:
                out.append({"assignment_id": a["assignment_id"], "rep_id": a["rep_id"],
                            "ended_at": f["recorded_at"], "on_time": f["on_time"]})
            elif a["status"] == "missed" and a["closed_at"] >= since:
                out.append({"assignment_id": a["assignment_id"], "rep_id": a["rep_id"], "ended_at": a["closed_at"],
                            "on_time": False})
        return sorted(out, key=lambda r: r["ended_at"])

    async def escalations(self, conn: Any, team: str, since: datetime, limit: int) -> list[Row]:
        out: list[dict[str, Any]] = []
        for m in self.assignments.values():
            if m["team"] != team or m["status"] != "missed" or m["closed_at"] < since:
                continue
            n = next((a for a in self.assignments.values()
                      if a["previous_assignment_id"] == m["assignment_id"] and a["trigger"] == "escalation"), None)
            out.append({"missed_assignment_id": m["assignment_id"], "lead_id": m["lead_id"],
                        "missed_rep_id": m["rep_id"], "due_at": m["due_at"], "escalated_at": m["closed_at"],
                        "profile": copy.deepcopy(self.leads[m["lead_id"]]["profile"]),
                        **{k: (n or {}).get(k) for k in ("assignment_id", "owner_kind", "rep_id", "team", "attempt")},
                        "reason": n["reason"] if n else m["close_reason"]})
        out.sort(key=lambda r: r["missed_assignment_id"])
        out.sort(key=lambda r: r["escalated_at"], reverse=True)
        return out[:limit]

    async def record_deal(self, conn: Any, assignment_id: str, opportunity_id: str, deal_status: str,
                          amount_minor: int | None, currency: str | None, closed_on: date | None,
                          at: datetime) -> None:
        row = self.assignments[assignment_id]
        row.update(opportunity_id=opportunity_id, deal_status=deal_status, deal_updated_at=at)
        for key, value in (("deal_amount_minor", amount_minor), ("deal_currency", currency),
                           ("deal_closed_on", closed_on)):
            if value is not None:
                row[key] = value
