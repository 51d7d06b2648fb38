"""draft → approved (marketing AND sales) → active; one active; history kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.scoring.domain.lifecycle import (
    LifecycleError,
    NotApproved,
    activate,
    approve,
    bootstrap_active,
    new_draft,
)

T = datetime(2025, 5, 1, tzinfo=UTC)


def test_a_new_draft_needs_both_sides() -> None:
    draft = new_draft("v2", T, "mia")
    assert draft.status == "draft" and draft.missing_sides == ["marketing", "sales"]


def test_one_side_is_not_enough() -> None:
    draft = approve(new_draft("v2", T), "mia", "marketing", T)
    assert draft.status == "draft" and draft.missing_sides == ["sales"]
    with pytest.raises(NotApproved) as info:
        activate(draft, None, T)
    assert info.value.missing == ["sales"]


def test_two_marketing_approvers_are_still_not_enough() -> None:
    draft = approve(approve(new_draft("v2", T), "mia", "marketing", T), "max", "marketing", T)
    with pytest.raises(NotApproved):
        activate(draft, None, T)


def test_both_sides_approve_then_it_activates_and_retires_the_old_one() -> None:
    old = bootstrap_active("v1", T, "startup:rubric.yaml")
    draft = approve(approve(new_draft("v2", T), "mia", "marketing", T), "sam", "sales", T + timedelta(hours=1))
    assert draft.status == "approved" and [a.approver for a in draft.approvals] == ["mia", "sam"]
    now = T + timedelta(days=1)
    active, retired = activate(draft, old, now, "lead")
    assert active.status == "active" and active.activated_at == now and active.activated_by == "lead"
    assert retired is not None and retired.status == "retired" and retired.retired_at == now
    assert retired.version == "v1"


def test_one_person_cannot_approve_for_both_sides() -> None:
    draft = approve(new_draft("v2", T), "mia", "marketing", T)
    with pytest.raises(LifecycleError, match="someone else"):
        approve(draft, "mia", "sales", T)


def test_approving_twice_is_idempotent() -> None:
    draft = approve(new_draft("v2", T), "mia", "marketing", T)
    assert approve(draft, "mia", "marketing", T + timedelta(hours=2)) == draft


def test_an_empty_approver_is_refused() -> None:
    with pytest.raises(LifecycleError):
        approve(new_draft("v2", T), "  ", "sales", T)


def test_active_and_retired_versions_take_no_more_approvals() -> None:
    active = bootstrap_active("v1", T, "startup")
    with pytest.raises(LifecycleError):
        approve(active, "sam", "sales", T)


def test_activating_the_active_version_changes_nothing() -> None:
    active = bootstrap_active("v1", T, "startup")
    assert activate(active, active, T + timedelta(days=1)) == (active, None)


def test_a_retired_approved_version_can_be_activated_again() -> None:
    v2 = approve(approve(new_draft("v2", T), "mia", "marketing", T), "sam", "sales", T)
    v2_active, _ = activate(v2, None, T)
    v3 = approve(approve(new_draft("v3", T), "mia", "marketing", T), "sam", "sales", T)
    _, v2_retired = activate(v3, v2_active, T + timedelta(days=1))
    assert v2_retired is not None
    again, _ = activate(v2_retired, None, T + timedelta(days=2))
    assert again.status == "active" and again.retired_at is None
