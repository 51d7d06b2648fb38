"""In-memory twin of :class:`services.capture.repository.LeadRepository` for the
handlers' unit tests: same answers, no database (``conn`` is ignored)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from services.capture.domain.imports import RawRow
from services.capture.repository import IMPORT_COUNTS, Captured, Row, TimelineRow
from shared.events import CampaignDefined, CrmOutcomeReported, LeadProfile, utcnow


class InMemoryLeads:
    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self.clock = clock
        self.leads: dict[str, dict[str, Any]] = {}
        self.captures: list[dict[str, Any]] = []
        self.activities: list[dict[str, Any]] = []
        self.timelines: dict[str, dict[str, Any]] = {}  # event id -> entry
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.outcomes: dict[str, dict[str, Any]] = {}

    def _by_email(self, email_norm: str) -> dict[str, Any] | None:
        return next((r for r in self.leads.values() if r["email_norm"] == email_norm), None)

    async def lock_by_email(self, conn: Any, email_norm: str) -> Row | None:
        return self._by_email(email_norm)

    async def insert_lead(self, conn: Any, lead_id: str, email_norm: str, profile: LeadProfile, consent: bool,
                          source: str, campaign: str | None, at: datetime) -> bool:
        if self._by_email(email_norm) is not None:
            return False
        self.leads[lead_id] = {
            "lead_id": lead_id, "email_norm": email_norm, "profile": profile.model_dump(mode="json"),
            "consent": consent, "first_source": source, "first_campaign": campaign, "sources": [source],
            "campaigns": [] if campaign is None else [campaign], "capture_count": 1, "first_captured_at": at,
            "last_captured_at": at, "status": "captured", "score": None, "grade": None, "segment": None,
            "rubric_version": None, "top_reasons": [], "owner_kind": None, "rep_id": None, "team": None,
            "assignment_id": None, "due_at": None, "assigned_at": None, "updated_at": self.clock()}
        return True

    async def record_repeat(self, conn: Any, lead_id: str, profile: LeadProfile, consent: bool, source: str,
                            campaign: str | None, at: datetime) -> None:
        row = self.leads[lead_id]
        row.update(profile=profile.model_dump(mode="json"), consent=consent, capture_count=row["capture_count"] + 1,
                   last_captured_at=max(row["last_captured_at"], at), updated_at=self.clock())
        if source not in row["sources"]:
            row["sources"].append(source)
        if campaign is not None and campaign not in row["campaigns"]:
            row["campaigns"].append(campaign)

    async def capture_by_key(self, conn: Any, key: str) -> Row | None:
        return next((c for c in self.captures if c["idempotency_key"] == key), None)

    async def lock_people(self, conn: Any, emails_norm: Sequence[str]) -> dict[str, Row]:
        return {e: row for e in sorted(set(emails_norm)) if (row := self._by_email(e)) is not None}

    async def insert_leads(self, conn: Any, leads: Sequence[Captured]) -> set[str]:
        return {c.email_norm for c in leads if await self.insert_lead(
            conn, c.lead_id, c.email_norm, c.profile, c.consent, c.source, c.campaign, c.at)}

    async def record_repeats(self, conn: Any, repeats: Sequence[Captured]) -> None:
        for c in repeats:
            await self.record_repeat(conn, c.lead_id, c.profile, c.consent, c.source, c.campaign, c.at)

    async def captures_by_keys(self, conn: Any, keys: Sequence[str]) -> dict[str, Row]:
        wanted = set(keys)
        return {c["idempotency_key"]: c for c in self.captures if c["idempotency_key"] in wanted}

    async def insert_captures(self, conn: Any, captures: Sequence[tuple[str, str | None, Captured]]) -> None:
        for capture_id, key, c in captures:
            await self.insert_capture(conn, capture_id, key, c.lead_id, c.source, c.campaign, c.at)

    async def waiting_outcomes_for(self, conn: Any, emails_norm: Sequence[str],
                                   domains: Sequence[str]) -> Sequence[Row]:
        emails, at = set(emails_norm), set(domains)
        return sorted((o for o in self.outcomes.values() if o["lead_id"] is None
                       and (o["email_norm"] in emails or o["account_domain"] in at)),
                      key=lambda o: (o["occurred_at"], o["outcome_id"]))

    async def insert_capture(self, conn: Any, capture_id: str, key: str | None, lead_id: str, source: str,
                             campaign: str | None, occurred_at: datetime) -> None:
        if key is not None and await self.capture_by_key(conn, key) is not None:
            raise ValueError(f"duplicate capture key {key}")  # the table's UNIQUE constraint
        self.captures.append({"capture_id": capture_id, "idempotency_key": key, "lead_id": lead_id,
                              "source": source, "campaign": campaign, "occurred_at": occurred_at})

    async def capture_exists(self, conn: Any, capture_id: str) -> bool:
        return any(c["capture_id"] == capture_id for c in self.captures)

    async def activity_by_key(self, conn: Any, key: str) -> Row | None:
        return next((a for a in self.activities if a["idempotency_key"] == key), None)

    async def insert_activity(self, conn: Any, activity_id: str, key: str | None, lead_id: str, behaviour: str,
                              occurred_at: datetime) -> None:
        if key is not None and await self.activity_by_key(conn, key) is not None:
            raise ValueError(f"duplicate activity key {key}")
        if lead_id not in self.leads:
            raise ValueError(f"no lead {lead_id}")  # the table's foreign key
        self.activities.append({"activity_id": activity_id, "idempotency_key": key, "lead_id": lead_id,
                                "behaviour": behaviour, "occurred_at": occurred_at})

    async def get(self, conn: Any, lead_id: str) -> Row | None:
        return self.leads.get(lead_id)

    async def exists(self, conn: Any, lead_id: str) -> bool:
        return lead_id in self.leads

    async def find_by_email(self, conn: Any, email_norm: str) -> Row | None:
        return self._by_email(email_norm)

    async def timeline(self, conn: Any, lead_id: str) -> Sequence[Row]:
        return sorted((t for t in self.timelines.values() if t["lead_id"] == lead_id),
                      key=lambda t: (t["occurred_at"], t["event_id"]))

    async def add_timeline(self, conn: Any, entries: Sequence[TimelineRow]) -> None:
        for event_id, lead_id, entry, at in entries:
            self.timelines.setdefault(event_id, {"event_id": event_id, "lead_id": lead_id, "type": entry.type,
                                                 "occurred_at": at, "summary": entry.summary})

    async def update_view(self, conn: Any, lead_id: str, changes: dict[str, Any], *,
                          assignment_id: str | None = None, assigned_at: datetime | None = None) -> None:
        row = self.leads.get(lead_id)
        if not changes or row is None:
            return
        if assigned_at is not None:
            if row["assigned_at"] is not None and row["assigned_at"] > assigned_at:
                return
            row["assigned_at"] = assigned_at
        elif assignment_id is not None and row["assignment_id"] != assignment_id:
            return
        row.update(changes, updated_at=self.clock())

    async def update_views(self, conn: Any, changes: Sequence[tuple[str, dict[str, Any]]], *,
                           assigned_at: Sequence[datetime] | None = None) -> None:
        assert len({lead_id for lead_id, _ in changes}) == len(changes), "each lead at most once"
        for i, (lead_id, change) in enumerate(changes):
            await self.update_view(conn, lead_id, change, assigned_at=None if assigned_at is None else assigned_at[i])

    async def captures_known(self, conn: Any, capture_ids: Sequence[str]) -> set[str]:
        wanted = set(capture_ids)
        return {c["capture_id"] for c in self.captures if c["capture_id"] in wanted}

    # ------------------------------------------------------------------ campaigns and outcomes

    async def known_campaign(self, conn: Any, campaign_id: str) -> bool:
        return campaign_id in self.campaigns

    async def save_campaign(self, conn: Any, d: CampaignDefined) -> None:
        kept = self.campaigns.get(d.campaign_id)
        if kept is None or kept["version"] < d.version:
            self.campaigns[d.campaign_id] = {"campaign_id": d.campaign_id, "name": d.name, "type": d.type.value,
                                             "version": d.version, "defined_at": d.occurred_at}

    async def list_campaigns(self, conn: Any) -> Sequence[Row]:
        return [self.campaigns[k] for k in sorted(self.campaigns)]

    async def add_outcome(self, conn: Any, outcome_id: str, o: CrmOutcomeReported, email_norm: str | None,
                          domain: str | None) -> bool:
        if outcome_id in self.outcomes:
            return False
        self.outcomes[outcome_id] = {
            "outcome_id": outcome_id, "source": o.source, "opportunity_id": o.opportunity_id, "kind": o.kind.value,
            "stage": o.stage, "amount_minor": o.amount_minor, "currency": o.currency, "close_date": o.close_date,
            "occurred_at": o.occurred_at, "named_lead_id": o.lead_id, "email_norm": email_norm,
            "account_domain": domain, "lead_id": None, "matched_by": None, "matched_at": None,
            "received_at": self.clock()}
        return True

    async def lead_by_domain(self, conn: Any, domain: str) -> Row | None:
        at_domain = [r for r in self.leads.values() if r["email_norm"].rpartition("@")[2] == domain]
        return max(at_domain, key=lambda r: r["last_captured_at"], default=None)

    async def match_outcome(self, conn: Any, outcome_id: str, lead_id: str, matched_by: str, at: datetime) -> None:
        self.outcomes[outcome_id].update(lead_id=lead_id, matched_by=matched_by, matched_at=at)

    async def waiting_outcomes(self, conn: Any, email_norm: str, domain: str) -> Sequence[Row]:
        return sorted((o for o in self.outcomes.values() if o["lead_id"] is None
                       and (o["email_norm"] == email_norm or o["account_domain"] == domain)),
                      key=lambda o: (o["occurred_at"], o["outcome_id"]))

    async def list_outcomes(self, conn: Any, matched: bool | None, limit: int, offset: int) -> Sequence[Row]:
        rows = [o for o in self.outcomes.values() if matched is None or (o["lead_id"] is not None) == matched]
        rows.sort(key=lambda o: (o["received_at"], o["outcome_id"]), reverse=True)
        return rows[offset:offset + limit]

    async def count_unmatched(self, conn: Any) -> int:
        return sum(o["lead_id"] is None for o in self.outcomes.values())


class InMemoryImports:
    """In-memory twin of :class:`services.capture.repository.ImportRepository`."""

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self.clock = clock
        self.mappings: dict[str, dict[str, str]] = {}
        self.imports: dict[str, dict[str, Any]] = {}
        self.rejected: dict[tuple[str, int, int], tuple[str, str]] = {}
        self.people: set[tuple[str, str]] = set()
        self.stored: dict[str, list[RawRow]] = {}
        self.kept: dict[str, dict[int, tuple[str, Mapping[str, Any], datetime]]] = {}  # accepted, not captured yet

    async def save_mapping(self, conn: Any, source: str, columns: dict[str, str]) -> None:
        self.mappings[source] = dict(columns)

    async def mapping(self, conn: Any, source: str) -> dict[str, str] | None:
        return self.mappings.get(source)

    async def create_import(self, conn: Any, import_id: str, sha256: str, source: str, campaign: str, fmt: str,
                            columns: dict[str, str]) -> bool:
        if import_id in self.imports or any((i["sha256"], i["source"], i["campaign"]) == (sha256, source, campaign)
                                            for i in self.imports.values()):
            return False
        self.imports[import_id] = {
            "import_id": import_id, "sha256": sha256, "source": source, "campaign": campaign, "format": fmt,
            "columns": dict(columns), "total_rows": 0, "status": "running",
            "position": 0, "captured_line": 0, **dict.fromkeys(IMPORT_COUNTS, 0), "created_at": self.clock(),
            "finished_at": None}
        self.stored[import_id] = []
        return True

    async def add_rows(self, conn: Any, import_id: str, first: int, rows: Sequence[RawRow]) -> None:
        assert len(self.stored[import_id]) == first, "records are kept in order"
        self.stored[import_id].extend(rows)

    async def set_total(self, conn: Any, import_id: str, total_rows: int) -> None:
        self.imports[import_id]["total_rows"] = total_rows

    async def rows(self, conn: Any, import_id: str, start: int, limit: int) -> list[RawRow]:
        return self.stored.get(import_id, [])[start:start + limit]

    async def forget_rows(self, conn: Any, import_id: str) -> None:
        self.stored.pop(import_id, None)
        self.kept.pop(import_id, None)

    async def add_accepted(self, conn: Any, import_id: str,
                           rows: Sequence[tuple[int, str, Mapping[str, Any], datetime]]) -> set[int]:
        kept = self.kept.setdefault(import_id, {})
        emails = {email for email, _, _ in kept.values()}
        lines: set[int] = set()
        for line, email_norm, values, at in rows:
            if line in kept or email_norm in emails or (import_id, email_norm) in self.people:
                continue
            kept[line] = (email_norm, values, at)
            emails.add(email_norm)
            lines.add(line)
        return lines

    async def accepted(self, conn: Any, import_id: str, after_line: int, limit: int
                       ) -> list[tuple[int, dict[str, Any], datetime]]:
        kept = self.kept.get(import_id, {})
        return [(line, kept[line][1], kept[line][2]) for line in sorted(k for k in kept if k > after_line)][:limit]

    async def advance_capture(self, conn: Any, import_id: str, captured_line: int, counts: dict[str, int],
                              done: bool) -> None:
        self._move(import_id, "captured_line", captured_line, counts, done)

    async def get_import(self, conn: Any, import_id: str) -> Row | None:
        found = self.imports.get(import_id)
        return None if found is None else dict(found)

    async def next_running(self, conn: Any) -> Row | None:
        running = [i for i in self.imports.values() if i["status"] == "running"]
        first = min(running, key=lambda i: i["created_at"], default=None)
        return None if first is None else await self.get_import(conn, first["import_id"])

    async def add_rejections(self, conn: Any, import_id: str, rejections: Sequence[tuple[int, int, str, str]]) -> None:
        for line, n, field, reason in rejections:
            self.rejected.setdefault((import_id, line, n), (field, reason))

    async def advance(self, conn: Any, import_id: str, position: int, counts: dict[str, int], done: bool) -> None:
        self._move(import_id, "position", position, counts, done)

    def _move(self, import_id: str, cursor: str, value: int, counts: dict[str, int], done: bool) -> None:
        imp = self.imports[import_id]
        imp[cursor] = value
        for c in IMPORT_COUNTS:
            imp[c] += counts.get(c, 0)
        if done:
            imp.update(status="done", finished_at=self.clock())

    async def rejections(self, conn: Any, import_id: str) -> Sequence[Row]:
        return [{"line": line, "field": f, "reason": r}
                for (i, line, _), (f, r) in sorted(self.rejected.items()) if i == import_id]


class InMemoryErasures:
    """:class:`services.capture.repository.ErasureStore` in memory."""

    def __init__(self, leads: InMemoryLeads) -> None:
        self.leads = leads
        self.erasures: dict[str, dict[str, Any]] = {}
        self.confirmed: dict[str, dict[str, dict[str, Any]]] = {}
        self.converted: set[str] = set()  # leads with a CRM outcome

    async def add_erasure(self, conn: Any, erasure_id: str, lead_id: str, reason: str, requested_by: str,
                          at: datetime) -> None:
        self.erasures[erasure_id] = {"erasure_id": erasure_id, "lead_id": lead_id, "reason": reason,
                                     "requested_by": requested_by, "requested_at": at, "key_destroyed_at": at,
                                     "completed_at": None}

    async def erasure(self, conn: Any, erasure_id: str, for_update: bool = False) -> Row | None:
        found = self.erasures.get(erasure_id)
        return dict(found) if found is not None else None

    async def confirm(self, conn: Any, erasure_id: str, service: str, erased_at: datetime, rows: int) -> None:
        if erasure_id in self.erasures:
            self.confirmed.setdefault(erasure_id, {}).setdefault(
                service, {"service": service, "erased_at": erased_at, "rows": rows})

    async def confirmations(self, conn: Any, erasure_id: str) -> Sequence[Row]:
        return sorted(self.confirmed.get(erasure_id, {}).values(), key=lambda c: (c["erased_at"], c["service"]))

    async def complete(self, conn: Any, erasure_id: str, at: datetime) -> None:
        self.erasures[erasure_id]["completed_at"] = at

    async def expired_leads(self, conn: Any, captured_before: datetime, limit: int) -> Sequence[str]:
        pending = {e["lead_id"] for e in self.erasures.values() if e["completed_at"] is None}
        rows = sorted((r for r in self.leads.leads.values() if r["last_captured_at"] < captured_before
                       and r["lead_id"] not in self.converted and r["lead_id"] not in pending),
                      key=lambda r: r["last_captured_at"])
        return [r["lead_id"] for r in rows[:limit]]
