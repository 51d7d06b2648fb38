"""Collateral's lifecycle, as a pure state machine.

Marketing drafts an item; sales reviews it before it is final; only what sales approved
is published; a year after its last published revision it retires; marketing may
withdraw it at any time before::

    draft ──submit──▶ in_review ──request_changes──▶ changes_requested ──submit (a newer version)──▶ in_review
                          │
                          └──approve (until the policy is met)──▶ approved ──publish──▶ published ──retire──▶ retired
    (any state but retired/withdrawn) ──withdraw──▶ withdrawn

- Reviewers are named when the item is submitted; only a named reviewer may approve or
  ask for changes, in the role they were named for. Approvals count for the version
  under review only: a new version starts the count again.
- The approval policy is data (:class:`Policy`, e.g. at least one field rep and the
  sales manager). Publishing what the policy has not approved is refused, naming
  what is missing.
- A request for changes names the version it was made on, and only a newer version
  answers it: submitting the same version again is refused.
- A new version of an approved or published item sends it back to ``draft`` (its
  review starts again); a published one keeps serving its ``published_version`` to
  reps meanwhile: reps always get the latest published version.

Each function takes the item's state and the actor and returns the new state, or
raises :class:`Refused` with the field at fault and why (the handler turns it into
a 4xx; the domain knows no HTTP).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, get_args

Status = Literal["draft", "in_review", "changes_requested", "approved", "published", "retired", "withdrawn"]
STATUSES: tuple[Status, ...] = get_args(Status)
Role = Literal["marketing", "field_rep", "inside_rep", "sales_manager", "system"]
ROLES: tuple[Role, ...] = get_args(Role)
SALES_ROLES: frozenset[Role] = frozenset({"field_rep", "inside_rep", "sales_manager"})
Action = Literal["create", "submit", "approve", "request_changes", "publish", "revise", "retire", "withdraw"]

FINAL: frozenset[Status] = frozenset({"retired", "withdrawn"})


@dataclass(frozen=True)
class Actor:
    """Who acts, as the request says (sign-in does not exist yet: the id and role are taken
    on trust from the request until authentication lands)."""

    id: str
    role: Role


@dataclass(frozen=True)
class Reviewer:
    id: str
    role: Role


@dataclass(frozen=True)
class Review:
    """A reviewer's decision on one version."""

    reviewer: str
    role: Role
    version: int
    decision: Literal["approved", "changes_requested"]
    comment: str
    at: datetime


@dataclass(frozen=True)
class Policy:
    """How many approvals of each sales role publishing needs, e.g. ``{"field_rep": 1,
    "sales_manager": 1}``: at least one field rep and the sales manager."""

    at_least: Mapping[str, int]

    def missing(self, approvals: Iterable[Review]) -> list[str]:
        """What the policy still needs, one phrase per role, e.g. ``"sales_manager: 1 more approval"``."""
        have: Counter[str] = Counter(a.role for a in approvals if a.decision == "approved")
        return [f"{role}: {need - have[role]} more approval{'s' if need - have[role] > 1 else ''}"
                for role, need in self.at_least.items() if have[role] < need]


@dataclass(frozen=True)
class ItemState:
    """What the lifecycle needs to know of an item."""

    status: Status
    current_version: int | None = None
    published_version: int | None = None
    reviewers: tuple[Reviewer, ...] = ()
    reviews: tuple[Review, ...] = ()  # of every version, oldest first
    changes_requested_on: int | None = None

    def approvals(self) -> list[Review]:
        """The approvals of the version under review (only those count)."""
        return [r for r in self.reviews if r.decision == "approved" and r.version == self.current_version]


class Refused(Exception):
    """A transition the lifecycle does not allow. ``conflict`` is the item's state at fault
    (a 409), otherwise the request is (``forbidden``: who asked, a 403; else a 422)."""

    def __init__(self, field: str, reason: str, *, conflict: bool = False, forbidden: bool = False,
                 missing: list[str] | None = None) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason, self.conflict, self.forbidden = field, reason, conflict, forbidden
        self.missing = missing or []


def _need_role(actor: Actor, *roles: Role) -> None:
    if actor.role not in roles:
        raise Refused("actor.role", f"only {' or '.join(roles)} may do this, not {actor.role}", forbidden=True)


def _need_status(state: ItemState, action: str, *allowed: Status) -> None:
    if state.status not in allowed:
        raise Refused("status", f"cannot {action} an item that is {state.status} (only when {' or '.join(allowed)})",
                      conflict=True)


def submit(state: ItemState, actor: Actor, reviewers: Iterable[Reviewer], policy: Policy) -> ItemState:
    """Marketing sends the current version to the named sales reviewers. They must be able
    to meet the policy; after a request for changes, only a newer version may be sent."""
    _need_role(actor, "marketing")
    _need_status(state, "submit", "draft", "changes_requested")
    if state.current_version is None:
        raise Refused("version", "upload a version before sending the item for review", conflict=True)
    if state.changes_requested_on is not None and state.current_version <= state.changes_requested_on:
        raise Refused("version", f"changes were requested on version {state.changes_requested_on}: "
                                 "upload a new version to answer them", conflict=True)
    named = tuple(dict.fromkeys(reviewers))
    if not named:
        raise Refused("reviewers", "name at least one sales reviewer")
    for r in named:
        if r.role not in SALES_ROLES:
            raise Refused("reviewers", f"{r.id} is named as {r.role}: reviewers are sales "
                                       f"({', '.join(sorted(SALES_ROLES))})")
    unmeetable = policy.missing(Review(r.id, r.role, 0, "approved", "", datetime.min) for r in named)
    if unmeetable:
        raise Refused("reviewers", "the named reviewers cannot meet the approval policy: " + "; ".join(unmeetable))
    return replace(state, status="in_review", reviewers=named)


def _named(state: ItemState, actor: Actor) -> Reviewer:
    for r in state.reviewers:
        if r.id == actor.id and r.role == actor.role:
            return r
    raise Refused("actor.id", f"{actor.id} ({actor.role}) is not a named reviewer of this item", forbidden=True)


def approve(state: ItemState, actor: Actor, policy: Policy, at: datetime, comment: str = "") -> ItemState:
    """A named reviewer approves the version under review; once the policy is met, the item is approved."""
    _need_status(state, "approve", "in_review")
    reviewer = _named(state, actor)
    assert state.current_version is not None
    if any(a.reviewer == reviewer.id for a in state.approvals()):
        raise Refused("actor.id", f"{actor.id} has approved version {state.current_version} already", conflict=True)
    reviews = (*state.reviews, Review(reviewer.id, reviewer.role, state.current_version, "approved", comment, at))
    approved = replace(state, reviews=reviews)
    return replace(approved, status="approved") if not policy.missing(approved.approvals()) else approved


def request_changes(state: ItemState, actor: Actor, comment: str, at: datetime) -> ItemState:
    """A named reviewer asks for changes to the version under review; the comment is tied to it."""
    _need_status(state, "request changes to", "in_review")
    reviewer = _named(state, actor)
    if not comment.strip():
        raise Refused("comment", "say what should change")
    assert state.current_version is not None
    reviews = (*state.reviews, Review(reviewer.id, reviewer.role, state.current_version, "changes_requested",
                                      comment, at))
    return replace(state, status="changes_requested", reviews=reviews, changes_requested_on=state.current_version)


def publish(state: ItemState, actor: Actor, policy: Policy) -> ItemState:
    """Marketing publishes the approved version; reps get it from now on. Anything sales has
    not approved is refused with the approvals still missing."""
    _need_role(actor, "marketing")
    if state.status in ("draft", "in_review", "changes_requested"):
        missing = policy.missing(state.approvals()) if state.status == "in_review" else \
            policy.missing(())
        raise Refused("status", f"sales has not approved version {state.current_version} "
                                f"(the item is {state.status}); missing: {'; '.join(missing)}",
                      conflict=True, missing=missing)
    _need_status(state, "publish", "approved")
    return replace(state, status="published", published_version=state.current_version)


def revise(state: ItemState, actor: Actor, version: int) -> ItemState:
    """Marketing adds a new version. An approved or published item goes back to ``draft``
    (its review starts again); a published version keeps serving reps meanwhile."""
    _need_role(actor, "marketing")
    _need_status(state, "add a version to", "draft", "changes_requested", "approved", "published")
    status: Status = "changes_requested" if state.status == "changes_requested" else "draft"
    return replace(state, status=status, current_version=version)


def withdraw(state: ItemState, actor: Actor) -> ItemState:
    """Marketing pulls an item from the library (reps no longer get it)."""
    _need_role(actor, "marketing")
    if state.status in FINAL:
        raise Refused("status", f"the item is {state.status} already", conflict=True)
    return replace(state, status="withdrawn")


def retire(state: ItemState, actor: Actor) -> ItemState:
    """An item that was published retires (by hand, or by the year's timer as ``system``)."""
    _need_role(actor, "marketing", "system")
    if state.status in FINAL:
        raise Refused("status", f"the item is {state.status} already", conflict=True)
    if state.published_version is None:
        raise Refused("status", "only an item that was published can retire (withdraw a draft)", conflict=True)
    return replace(state, status="retired")


def is_live(status: str, published_version: int | None) -> bool:
    """Whether reps get an item: it has a published version and is neither retired nor withdrawn."""
    return published_version is not None and status not in FINAL
