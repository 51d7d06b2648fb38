"""In-memory twin of :class:`services.nurture.repository.PoolRepository` for the
handlers' unit tests: same answers, no database (``conn`` is ignored)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from services.nurture.domain.attribution import Credit, Touch
from services.nurture.mailer import MessageRejected
from services.nurture.repository import MEMBER_COLUMNS, DealRow, MemberChange, Row, TouchRow
from shared.events import CampaignDefined


class InMemoryPool:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    async def enter(self, conn: Any, lead_id: str, track: str, reason: str, grade: str, segment: str | None,
                    campaign: str | None, at: datetime, rep_id: str | None) -> None:
        note = {"at": at.isoformat(), "status": "nurturing", "track": track, "reason": reason}
        row = self.rows.get(lead_id)
        if row is None:
            self.rows[lead_id] = {"lead_id": lead_id, "status": "nurturing", "track": track, "reason": reason,
                                  "grade": grade, "score": None, "segment": segment, "campaign": campaign,
                                  "entered_at": at, "updated_at": at, "times_entered": 1, "last_rep_id": rep_id,
                                  "history": [note]}
            return
        row["times_entered"] += 0 if row["status"] == "nurturing" else 1
        row.update(status="nurturing", track=track, reason=reason, grade=grade, entered_at=at, updated_at=at,
                   segment=segment if segment is not None else row["segment"],
                   last_rep_id=rep_id if rep_id is not None else row["last_rep_id"])
        row["history"].append(note)

    async def set_status(self, conn: Any, lead_id: str, status: str, at: datetime, **fields: Any) -> bool:
        row = self.rows.get(lead_id)
        if row is None:
            return False
        row["history"].append({"at": at.isoformat(), "status": status,
                               **{k: v for k, v in fields.items() if k != "score"}})
        row.update(status=status, updated_at=at, **fields)
        return True

    async def update_grade(self, conn: Any, lead_id: str, grade: str, score: float, segment: str) -> None:
        if lead_id in self.rows:
            self.rows[lead_id].update(grade=grade, score=score, segment=segment)

    async def get(self, conn: Any, lead_id: str) -> Row | None:
        return self.rows.get(lead_id)

    async def list_pool(self, conn: Any, status: str | None, track: str | None, limit: int,
                        offset: int) -> Sequence[Row]:
        rows = [r for r in self.rows.values()
                if (status is None or r["status"] == status) and (track is None or r["track"] == track)]
        rows.sort(key=lambda r: r["updated_at"], reverse=True)
        return rows[offset:offset + limit]

    async def counts(self, conn: Any) -> Sequence[Row]:
        counted = Counter((r["status"], r["track"]) for r in self.rows.values())
        return [{"status": s, "track": t, "leads": n} for (s, t), n in sorted(counted.items())]


class InMemoryPrograms:
    """Twin of :class:`services.nurture.repository.ProgramRepository` (``conn`` ignored;
    there is one worker, so its locks are no-ops). ``pool`` gives it the pool's grades."""

    def __init__(self, pool: InMemoryPool) -> None:
        self.pool = pool
        self.tracks: list[dict[str, Any]] = []
        self.enrollments: dict[str, dict[str, Any]] = {}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.unsubscribed: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        self.task_rows: dict[str, dict[str, Any]] = {}
        self.webinars: dict[str, dict[str, Any]] = {}

    async def lock_tracks(self, conn: Any) -> None:
        return None

    async def latest_tracks(self, conn: Any) -> Sequence[Row]:
        latest: dict[str, dict[str, Any]] = {}
        for t in self.tracks:
            if t["name"] not in latest or t["version"] > latest[t["name"]]["version"]:
                latest[t["name"]] = t
        return [latest[n] for n in sorted(latest)]

    async def track_version(self, conn: Any, name: str, version: int) -> Row | None:
        return next((t for t in self.tracks if (t["name"], t["version"]) == (name, version)), None)

    async def track_versions(self, conn: Any, name: str) -> Sequence[Row]:
        return sorted((t for t in self.tracks if t["name"] == name), key=lambda t: t["version"])

    async def add_track(self, conn: Any, name: str, document: dict[str, Any], at: datetime, by: str) -> int:
        version = 1 + max((t["version"] for t in self.tracks if t["name"] == name), default=0)
        self.tracks.append({"name": name, "version": version, "document": document, "created_at": at,
                            "created_by": by})
        return version

    async def active_enrollment(self, conn: Any, lead_id: str) -> Row | None:
        return next((e for e in self.enrollments.values() if e["lead_id"] == lead_id and e["status"] == "active"),
                    None)

    async def enroll(self, conn: Any, enrollment_id: str, lead_id: str, track: str, version: int,
                     campaign: str | None, at: datetime, due_at: datetime) -> bool:
        if enrollment_id in self.enrollments:
            return False
        assert await self.active_enrollment(conn, lead_id) is None, "one active enrolment per lead"
        self.enrollments[enrollment_id] = {
            "enrollment_id": enrollment_id, "lead_id": lead_id, "track": track, "version": version,
            "status": "active", "step_index": 0, "pass": 1, "due_at": due_at, "campaign": campaign,
            "entered_at": at, "updated_at": at, "exit_reason": None, "fired": 0}
        return True

    async def end_enrollment(self, conn: Any, enrollment_id: str, status: str, reason: str | None,
                             at: datetime) -> None:
        e = self.enrollments[enrollment_id]
        if e["status"] == "active":
            e.update(status=status, exit_reason=reason, due_at=None, updated_at=at)

    def _with_contact(self, row: dict[str, Any]) -> dict[str, Any]:
        c = self.contacts.get(row["lead_id"], {})
        email = c.get("email")
        pooled = self.pool.rows.get(row["lead_id"])
        return {**row, **{k: c.get(k) for k in ("email", "name", "company", "consent", "rep_id", "team",
                                               "engaged_at", "replied_at")},
                "known": row["lead_id"] if c else None,
                "pool_grade": pooled["grade"] if pooled else c.get("grade"),
                "campaign_name": self.webinars.get(row["campaign"] or "", {}).get("name", row["campaign"]),
                "unsubscribed": email is not None and email.lower() in self.unsubscribed}

    async def due_enrollments(self, conn: Any, now: datetime, limit: int) -> Sequence[Row]:
        due = sorted((e for e in self.enrollments.values() if e["status"] == "active" and e["due_at"] <= now),
                     key=lambda e: e["due_at"])
        return [self._with_contact(e) for e in due[:limit]]

    async def save_progress(self, conn: Any, enrollment_id: str, status: str, step_index: int, pass_: int,
                            due_at: datetime | None, exit_reason: str | None, at: datetime) -> None:
        e = self.enrollments[enrollment_id]
        e.update(status=status, step_index=step_index, due_at=due_at, exit_reason=exit_reason, updated_at=at,
                 fired=e["fired"] + 1)
        e["pass"] = pass_

    async def enrollments_of(self, conn: Any, lead_id: str) -> Sequence[Row]:
        return sorted((e for e in self.enrollments.values() if e["lead_id"] == lead_id),
                      key=lambda e: e["entered_at"])

    async def list_enrollments(self, conn: Any, track: str | None, campaign: str | None, status: str | None,
                          limit: int) -> Sequence[Row]:
        rows = [e for e in self.enrollments.values()
                if all(want is None or e[key] == want for key, want in
                       (("track", track), ("campaign", campaign), ("status", status)))]
        return sorted(rows, key=lambda e: (e["entered_at"], e["enrollment_id"]))[:limit]

    async def next_due(self, conn: Any, timer: str) -> datetime | None:
        pending = {"steps": (e["due_at"] for e in self.enrollments.values() if e["status"] == "active"),
                   "mail": (m["not_before"] for m in self.messages.values() if m["status"] == "queued"),
                   "no-shows": (w["no_show_due_at"] for w in self.webinars.values()
                                if w["no_shows_marked_at"] is None)}[timer]
        return min((due for due in pending if due is not None), default=None)

    async def step_backlog(self, conn: Any, now: datetime) -> tuple[int, datetime | None]:
        due = [e["due_at"] for e in self.enrollments.values() if e["status"] == "active" and e["due_at"] <= now]
        return len(due), min(due, default=None)

    def _contact(self, lead_id: str, at: datetime) -> dict[str, Any]:
        return self.contacts.setdefault(lead_id, {
            "lead_id": lead_id, "email": None, "name": None, "company": None, "consent": None, "rep_id": None,
            "team": None, "engaged_at": None, "replied_at": None, "grade": None, "updated_at": at})

    async def upsert_contact(self, conn: Any, lead_id: str, email: str, name: str, company: str, consent: bool,
                             at: datetime) -> None:
        self._contact(lead_id, at).update(email=email, name=name, company=company, consent=consent, updated_at=at)

    async def upsert_contacts(self, conn: Any, contacts: Sequence[tuple[str, str, str, str, bool, datetime]]) -> None:
        assert len({c[0] for c in contacts}) == len(contacts), "each lead at most once (as ON CONFLICT requires)"
        for contact in contacts:
            await self.upsert_contact(conn, *contact)

    async def set_owner(self, conn: Any, lead_id: str, rep_id: str | None, team: str | None,
                        at: datetime) -> None:
        self._contact(lead_id, at).update(rep_id=rep_id, team=team, updated_at=at)

    async def mark_engaged(self, conn: Any, lead_id: str, at: datetime, replied: bool) -> None:
        c = self._contact(lead_id, at)
        column = "replied_at" if replied else "engaged_at"
        c[column] = at if c[column] is None else max(c[column], at)

    async def contact(self, conn: Any, lead_id: str) -> Row | None:
        return self.contacts.get(lead_id)

    async def set_grade(self, conn: Any, lead_id: str, grade: str, at: datetime) -> None:
        self._contact(lead_id, at).update(grade=grade, updated_at=at)

    async def save_webinar(self, conn: Any, campaign_id: str, name: str, starts_at: datetime, ends_at: datetime,
                           no_show_due_at: datetime, at: datetime) -> None:
        w = self.webinars.setdefault(campaign_id, {"campaign_id": campaign_id, "no_shows_marked_at": None,
                                                   "no_shows": None})
        w.update(name=name, event_starts_at=starts_at, event_ends_at=ends_at, updated_at=at)
        if w["no_shows_marked_at"] is None:
            w["no_show_due_at"] = no_show_due_at

    async def webinar(self, conn: Any, campaign_id: str) -> Row | None:
        return self.webinars.get(campaign_id)

    async def due_webinars(self, conn: Any, now: datetime, limit: int) -> Sequence[Row]:
        due = [w for w in self.webinars.values() if w["no_shows_marked_at"] is None and w["no_show_due_at"] <= now]
        return sorted(due, key=lambda w: w["no_show_due_at"])[:limit]

    async def no_shows_marked(self, conn: Any, campaign_id: str, no_shows: int, at: datetime) -> None:
        self.webinars[campaign_id].update(no_shows_marked_at=at, no_shows=no_shows)

    async def no_show_backlog(self, conn: Any, now: datetime) -> tuple[int, datetime | None]:
        due = [w["no_show_due_at"] for w in self.webinars.values()
               if w["no_shows_marked_at"] is None and w["no_show_due_at"] <= now]
        return len(due), min(due, default=None)

    async def queue_message(self, conn: Any, message_id: str, lead_id: str, enrollment_id: str | None,
                            track: str | None, version: int | None, step_id: str | None, campaign: str | None,
                            template: dict[str, Any], at: datetime) -> None:
        self.messages.setdefault(message_id, {
            "message_id": message_id, "lead_id": lead_id, "enrollment_id": enrollment_id, "track": track,
            "version": version, "step_id": step_id, "campaign": campaign, "template": template, "status": "queued",
            "reason": None, "created_at": at, "not_before": at, "sent_at": None, "to_email": None, "subject": None,
            "links": [], "opens": 0, "clicks": 0})

    async def queued_messages(self, conn: Any, now: datetime, limit: int) -> Sequence[Row]:
        due = sorted((m for m in self.messages.values() if m["status"] == "queued" and m["not_before"] <= now),
                     key=lambda m: m["not_before"])
        return [self._with_contact(m) for m in due[:limit]]

    async def sent_since(self, conn: Any, emails: Sequence[str], since: datetime) -> dict[str, list[datetime]]:
        wanted = {e.lower() for e in emails}
        out: dict[str, list[datetime]] = {}
        for m in self.messages.values():
            if m["status"] == "sent" and m["to_email"].lower() in wanted and m["sent_at"] > since:
                out.setdefault(m["to_email"].lower(), []).append(m["sent_at"])
        return out

    async def mark_sent(self, conn: Any, message_id: str, to: str, subject: str, links: Sequence[str],
                        at: datetime) -> None:
        self.messages[message_id].update(status="sent", sent_at=at, to_email=to, subject=subject, links=list(links),
                                         reason=None)

    async def set_message_status(self, conn: Any, message_id: str, status: str, reason: str,
                                 not_before: datetime | None) -> None:
        m = self.messages[message_id]
        m.update(status=status, reason=reason)
        if not_before is not None:
            m["not_before"] = not_before

    async def message(self, conn: Any, message_id: str) -> Row | None:
        return self.messages.get(message_id)

    async def count_engagement(self, conn: Any, message_id: str, kind: str) -> None:
        self.messages[message_id]["opens" if kind == "email_open" else "clicks"] += 1

    async def messages_of(self, conn: Any, lead_id: str | None, campaign: str | None, limit: int) -> Sequence[Row]:
        rows = [m for m in self.messages.values()
                if (lead_id is None or m["lead_id"] == lead_id) and (campaign is None or m["campaign"] == campaign)]
        return sorted(rows, key=lambda m: m["created_at"])[:limit]

    async def unsubscribe(self, conn: Any, email: str, lead_id: str | None, message_id: str | None,
                          at: datetime) -> bool:
        if email.lower() in self.unsubscribed:
            return False
        self.unsubscribed[email.lower()] = {"email": email.lower(), "lead_id": lead_id, "message_id": message_id,
                                            "at": at}
        return True

    async def is_unsubscribed(self, conn: Any, email: str) -> bool:
        return email.lower() in self.unsubscribed

    async def add_task(self, conn: Any, task: dict[str, Any]) -> bool:
        if task["task_id"] in self.task_rows:
            return False
        self.task_rows[task["task_id"]] = {"status": "open", "interests": "", "done_at": None, **task}
        return True

    async def task(self, conn: Any, task_id: str) -> Row | None:
        return self.task_rows.get(task_id)

    async def tasks(self, conn: Any, rep_id: str | None, team: str | None, campaign: str | None,
                    kind: str | None, status: str | None, limit: int) -> Sequence[Row]:
        rows = [t for t in self.task_rows.values()
                if all(want is None or t[key] == want for key, want in
                       (("rep_id", rep_id), ("team", team), ("campaign", campaign), ("kind", kind),
                        ("status", status)))]
        return sorted(rows, key=lambda t: (t["due_at"], t["task_id"]))[:limit]

    async def update_task(self, conn: Any, task_id: str, interests: str | None, status: str | None,
                          at: datetime) -> Row | None:
        t = self.task_rows.get(task_id)
        if t is None:
            return None
        if interests is not None:
            t["interests"] = interests
        if status is not None:
            t["status"] = status
            if status == "done" and t["done_at"] is None:
                t["done_at"] = at
        return t


class FakeMailer:
    """The :class:`~services.nurture.mailer.Mailer` for unit tests: keeps what it was given;
    ``fail_next`` makes the next send raise, as a refusing SMTP server would."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.fail_next = False
        self.rejects: set[str] = set()  # addresses refused for good

    async def send(self, message: EmailMessage) -> None:
        if message["To"] in self.rejects:
            raise MessageRejected(f"550 no such user {message['To']}")
        if self.fail_next:
            self.fail_next = False
            raise ConnectionRefusedError("SMTP server refused")
        self.sent.append(message)


class InMemoryCampaigns:
    """In-memory twin of :class:`services.nurture.repository.CampaignRepository`."""

    def __init__(self) -> None:
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.leads: dict[str, dict[str, Any]] = {}
        self.members: dict[tuple[str, str], dict[str, Any]] = {}
        self.touches: dict[str, TouchRow] = {}
        self.deals: dict[str, dict[str, Any]] = {}
        self.credits: dict[tuple[str, str, str, str], dict[str, Any]] = {}

    async def get_campaign(self, conn: Any, campaign_id: str) -> Row | None:
        return self.campaigns.get(campaign_id)

    async def list_campaigns(self, conn: Any) -> Sequence[Row]:
        return sorted(self.campaigns.values(), key=lambda c: (-c["starts_at"].timestamp(), c["campaign_id"]))

    async def save_campaign(self, conn: Any, d: CampaignDefined) -> None:
        self.campaigns[d.campaign_id] = {**d.model_dump(exclude={"event_id", "occurred_at"}), "type": d.type.value,
                                         "defined_at": d.occurred_at}

    async def remember_leads(self, conn: Any, leads: Sequence[tuple[str, str, bool, datetime]]) -> None:
        for lead_id, email, consent, at in leads:
            row = self.leads.setdefault(lead_id, {"lead_id": lead_id, "grade": None, "first_seen": at})
            row.update(email_norm=email, consent=consent)

    async def lead_ids_by_email(self, conn: Any, emails: Sequence[str]) -> dict[str, str]:
        return {r["email_norm"]: r["lead_id"] for r in self.leads.values() if r["email_norm"] in set(emails)}

    async def known_leads(self, conn: Any, lead_ids: Sequence[str]) -> set[str]:
        return {i for i in lead_ids if i in self.leads}

    async def set_grades(self, conn: Any, grades: Sequence[tuple[str, str]]) -> None:
        for lead_id, grade in grades:
            if lead_id in self.leads:
                self.leads[lead_id]["grade"] = grade
            for (_, member_lead), m in self.members.items():
                if member_lead == lead_id:
                    m["grade"] = grade

    async def members_of_lead(self, conn: Any, lead_id: str) -> Sequence[Row]:
        return [{"campaign_id": c, "status": m["status"], "campaign_type": self.campaigns[c]["type"]}
                for (c, lead), m in sorted(self.members.items()) if lead == lead_id]

    async def member(self, conn: Any, campaign_id: str, lead_id: str) -> Row | None:
        return self.members.get((campaign_id, lead_id))

    async def apply(self, conn: Any, ch: MemberChange) -> None:
        row = self.members.get((ch.campaign_id, ch.lead_id))
        if row is None:
            row = {"campaign_id": ch.campaign_id, "lead_id": ch.lead_id, "status": ch.status or "joined",
                   "new_lead": ch.new_lead, "channel": ch.channel,
                   "grade": self.leads.get(ch.lead_id, {}).get("grade"), "joined_at": ch.at,
                   "followed_up_on_time": ch.on_time, "updated_at": ch.at, **dict.fromkeys(MEMBER_COLUMNS[1:])}
            self.members[(ch.campaign_id, ch.lead_id)] = row
        else:
            row.update(status=ch.status or row["status"], updated_at=ch.at, new_lead=row["new_lead"] or ch.new_lead,
                       channel=row["channel"] or ch.channel,
                       followed_up_on_time=row["followed_up_on_time"] if row["followed_up_on_time"] is not None
                       else ch.on_time)
        for column in ch.stamps:
            if row[column] is None:
                row[column] = ch.at
        if ch.clear:
            row[ch.clear] = None

    async def list_members(self, conn: Any, campaign_id: str, status: str | None, limit: int,
                           offset: int) -> Sequence[Row]:
        rows = sorted((m for (c, _), m in self.members.items()
                       if c == campaign_id and (status is None or m["status"] == status)), key=lambda m: m["lead_id"])
        return rows[offset:offset + limit]

    async def lead_ids_at(self, conn: Any, campaign_id: str, status: str) -> list[str]:
        return sorted(lead for (c, lead), m in self.members.items() if c == campaign_id and m["status"] == status)

    async def add_touches(self, conn: Any, touches: Sequence[TouchRow]) -> list[TouchRow]:
        new = [t for t in touches if t.touch_id not in self.touches]
        self.touches.update({t.touch_id: t for t in new})
        return new

    async def touches_of(self, conn: Any, lead_ids: Sequence[str]) -> dict[str, list[Touch]]:
        out: dict[str, list[Touch]] = {}
        for t in self.touches.values():
            if t.lead_id in lead_ids:
                out.setdefault(t.lead_id, []).append(Touch(t.campaign_id, t.at, t.channel))
        return out

    async def save_deal(self, conn: Any, d: DealRow) -> None:
        row = self.deals.get(d.opportunity_id)
        if row is None:
            self.deals[d.opportunity_id] = {"opportunity_id": d.opportunity_id, "lead_id": d.lead_id,
                                            "status": d.status, "stage": d.stage, "amount_minor": d.amount_minor,
                                            "currency": d.currency, "opened_at": d.opened_at,
                                            "closed_at": d.closed_at, "updated_at": d.at}
            return
        row.update(lead_id=d.lead_id, status=row["status"] if row["status"] == "won" else d.status,
                   stage=d.stage or row["stage"], amount_minor=d.amount_minor if d.amount_minor is not None
                   else row["amount_minor"], currency=d.currency or row["currency"],
                   opened_at=row["opened_at"] or d.opened_at, closed_at=d.closed_at or row["closed_at"],
                   updated_at=d.at)

    async def won_deals(self, conn: Any, lead_ids: Sequence[str] | None = None) -> Sequence[Row]:
        return [d for d in self.deals.values()
                if d["status"] == "won" and (lead_ids is None or d["lead_id"] in lead_ids)]

    async def replace_credits(self, conn: Any, opportunity_ids: Sequence[str], credits: Sequence[Credit],
                              closing: Mapping[str, tuple[str, datetime]]) -> None:
        self.credits = {k: v for k, v in self.credits.items() if k[0] not in opportunity_ids}
        for c in credits:
            currency, closed = closing[c.opportunity_id]
            self.credits[(c.opportunity_id, c.model, c.campaign_id, c.channel)] = {
                "credit_minor": c.credit_minor, "currency": currency, "closed_at": closed}

    async def report(self, conn: Any, campaign_id: str, currency: str) -> Row:
        ms = [m for (c, _), m in self.members.items() if c == campaign_id]
        leads = {m["lead_id"] for m in ms}
        deals = [d for d in self.deals.values() if d["lead_id"] in leads]
        won = [d for d in deals if d["status"] == "won"]
        credited: dict[str, int] = {}
        for (_, model, c, _), v in self.credits.items():
            if c == campaign_id and v["currency"] == currency:
                credited[model] = credited.get(model, 0) + v["credit_minor"]
        row: dict[str, Any] = {
            "members": len(ms), "new_leads": sum(m["new_lead"] for m in ms),
            **{f"grade_{g.lower()}": sum(m["grade"] == g for m in ms) for g in "ABCD"},
            **{c.removesuffix("_at"): sum(m[c] is not None for m in ms) for c in MEMBER_COLUMNS},
            "followed_up_on_time": sum(bool(m["followed_up_on_time"]) for m in ms),
            "opportunities": len(deals), "won_deals": len(won),
            "lost_deals": sum(d["status"] == "lost" for d in deals),
            "closed_revenue_minor": sum(d["amount_minor"] for d in won if d["currency"] == currency),
            "won_in_other_currencies": sum(d["currency"] != currency for d in won), "credited": credited}
        return row

    async def period(self, conn: Any, since: datetime, until: datetime) -> Sequence[Row]:
        groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        for (opp, model, c, channel), v in self.credits.items():
            if since <= v["closed_at"] < until:
                key = (model, self.campaigns[c]["type"], channel, v["currency"])
                g = groups.setdefault(key, {"credited_minor": 0, "deals": set(), "campaigns": set()})
                g["credited_minor"] += v["credit_minor"]
                g["deals"].add(opp)
                g["campaigns"].add(c)
        return [{"model": k[0], "campaign_type": k[1], "channel": k[2], "currency": k[3],
                 "credited_minor": g["credited_minor"], "deals": len(g["deals"]), "campaigns": len(g["campaigns"])}
                for k, g in sorted(groups.items())]

    async def period_costs(self, conn: Any, since: datetime, until: datetime) -> Sequence[Row]:
        groups: dict[tuple[str, str], list[int]] = {}
        for c in self.campaigns.values():
            if c["starts_at"] < until and (c["ends_at"] is None or c["ends_at"] >= since):
                g = groups.setdefault((c["type"], c["currency"]), [0, 0])
                g[0] += c["cost_minor"]
                g[1] += 1
        return [{"campaign_type": t, "currency": cur, "cost_minor": v[0], "campaigns": v[1]}
                for (t, cur), v in sorted(groups.items())]

    async def status_counts(self, conn: Any) -> Sequence[Row]:
        counted = Counter((c, m["status"]) for (c, _), m in self.members.items())
        return [{"campaign_id": c, "status": s, "members": n} for (c, s), n in sorted(counted.items())]

    async def closed_revenue(self, conn: Any) -> Sequence[Row]:
        summed: Counter[tuple[str, str]] = Counter()
        for (c, lead), _ in self.members.items():
            for d in self.deals.values():
                if d["lead_id"] == lead and d["status"] == "won":
                    summed[(c, d["currency"])] += d["amount_minor"]
        return [{"campaign_id": c, "currency": cur, "revenue_minor": v} for (c, cur), v in sorted(summed.items())]
