"""Content's handlers: the collateral library's lifecycle, versions, search, share
links and the year's retirement timer, and what content learns from ``lead-scored``.

Every command loads (locked), asks the domain (``domain/lifecycle.py`` decides every
transition, ``domain/files.py`` what a file is, ``domain/retirement.py`` when an item
retires), saves, and emits in the same unit of work: ``collateral-status-changed`` for
each transition, ``collateral-shared`` and ``collateral-viewed`` for each use of a
link (scoring counts a view as a content download), ``collateral-retirement-warned``
for each warning.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.content import extract, metrics
from services.content.domain import files, lifecycle, personalise, retirement
from services.content.domain.lifecycle import Actor, ItemState, Policy, Refused, Reviewer
from services.content.domain.message import OUTLIER_BELOW
from services.content.domain.upkeep import Thresholds
from services.content.repository import CollateralStore, Row, to_state
from services.content.storage import FileStore
from services.content.use_handlers import effectiveness_for_segment, on_deal_outcome, refresh_effectiveness
from services.content.use_repository import UseStore
from shared import audit, privacy, timers, topics
from shared import metrics as shared_metrics
from shared.events import (
    CollateralRetirementWarned,
    CollateralShared,
    CollateralStatusChanged,
    CollateralViewed,
    LeadScored,
    derive_event_id,
    utcnow,
)
from shared.handling import Periodic, Registry, Subscription, UnitOfWork, UnitOfWorkFactory, bind
from shared.privacy import SubjectData

SYSTEM = Actor("content-retirement-timer", "system")
DEFAULT_POLICY = Policy({"field_rep": 1, "sales_manager": 1})


class OffsetClock:
    """A clock that runs with real time plus an offset tests move forward
    (``ContentSettings.test_clock``, ``POST /v1/admin/clock``); each replica has its own."""

    def __init__(self, now: Callable[[], datetime] = utcnow) -> None:
        self._now = now
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return self._now() + self.offset

    def advance(self, by: timedelta) -> datetime:
        self.offset += by
        return self()


@dataclass(frozen=True)
class ContentDeps:
    """What content's handlers and routes share."""

    collateral: CollateralStore
    files: FileStore
    use: UseStore  # collateral in use: deals, ratings, effectiveness, the one-message check
    clock: Callable[[], datetime] = utcnow
    policy: Policy = DEFAULT_POLICY
    max_upload_bytes: int = 25 * 1024 * 1024
    lifetime: timedelta = retirement.LIFETIME
    retirement_every_s: float = 60.0
    gauges_every_s: float = 15.0
    timer_batch: int = 100
    test_clock: OffsetClock | None = None
    warn_weeks: tuple[int, ...] = field(default=retirement.WARN_WEEKS)
    effectiveness_every_s: float = 60.0
    upkeep_thresholds: Thresholds = field(default_factory=Thresholds)
    subjects: SubjectData | None = None  # what content holds about a person (export, erasure)
    outlier_below: float = OUTLIER_BELOW


def registry(deps: ContentDeps) -> Registry:
    return Registry(
        subscriptions=[Subscription(topics.LEAD_SCORED, batch_handler=bind(on_lead_scored, deps)),
                       Subscription(topics.DEAL_OUTCOME_RECORDED, handler=bind(on_deal_outcome, deps)),
                       *(privacy.subscriptions("content", deps.subjects) if deps.subjects is not None else [])],
        periodic=[Periodic("collateral-retirement", deps.retirement_every_s, bind(run_retirement, deps)),
                  Periodic("collateral-gauges", deps.gauges_every_s, bind(refresh_gauges, deps)),
                  Periodic("effectiveness", deps.effectiveness_every_s, bind(refresh_effectiveness, deps))])


async def on_lead_scored(deps: ContentDeps, events: Sequence[LeadScored], uow: UnitOfWork) -> None:
    """Remember each lead's segment (reps ask for collateral by lead, collateral is tagged
    by segment) and its name and company (the merge fields of a personalised copy): a
    consumed batch in two statements (the store keeps an older grading from overwriting
    a newer)."""
    await deps.collateral.remember_segments(uow.conn, [
        (e.lead_id, e.segment, e.grade, e.occurred_at, e.profile.name, e.profile.company) for e in events])


# ------------------------------------------------------------------ errors a route translates


class NotFound(LookupError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


class Invalid(ValueError):
    """Bad input: ``status`` is the HTTP status that says so (413 too large, 415 a type
    not taken, 422 otherwise)."""

    def __init__(self, field: str, reason: str, status: int = 422) -> None:
        super().__init__(reason)
        self.field, self.reason, self.status = field, reason, status


class Gone(LookupError):
    """The link's item is retired or withdrawn; ``successor_id`` is what replaced it, if any."""

    def __init__(self, item_id: str, status: str, successor_id: str | None) -> None:
        super().__init__(item_id)
        self.item_id, self.status, self.successor_id = item_id, status, successor_id


# ------------------------------------------------------------------ items and their lifecycle


@dataclass(frozen=True)
class NewItem:
    title: str
    kind: str
    summary: str
    segments: Sequence[str]
    stages: Sequence[str]
    owner: str
    url: str | None = None
    products: Sequence[str] = ()
    personas: Sequence[str] = ()
    replaces: str | None = None


def _status_event(row: Row, action: str, before: str | None, actor: Actor, at: datetime, version: int | None,
                  comment: str = "", event_id: str | None = None) -> CollateralStatusChanged:
    extra = {"event_id": event_id} if event_id is not None else {}
    return CollateralStatusChanged(
        **extra, occurred_at=at, item_id=row["item_id"], title=row["title"], kind=row["kind"], owner=row["owner"],
        action=action, from_status=before, to_status=row["status"], version=version,  # type: ignore[arg-type]
        published_version=row["published_version"], actor_id=actor.id, actor_role=actor.role, comment=comment,
        reviewers=tuple(r["id"] for r in row["reviewers"]), segments=tuple(row["segments"]),
        stages=tuple(row["stages"]), successor_id=row["successor_id"], retire_at=row["retire_at"])


async def _record(deps: ContentDeps, uow: UnitOfWork, row: Row, action: str, before: str | None, actor: Actor,
                  at: datetime, version: int | None, comment: str = "", event_id: str | None = None,
                  who: audit.Who | None = None) -> None:
    """The item's history entry and event name ``actor`` (the lifecycle's person and role);
    the audit entry names ``who`` made the request (the signed-in caller), or the actor
    for the service's own work."""
    await deps.collateral.add_history(uow.conn, row["item_id"], {
        "action": action, "from_status": before, "to_status": row["status"], "version": version,
        "actor_id": actor.id, "actor_role": actor.role, "comment": comment, "at": at})
    uow.emit(_status_event(row, action, before, actor, at, version, comment, event_id))
    # (a clocked retirement's entry gets an id derived from its event's, so a re-run records it once)
    audit.record(uow, who or audit.Actor(actor.id, actor.id, (actor.role,)), f"collateral.{action}", "collateral",
                 row["item_id"], before={"status": before}, after={"status": row["status"]},
                 details={"version": version, "published_version": row["published_version"], "comment": comment},
                 cause_id=event_id)


async def _check_segments(deps: ContentDeps, uow: UnitOfWork, segments: Sequence[str]) -> None:
    if not segments:
        return
    known = await deps.collateral.known_segments(uow.conn, segments)
    unknown = [s for s in segments if s not in known]
    if unknown:
        raise Invalid("segments", f"unknown segment {', '.join(map(repr, unknown))}: a segment is one scoring "
                                  "has graded a lead into (see lead-scored)")


async def add_item(deps: ContentDeps, uow: UnitOfWork, item: NewItem, actor: Actor, *,
                   who: audit.Who | None = None) -> Row:
    """Marketing adds an item to the library; it starts as a draft (its first version is uploaded next)."""
    if actor.role != "marketing":
        raise Refused("actor.role", f"only marketing drafts collateral, not {actor.role}", forbidden=True)
    await _check_segments(deps, uow, item.segments)
    if item.replaces is not None and await deps.collateral.get(uow.conn, item.replaces) is None:
        raise Invalid("replaces", f"no collateral {item.replaces}")
    now = deps.clock()
    row = await deps.collateral.create(uow.conn, {
        "item_id": str(uuid.uuid4()), "title": item.title, "kind": item.kind, "url": item.url,
        "summary": item.summary, "segments": list(item.segments), "stages": list(item.stages),
        "products": list(item.products), "personas": list(item.personas), "owner": item.owner, "status": "draft",
        "replaces": item.replaces, "created_at": now, "updated_at": now})
    await _record(deps, uow, row, "create", None, actor, now, None, who=who)
    return row


async def _load(deps: ContentDeps, uow: UnitOfWork, item_id: str) -> tuple[Row, ItemState]:
    row = await deps.collateral.lock(uow.conn, item_id)
    if row is None:
        raise NotFound("item_id", f"no collateral {item_id}")
    return row, to_state(row, await deps.collateral.reviews(uow.conn, item_id))


def _reviewers_json(state: ItemState) -> list[dict[str, str]]:
    return [{"id": r.id, "role": r.role} for r in state.reviewers]


async def submit(deps: ContentDeps, uow: UnitOfWork, item_id: str, actor: Actor,
                 reviewers: Sequence[Reviewer], *, who: audit.Who | None = None) -> Row:
    """Marketing sends the current version to the named sales reviewers."""
    row, state = await _load(deps, uow, item_id)
    new = lifecycle.submit(state, actor, reviewers, deps.policy)
    now = deps.clock()
    saved = await deps.collateral.update(uow.conn, item_id, {
        "status": new.status, "reviewers": _reviewers_json(new), "submitted_at": now, "updated_at": now})
    await _record(deps, uow, saved, "submit", row["status"], actor, now, new.current_version, who=who)
    return saved


async def review(deps: ContentDeps, uow: UnitOfWork, item_id: str, actor: Actor, approve: bool,
                 comment: str, *, who: audit.Who | None = None) -> Row:
    """A named reviewer approves the version under review, or asks for changes to it."""
    row, state = await _load(deps, uow, item_id)
    now = deps.clock()
    new = (lifecycle.approve(state, actor, deps.policy, now, comment) if approve
           else lifecycle.request_changes(state, actor, comment, now))
    await deps.collateral.add_review(uow.conn, item_id, new.reviews[-1])
    saved = await deps.collateral.update(uow.conn, item_id, {
        "status": new.status, "changes_requested_on": new.changes_requested_on, "updated_at": now})
    await _record(deps, uow, saved, "approve" if approve else "request_changes", row["status"], actor, now,
                  state.current_version, comment, who=who)
    return saved


async def publish(deps: ContentDeps, uow: UnitOfWork, item_id: str, actor: Actor, *,
                  who: audit.Who | None = None) -> Row:
    """Marketing publishes what sales approved; its year starts now. A new edition that
    replaces another item becomes that item's successor (its links point here once it retires)."""
    row, state = await _load(deps, uow, item_id)
    new = lifecycle.publish(state, actor, deps.policy)
    now = deps.clock()
    saved = await deps.collateral.update(uow.conn, item_id, {
        "status": new.status, "published_version": new.published_version, "published_at": now,
        "retire_at": retirement.retire_at(now, deps.lifetime), "warned_weeks": None, "updated_at": now})
    if row["replaces"] is not None:
        await deps.collateral.update(uow.conn, row["replaces"], {"successor_id": item_id})
    await _record(deps, uow, saved, "publish", row["status"], actor, now, new.published_version, who=who)
    return saved


async def withdraw(deps: ContentDeps, uow: UnitOfWork, item_id: str, actor: Actor, comment: str = "", *,
                   who: audit.Who | None = None) -> Row:
    row, state = await _load(deps, uow, item_id)
    new = lifecycle.withdraw(state, actor)
    now = deps.clock()
    saved = await deps.collateral.update(uow.conn, item_id, {"status": new.status, "updated_at": now})
    await _record(deps, uow, saved, "withdraw", row["status"], actor, now, state.current_version, comment, who=who)
    return saved


async def retire(deps: ContentDeps, uow: UnitOfWork, item_id: str, actor: Actor, successor_id: str | None = None,
                 comment: str = "", *, who: audit.Who | None = None) -> Row:
    """Retire an item (by hand; the timer retires by :func:`run_retirement`), naming what replaces it."""
    row, state = await _load(deps, uow, item_id)
    if successor_id is not None and (successor_id == item_id or await deps.collateral.get(uow.conn, successor_id)
                                     is None):
        raise Invalid("successor_id", f"no other collateral {successor_id}")
    new = lifecycle.retire(state, actor)
    now = deps.clock()
    saved = await deps.collateral.update(uow.conn, item_id, {"status": new.status, "successor_id": successor_id,
                                                             "updated_at": now})
    await _record(deps, uow, saved, "retire", row["status"], actor, now, state.published_version, comment, who=who)
    return saved


# ------------------------------------------------------------------ versions and files


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


def _storage_key(item_id: str, version: int, sha256: str) -> str:
    return f"items/{item_id}/{version}/{sha256}"


async def add_version(deps: ContentDeps, uow: UnitOfWork, item_id: str, actor: Actor, upload: Upload, *,
                      who: audit.Who | None = None) -> Row:
    """A new, immutable version of an item, with its file and checksum. The bytes must be
    what the upload claims (PDF, PPTX, DOCX, an image, or a text/HTML template whose merge
    fields are known); their text is extracted for search. Returns the version's record."""
    if len(upload.data) > deps.max_upload_bytes:
        raise Invalid("file", f"{len(upload.data)} bytes is over the {deps.max_upload_bytes}-byte limit", 413)
    try:
        sniffed = files.check(upload.data, upload.content_type)
    except files.WrongFile as exc:
        raise Invalid("file", exc.reason, 415 if exc.unsupported else 422) from None
    if sniffed.is_template:
        try:
            personalise.render(upload.data.decode("utf-8"), sniffed.content_type, personalise.SAMPLE)
        except personalise.BadTemplate as exc:
            raise Invalid("file", f"the template does not render: {exc}") from None
    row, state = await _load(deps, uow, item_id)
    version = max([v["version"] for v in await deps.collateral.versions(uow.conn, item_id)], default=0) + 1
    new = lifecycle.revise(state, actor, version)
    text = await asyncio.to_thread(extract.text_of, upload.data, sniffed.content_type)
    sha256 = hashlib.sha256(upload.data).hexdigest()
    key = _storage_key(item_id, version, sha256)
    await deps.files.put(key, upload.data, sniffed.content_type)
    now = deps.clock()
    record = {"item_id": item_id, "version": version, "filename": upload.filename or f"version-{version}",
              "content_type": sniffed.content_type, "size_bytes": len(upload.data), "sha256": sha256,
              "storage_key": key, "text_chars": len(text), "created_by": actor.id, "created_at": now}
    await deps.collateral.add_version(uow.conn, record)
    saved = await deps.collateral.update(uow.conn, item_id, {
        "status": new.status, "current_version": version, "body_text": text, "updated_at": now})
    await _record(deps, uow, saved, "revise", row["status"], actor, now, version, who=who)
    return record


@dataclass(frozen=True)
class File:
    data: bytes
    content_type: str
    filename: str
    sha256: str


async def read_version(deps: ContentDeps, conn: Any, item_id: str, version: int | None) -> File:
    """A version's file as uploaded; ``None`` is the latest published one (what reps get)."""
    item = await deps.collateral.get(conn, item_id)
    if item is None:
        raise NotFound("item_id", f"no collateral {item_id}")
    if version is None:
        if not lifecycle.is_live(item["status"], item["published_version"]):
            raise NotFound("item_id", f"collateral {item_id} has no live published version (it is {item['status']})")
        version = item["published_version"]
    assert version is not None
    record = await deps.collateral.version(conn, item_id, version)
    if record is None:
        raise NotFound("version", f"collateral {item_id} has no version {version}")
    data = await deps.files.get(record["storage_key"])
    return File(data, record["content_type"], record["filename"], record["sha256"])


# ------------------------------------------------------------------ finding


@dataclass(frozen=True)
class Suggestions:
    lead_id: str
    segment: str
    items: list[Row]


async def collateral_for(deps: ContentDeps, uow: UnitOfWork, lead_id: str, stage: str | None) -> Suggestions | None:
    """The live collateral that suits a graded lead's segment (and stage), most effective
    for that segment first (``domain.effectiveness.ranking_score``, kept per segment by the
    ``effectiveness`` job; unmeasured items score 0 and keep the library's order); None
    if content has not seen the lead graded yet."""
    lead = await deps.collateral.lead(uow.conn, lead_id)
    if lead is None:
        return None
    rows = await deps.collateral.for_lead(uow.conn, lead["segment"], stage)
    scores = await effectiveness_for_segment(deps, uow, lead["segment"])
    return Suggestions(lead_id, lead["segment"], sorted(rows, key=lambda r: -scores.get(r["item_id"], 0.0)))


# ------------------------------------------------------------------ share links


@dataclass(frozen=True)
class Shared:
    share: Row
    created: bool


async def share(deps: ContentDeps, uow: UnitOfWork, item_id: str, lead_id: str, rep_id: str,
                rep_name: str | None = None) -> Shared:
    """A rep's link to the item's latest published version for one lead: one link per
    item version, lead and rep (asking again gives the same link). A template becomes the
    lead's own copy, its merge fields filled (prospect, company, rep)."""
    item = await deps.collateral.get(uow.conn, item_id)
    if item is None:
        raise NotFound("item_id", f"no collateral {item_id}")
    if not lifecycle.is_live(item["status"], item["published_version"]):
        raise Refused("status", f"only published collateral can be shared (this item is {item['status']})",
                      conflict=True)
    lead = await deps.collateral.lead(uow.conn, lead_id)
    if lead is None:
        raise Invalid("lead_id", f"content has not seen lead {lead_id} graded")
    version: int = item["published_version"]
    existing = await deps.collateral.share_for(uow.conn, item_id, version, lead_id, rep_id)
    if existing is not None:
        return Shared(existing, created=False)
    record = await deps.collateral.version(uow.conn, item_id, version)
    assert record is not None
    share_id, now = str(uuid.uuid4()), deps.clock()
    copy_key = copy_sha = None
    if record["content_type"] in files.TEMPLATES:
        template = (await deps.files.get(record["storage_key"])).decode("utf-8")
        copy = personalise.render(template, record["content_type"], personalise.MergeFields(
            prospect=lead["name"], company=lead["company"], rep=rep_name or rep_id)).encode("utf-8")
        copy_sha = hashlib.sha256(copy).hexdigest()
        copy_key = f"shares/{share_id}/{copy_sha}"
        await deps.files.put(copy_key, copy, record["content_type"])
    saved = await deps.collateral.add_share(uow.conn, {
        "share_id": share_id, "token": secrets.token_urlsafe(32), "item_id": item_id, "version": version,
        "lead_id": lead_id, "rep_id": rep_id, "copy_key": copy_key, "copy_sha256": copy_sha, "created_at": now})
    if saved["share_id"] != share_id:  # a concurrent request made it first
        return Shared(saved, created=False)
    await deps.collateral.add_usage(uow.conn, share_id, "shared", item_id, version, share_id, lead_id, rep_id, now)
    uow.emit(CollateralShared(event_id=derive_event_id(share_id, "shared"), occurred_at=now, lead_id=lead_id,
                              share_id=share_id, item_id=item_id, version=version, rep_id=rep_id,
                              segment=lead["segment"], personalised=copy_key is not None))
    metrics.SHARES.inc()
    return Shared(saved, created=True)


async def open_link(deps: ContentDeps, uow: UnitOfWork, token: str) -> File:
    """The prospect opens a link: the shared version (or the lead's copy) is served and a
    view recorded, which scoring counts as a content download. A retired or withdrawn
    item's link raises :class:`Gone` with its successor."""
    link = await deps.collateral.share_by_token(uow.conn, token)
    if link is None:
        raise NotFound("token", "no such link")
    if link["status"] in lifecycle.FINAL:
        raise Gone(link["item_id"], link["status"], link["successor_id"])
    record = await deps.collateral.version(uow.conn, link["item_id"], link["version"])
    assert record is not None
    key, sha = (link["copy_key"], link["copy_sha256"]) if link["copy_key"] else (record["storage_key"],
                                                                                 record["sha256"])
    data = await deps.files.get(key)
    view_id, now = str(uuid.uuid4()), deps.clock()
    await deps.collateral.add_usage(uow.conn, view_id, "viewed", link["item_id"], link["version"], link["share_id"],
                                    link["lead_id"], link["rep_id"], now)
    uow.emit(CollateralViewed(event_id=derive_event_id(view_id, "viewed"), occurred_at=now, lead_id=link["lead_id"],
                              view_id=view_id, share_id=link["share_id"], item_id=link["item_id"],
                              version=link["version"], rep_id=link["rep_id"]))
    metrics.VIEWS.inc()
    return File(data, record["content_type"], record["filename"], sha)


# ------------------------------------------------------------------ the year's timer


async def retire_due(deps: ContentDeps, uow: UnitOfWork) -> int:
    """Retire every live item whose year is up (a chunk of ``timer_batch``), each with its
    event, in the caller's transaction. The rows are locked with SKIP LOCKED, so two
    replicas never take the same item, and the status change commits with its event:
    each retirement fires exactly once, across restarts and replicas."""
    now = deps.clock()
    rows = await deps.collateral.retirements_due(uow.conn, now, deps.timer_batch)
    for row in rows:
        state = to_state(row, ())
        new = lifecycle.retire(state, SYSTEM)
        saved = await deps.collateral.update(uow.conn, row["item_id"], {"status": new.status, "updated_at": now})
        await _record(deps, uow, saved, "retire", row["status"], SYSTEM, now, row["published_version"],
                      f"a year after its last published revision ({row['published_at'].date().isoformat()})",
                      event_id=derive_event_id(row["item_id"], row["retire_at"].isoformat(), "retired"))
        metrics.RETIRED.inc()
        shared_metrics.observe_timer_fired(metrics.SERVICE, metrics.TIMER_RETIREMENT, row["retire_at"], now)
    return len(rows)


async def warn_due(deps: ContentDeps, uow: UnitOfWork) -> int:
    """Warn the owners of items retiring within 4 weeks (then 2), once per warning."""
    now = deps.clock()
    first = timedelta(weeks=max(deps.warn_weeks)).total_seconds()
    rows = await deps.collateral.warnings_due(uow.conn, now, first, min(deps.warn_weeks), deps.timer_batch)
    for row in rows:
        weeks = retirement.warning_due(row["retire_at"], row["warned_weeks"], now, deps.warn_weeks)
        if weeks is None:
            continue
        await deps.collateral.update(uow.conn, row["item_id"], {"warned_weeks": weeks})
        uow.emit(CollateralRetirementWarned(
            event_id=derive_event_id(row["item_id"], row["retire_at"].isoformat(), f"warned-{weeks}"),
            occurred_at=now, item_id=row["item_id"], title=row["title"], owner=row["owner"],
            retire_at=row["retire_at"], weeks_before=weeks))
        metrics.WARNED.labels(str(weeks)).inc()
        shared_metrics.observe_timer_fired(metrics.SERVICE, metrics.TIMER_WARNING,
                                           row["retire_at"] - timedelta(weeks=weeks), now)
    return len(rows)


async def run_retirement(deps: ContentDeps, units: UnitOfWorkFactory) -> int:
    """The ``collateral-retirement`` job: warnings, then retirements, a transaction per
    chunk until none is due; then the timer backlog for ``leadbridge_timers_due``."""
    fired = 0
    for step in (warn_due, retire_due):
        fired += await timers.drain(units, bind(step, deps), deps.timer_batch)
    await timers.report_backlog(units, deps.clock, metrics.SERVICE,
                                {metrics.TIMER_RETIREMENT: deps.collateral.timer_backlog})
    return fired


async def refresh_gauges(deps: ContentDeps, units: UnitOfWorkFactory) -> Mapping[str, Any]:
    """The ``collateral-gauges`` job: items by status, reviews waiting and the oldest's age,
    items retiring within 30 days."""
    async with units() as uow:
        now = deps.clock()
        g = await deps.collateral.gauges(uow.conn, now, metrics.RETIRING_WINDOW_S)
    for status in lifecycle.STATUSES:
        metrics.ITEMS.labels(status).set(g["by_status"].get(status, 0))
    metrics.REVIEWS_WAITING.set(g["reviews_waiting"])
    oldest = g["oldest_review_at"]
    metrics.OLDEST_REVIEW_AGE.set(max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)
    metrics.RETIRING_SOON.set(g["retiring_soon"])
    return g
