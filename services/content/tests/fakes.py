"""In-memory twins of content's adapters for the handlers' unit tests: the collateral
store (same answers as :class:`services.content.repository.ContentRepository`, no
database; ``conn`` is ignored) and the file store."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from services.content.domain.effectiveness import Deal, Share
from services.content.domain.lifecycle import FINAL, Review
from services.content.domain.upkeep import Rating
from services.content.repository import ITEM_COLUMNS, Row
from services.content.storage import FileNotStored


def _words(text: str) -> set[str]:
    return {w[:5] for w in re.findall(r"[a-z0-9]+", text.lower())}  # a crude stemmer, like 'english'


def _tagged(value: str | None, tags: Sequence[str]) -> bool:
    return value is None or value in tags or not tags


def _live(r: Mapping[str, Any]) -> bool:
    return r["published_version"] is not None and r["status"] not in FINAL


class InMemoryFiles:
    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        self.files[key] = (bytes(data), content_type)

    async def get(self, key: str) -> bytes:
        try:
            return self.files[key][0]
        except KeyError:
            raise FileNotStored(key) from None

    async def delete(self, key: str) -> None:
        self.files.pop(key, None)


class InMemoryCollateral:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.items: dict[str, dict[str, Any]] = {}
        self.segments: dict[str, tuple[str, str, datetime]] = {}  # lead id -> (segment, grade, as of)
        self.names: dict[str, tuple[str, str]] = {}
        self.known: dict[str, datetime] = {}
        self.version_rows: list[dict[str, Any]] = []
        self.review_rows: list[dict[str, Any]] = []
        self.history_rows: list[dict[str, Any]] = []
        self.shares: dict[str, dict[str, Any]] = {}
        self.usage: dict[str, dict[str, Any]] = {}

    async def create(self, conn: Any, item: Mapping[str, Any]) -> Row:
        row = {"url": None, "summary": "", "segments": [], "stages": [], "products": [], "personas": [],
               "current_version": None, "published_version": None, "reviewers": [], "changes_requested_on": None,
               "submitted_at": None, "published_at": None, "retire_at": None, "warned_weeks": None,
               "successor_id": None, "effectiveness": 0.0, "body_text": "", "replaces": None, **item}
        self.items[row["item_id"]] = row
        return dict(row)

    async def get(self, conn: Any, item_id: str) -> Row | None:
        row = self.items.get(item_id)
        return dict(row) if row is not None else None

    async def lock(self, conn: Any, item_id: str) -> Row | None:
        return await self.get(conn, item_id)

    async def update(self, conn: Any, item_id: str, changes: Mapping[str, Any]) -> Row:
        unknown = set(changes) - ITEM_COLUMNS
        if unknown:
            raise ValueError(f"not an updatable column: {sorted(unknown)}")
        self.items[item_id].update(changes)
        return dict(self.items[item_id])

    async def list_items(self, conn: Any, status: str | None, segment: str | None, stage: str | None,
                         query: str | None = None, kind: str | None = None, product: str | None = None,
                         persona: str | None = None) -> Sequence[Row]:
        wanted = _words(query) if query else set()
        rows = [dict(r) for r in self.items.values()
                if (status is None or r["status"] == status) and _tagged(segment, r["segments"])
                and _tagged(stage, r["stages"]) and (kind is None or r["kind"] == kind)
                and _tagged(product, r["products"]) and _tagged(persona, r["personas"])
                and wanted <= _words(f"{r['title']} {r['summary']} {r['body_text']}")]
        return sorted(rows, key=lambda r: r["updated_at"], reverse=True)

    async def for_lead(self, conn: Any, segment: str, stage: str | None) -> Sequence[Row]:
        rows = [dict(r) for r in self.items.values()
                if _live(r) and _tagged(segment, r["segments"]) and _tagged(stage, r["stages"])]
        return sorted(rows, key=lambda r: (r["effectiveness"], r["published_at"]), reverse=True)

    async def add_version(self, conn: Any, version: Mapping[str, Any]) -> None:
        if any(v["item_id"] == version["item_id"] and v["version"] == version["version"] for v in self.version_rows):
            raise ValueError("duplicate version")
        self.version_rows.append(dict(version))

    async def versions(self, conn: Any, item_id: str) -> Sequence[Row]:
        return sorted((v for v in self.version_rows if v["item_id"] == item_id), key=lambda v: v["version"])

    async def version(self, conn: Any, item_id: str, version: int) -> Row | None:
        return next((v for v in self.version_rows if v["item_id"] == item_id and v["version"] == version), None)

    async def add_review(self, conn: Any, item_id: str, review: Review) -> None:
        self.review_rows.append({"item_id": item_id, "version": review.version, "reviewer": review.reviewer,
                                 "role": review.role, "decision": review.decision, "comment": review.comment,
                                 "at": review.at})

    async def reviews(self, conn: Any, item_id: str) -> Sequence[Row]:
        return [r for r in self.review_rows if r["item_id"] == item_id]

    async def add_history(self, conn: Any, item_id: str, entry: Mapping[str, Any]) -> None:
        self.history_rows.append({"item_id": item_id, **entry})

    async def history(self, conn: Any, item_id: str) -> Sequence[Row]:
        return [{k: v for k, v in h.items() if k != "item_id"} for h in self.history_rows if h["item_id"] == item_id]

    async def remember_segment(self, conn: Any, lead_id: str, segment: str, grade: str, at: datetime,
                               name: str = "", company: str = "") -> None:
        known = self.segments.get(lead_id)
        if known is None or known[2] <= at:
            self.segments[lead_id] = (segment, grade, at)
            self.names[lead_id] = (name, company)
        self.known.setdefault(segment, at)

    async def remember_segments(self, conn: Any, leads: Sequence[tuple[str, str, str, datetime, str, str]]) -> None:
        for lead in leads:
            await self.remember_segment(conn, *lead)

    async def segment_of(self, conn: Any, lead_id: str) -> str | None:
        known = self.segments.get(lead_id)
        return known[0] if known else None

    async def lead(self, conn: Any, lead_id: str) -> Row | None:
        known = self.segments.get(lead_id)
        if known is None:
            return None
        name, company = self.names[lead_id]
        return {"lead_id": lead_id, "segment": known[0], "grade": known[1], "name": name, "company": company}

    async def known_segments(self, conn: Any, segments: Sequence[str]) -> set[str]:
        return {s for s in segments if s in self.known}

    async def share_for(self, conn: Any, item_id: str, version: int, lead_id: str, rep_id: str) -> Row | None:
        return next((s for s in self.shares.values() if (s["item_id"], s["version"], s["lead_id"], s["rep_id"])
                     == (item_id, version, lead_id, rep_id)), None)

    async def add_share(self, conn: Any, share: Mapping[str, Any]) -> Row:
        existing = await self.share_for(conn, share["item_id"], share["version"], share["lead_id"], share["rep_id"])
        if existing is not None:
            return existing
        self.shares[share["share_id"]] = dict(share)
        return dict(share)

    async def share_by_token(self, conn: Any, token: str) -> Row | None:
        share = next((s for s in self.shares.values() if s["token"] == token), None)
        if share is None:
            return None
        item = self.items[share["item_id"]]
        return {**share, "status": item["status"], "successor_id": item["successor_id"], "title": item["title"]}

    async def add_usage(self, conn: Any, usage_id: str, kind: str, item_id: str, version: int | None,
                        share_id: str | None, lead_id: str | None, rep_id: str | None, at: datetime) -> None:
        self.usage.setdefault(usage_id, {"usage_id": usage_id, "kind": kind, "item_id": item_id, "version": version,
                                         "share_id": share_id, "lead_id": lead_id, "rep_id": rep_id, "at": at})

    async def usage_counts(self, conn: Any, item_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for u in self.usage.values():
            if u["item_id"] == item_id:
                counts[u["kind"]] = counts.get(u["kind"], 0) + 1
        return counts

    async def retirements_due(self, conn: Any, now: datetime, limit: int) -> Sequence[Row]:
        rows = [dict(r) for r in self.items.values() if _live(r) and r["retire_at"] <= now]
        return sorted(rows, key=lambda r: r["retire_at"])[:limit]

    async def warnings_due(self, conn: Any, now: datetime, first_warning_s: float, last_warning_weeks: int,
                           limit: int) -> Sequence[Row]:
        rows = [dict(r) for r in self.items.values()
                if _live(r) and r["retire_at"] > now and r["retire_at"] - timedelta(seconds=first_warning_s) <= now
                and (r["warned_weeks"] is None or r["warned_weeks"] > last_warning_weeks)]
        return sorted(rows, key=lambda r: r["retire_at"])[:limit]

    async def timer_backlog(self, conn: Any, now: datetime) -> tuple[int, datetime | None]:
        due = [r["retire_at"] for r in self.items.values() if _live(r) and r["retire_at"] <= now]
        return len(due), min(due, default=None)

    async def gauges(self, conn: Any, now: datetime, within_s: float) -> Row:
        by_status: dict[str, int] = {}
        for r in self.items.values():
            by_status[r["status"]] = by_status.get(r["status"], 0) + 1
        waiting = [r["submitted_at"] for r in self.items.values() if r["status"] == "in_review"]
        soon = [r for r in self.items.values() if _live(r) and r["retire_at"] <= now + timedelta(seconds=within_s)]
        return {"by_status": by_status, "reviews_waiting": len(waiting), "oldest_review_at": min(waiting, default=None),
                "retiring_soon": len(soon)}

class InMemoryUse:
    """Twin of :class:`services.content.use_repository.UseRepository`, reading the library's
    items and the leads' segments from ``library`` (the in-memory collateral)."""

    def __init__(self, library: InMemoryCollateral) -> None:
        self.library = library
        self.deals_: dict[str, Deal] = {}
        self.ratings_: list[Rating] = []
        self.scores: dict[tuple[str, str], tuple[float, int, int]] = {}
        self.messages_: dict[str, list[dict[str, Any]]] = {}
        self.answers: list[dict[str, Any]] = []

    async def deal(self, conn: Any, opportunity_id: str) -> Deal | None:
        return self.deals_.get(opportunity_id)

    async def save_deal(self, conn: Any, deal: Deal, at: datetime) -> None:
        self.deals_[deal.opportunity_id] = replace(deal, segment=None)

    async def deals(self, conn: Any) -> Sequence[Deal]:
        return [replace(d, segment=s[0] if (s := self.library.segments.get(d.lead_id)) else None)
                for _, d in sorted(self.deals_.items())]

    async def shares(self, conn: Any) -> Sequence[Share]:
        return [Share(u["item_id"], u["lead_id"], u["at"]) for u in self.library.usage.values()
                if u["kind"] == "shared" and u["lead_id"] is not None]

    async def last_used(self, conn: Any) -> dict[str, datetime]:
        last: dict[str, datetime] = {}
        for u in self.library.usage.values():
            last[u["item_id"]] = max(last.get(u["item_id"], u["at"]), u["at"])
        return last

    async def live_items(self, conn: Any, segment: str | None = None) -> Sequence[Row]:
        return [r for _, r in sorted(self.library.items.items()) if _live(r)
                and (segment is None or segment in r["segments"] or not r["segments"])]

    async def add_rating(self, conn: Any, rating_id: str, item_id: str, rep_id: str, rating: int, comment: str,
                         at: datetime) -> None:
        self.ratings_.append(Rating(item_id, rep_id, rating, comment, at))

    async def ratings(self, conn: Any) -> Sequence[Rating]:
        return sorted(self.ratings_, key=lambda r: r.at)

    async def replace_effectiveness(self, conn: Any, scores: Sequence[tuple[str, str, float, int, int]],
                                    overall: Mapping[str, float], at: datetime) -> None:
        self.scores = {(i, s): (score, a, b) for i, s, score, a, b in scores}
        for item_id, row in self.library.items.items():
            row["effectiveness"] = overall.get(item_id, 0.0)

    async def effectiveness_scores(self, conn: Any, segment: str) -> dict[str, float]:
        return {i: v[0] for (i, s), v in self.scores.items() if s == segment}

    async def segment_known(self, conn: Any, segment: str) -> bool:
        return any(s[0] == segment for s in self.library.segments.values())

    async def publish_message(self, conn: Any, segment: str, text: str, author: str, at: datetime) -> Row:
        versions = self.messages_.setdefault(segment, [])
        row = {"segment": segment, "version": len(versions) + 1, "text": text, "author": author, "published_at": at}
        versions.append(row)
        return row

    async def messages(self, conn: Any, segment: str) -> Sequence[Row]:
        return list(reversed(self.messages_.get(segment, [])))

    async def latest_messages(self, conn: Any) -> Sequence[Row]:
        return [v[-1] for _, v in sorted(self.messages_.items())]

    async def add_answer(self, conn: Any, answer_id: str, segment: str, rep_id: str, team: str, text: str,
                         message_version: int | None, at: datetime) -> Row:
        row = {"answer_id": answer_id, "segment": segment, "rep_id": rep_id, "team": team, "text": text,
               "message_version": message_version, "at": at}
        self.answers.append(row)
        return row

    async def latest_answers(self, conn: Any, segment: str) -> Sequence[Row]:
        latest: dict[str, dict[str, Any]] = {}
        for a in self.answers:
            if a["segment"] == segment:
                latest[a["rep_id"]] = a
        return [latest[r] for r in sorted(latest)]
