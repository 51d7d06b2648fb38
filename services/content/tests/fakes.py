"""In-memory twins of content's adapters for the handlers' unit tests: the collateral
store (same answers as :class:`services.content.repository.ContentRepository`, no
database; ``conn`` is ignored) and the file store."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from services.content.domain.lifecycle import FINAL, Review
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
