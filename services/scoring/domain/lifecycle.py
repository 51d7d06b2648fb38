"""Agreement is part of the model: a rubric version goes draft → approved (at least one
marketing approver AND one sales approver, two different people) → active. Exactly one
version is active; activating another retires it. Nothing is deleted: the history of
versions, approvers and times stays visible. A retired version that was approved may
be activated again (a rollback)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

Side = Literal["marketing", "sales"]
Status = Literal["draft", "approved", "active", "retired"]
SIDES: tuple[Side, ...] = ("marketing", "sales")


class LifecycleError(Exception):
    """A transition the rubric workflow does not allow."""


class NotApproved(LifecycleError):
    """Activation without approval from both sides."""

    def __init__(self, version: str, missing: list[Side]) -> None:
        self.missing = missing
        super().__init__(f"rubric {version} needs approval by {' and '.join(missing)} before it can be activated")


@dataclass(frozen=True, slots=True)
class Approval:
    approver: str
    side: Side
    approved_at: datetime


@dataclass(frozen=True, slots=True)
class RubricVersion:
    version: str
    status: Status
    created_at: datetime
    created_by: str = ""
    approvals: tuple[Approval, ...] = ()
    activated_at: datetime | None = None
    activated_by: str | None = None
    retired_at: datetime | None = None

    @property
    def missing_sides(self) -> list[Side]:
        have = {a.side for a in self.approvals}
        return [s for s in SIDES if s not in have]


def new_draft(version: str, at: datetime, created_by: str = "") -> RubricVersion:
    return RubricVersion(version=version, status="draft", created_at=at, created_by=created_by)


def approve(rv: RubricVersion, approver: str, side: Side, at: datetime) -> RubricVersion:
    """Record an approval. Approving twice is a no-op; one person cannot approve for
    both sides (the point is that two teams agreed)."""
    approver = approver.strip()
    if not approver:
        raise LifecycleError("approver must not be empty")
    if rv.status in ("active", "retired"):
        raise LifecycleError(f"rubric {rv.version} is {rv.status}; approvals are for drafts")
    if any(a.approver == approver and a.side == side for a in rv.approvals):
        return rv
    other = [a for a in rv.approvals if a.approver == approver and a.side != side]
    if other:
        raise LifecycleError(f"{approver} already approved rubric {rv.version} for {other[0].side}; "
                             f"{side} approval must come from someone else")
    approvals = (*rv.approvals, Approval(approver, side, at))
    status: Status = "approved" if {a.side for a in approvals} >= set(SIDES) else "draft"
    return replace(rv, approvals=approvals, status=status)


def activate(rv: RubricVersion, current: RubricVersion | None, at: datetime,
             by: str = "") -> tuple[RubricVersion, RubricVersion | None]:
    """Make ``rv`` the active version; returns it and the version it retires (if any)."""
    if rv.status == "active":
        return rv, None
    missing = rv.missing_sides
    if missing:
        raise NotApproved(rv.version, missing)
    retired = None
    if current is not None and current.version != rv.version:
        retired = replace(current, status="retired", retired_at=at)
    return replace(rv, status="active", activated_at=at, activated_by=by or None, retired_at=None), retired


def bootstrap_active(version: str, at: datetime, origin: str) -> RubricVersion:
    """The repository's rubric file made active because no version is active yet (a
    fresh install). It was agreed through code review, not through this workflow;
    ``activated_by`` records where it came from."""
    return RubricVersion(version=version, status="active", created_at=at, created_by=origin,
                         activated_at=at, activated_by=origin)
