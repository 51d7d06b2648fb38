"""In-memory twin of :class:`services.nurture.repository.PoolRepository` for the
handlers' unit tests: same answers, no database (``conn`` is ignored)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from services.nurture.mailer import MessageRejected
from services.nurture.repository import Row


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
                "known": row["lead_id"] if c else None, "pool_grade": pooled["grade"] if pooled else None,
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

    async def step_backlog(self, conn: Any, now: datetime) -> tuple[int, datetime | None]:
        due = [e["due_at"] for e in self.enrollments.values() if e["status"] == "active" and e["due_at"] <= now]
        return len(due), min(due, default=None)

    def _contact(self, lead_id: str, at: datetime) -> dict[str, Any]:
        return self.contacts.setdefault(lead_id, {
            "lead_id": lead_id, "email": None, "name": None, "company": None, "consent": None, "rep_id": None,
            "team": None, "engaged_at": None, "replied_at": None, "updated_at": at})

    async def upsert_contact(self, conn: Any, lead_id: str, email: str, name: str, company: str, consent: bool,
                             at: datetime) -> None:
        self._contact(lead_id, at).update(email=email, name=name, company=company, consent=consent, updated_at=at)

    async def set_owner(self, conn: Any, lead_id: str, rep_id: str | None, team: str | None,
                        at: datetime) -> None:
        self._contact(lead_id, at).update(rep_id=rep_id, team=team, updated_at=at)

    async def mark_engaged(self, conn: Any, lead_id: str, at: datetime, replied: bool) -> None:
        c = self._contact(lead_id, at)
        column = "replied_at" if replied else "engaged_at"
        c[column] = at if c[column] is None else max(c[column], at)

    async def contact(self, conn: Any, lead_id: str) -> Row | None:
        return self.contacts.get(lead_id)

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
