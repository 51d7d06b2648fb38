"""The collateral lifecycle as a pure state machine."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from services.content.domain import lifecycle
from services.content.domain.lifecycle import Actor, ItemState, Policy, Refused, Reviewer

NOW = datetime(2026, 6, 1, tzinfo=UTC)
POLICY = Policy({"field_rep": 1, "sales_manager": 1})
MARKETING = Actor("mia", "marketing")
REP, MANAGER = Actor("rex", "field_rep"), Actor("sam", "sales_manager")
REVIEWERS = [Reviewer("rex", "field_rep"), Reviewer("sam", "sales_manager")]


def in_review(version: int = 1) -> ItemState:
    return lifecycle.submit(ItemState("draft", current_version=version), MARKETING, REVIEWERS, POLICY)


def test_a_draft_goes_to_review_approved_by_the_policy_then_published() -> None:
    state = in_review()
    assert state.status == "in_review" and state.reviewers == tuple(REVIEWERS)
    state = lifecycle.approve(state, REP, POLICY, NOW)
    assert state.status == "in_review"  # the manager has not approved yet
    assert POLICY.missing(state.approvals()) == ["sales_manager: 1 more approval"]
    state = lifecycle.approve(state, MANAGER, POLICY, NOW)
    assert state.status == "approved"
    state = lifecycle.publish(state, MARKETING, POLICY)
    assert (state.status, state.published_version) == ("published", 1)
    assert lifecycle.is_live(state.status, state.published_version)
    state = lifecycle.retire(state, Actor("timer", "system"))
    assert state.status == "retired" and not lifecycle.is_live(state.status, state.published_version)


def test_publishing_what_sales_has_not_approved_is_refused_naming_the_missing_approvals() -> None:
    state = lifecycle.approve(in_review(), REP, POLICY, NOW)
    with pytest.raises(Refused) as refused:
        lifecycle.publish(state, MARKETING, POLICY)
    assert refused.value.conflict and refused.value.missing == ["sales_manager: 1 more approval"]
    with pytest.raises(Refused) as refused:
        lifecycle.publish(ItemState("draft", current_version=1), MARKETING, POLICY)
    assert refused.value.missing == ["field_rep: 1 more approval", "sales_manager: 1 more approval"]


def test_a_request_for_changes_is_tied_to_its_version_and_answered_only_by_a_newer_one() -> None:
    state = lifecycle.request_changes(in_review(), MANAGER, "Use the 2026 figures", NOW)
    assert (state.status, state.changes_requested_on) == ("changes_requested", 1)
    assert state.reviews[-1].version == 1 and state.reviews[-1].comment == "Use the 2026 figures"
    with pytest.raises(Refused) as refused:
        lifecycle.submit(state, MARKETING, REVIEWERS, POLICY)
    assert refused.value.field == "version"
    state = lifecycle.revise(state, MARKETING, 2)
    state = lifecycle.submit(state, MARKETING, REVIEWERS, POLICY)
    assert (state.status, state.current_version, state.approvals()) == ("in_review", 2, [])


def test_approvals_of_an_older_version_do_not_count() -> None:
    state = lifecycle.approve(in_review(), REP, POLICY, NOW)
    state = lifecycle.request_changes(state, MANAGER, "typo on page 2", NOW)
    state = lifecycle.submit(lifecycle.revise(state, MARKETING, 2), MARKETING, REVIEWERS, POLICY)
    state = lifecycle.approve(state, MANAGER, POLICY, NOW)
    assert state.status == "in_review"
    assert POLICY.missing(state.approvals()) == ["field_rep: 1 more approval"]


def test_only_named_reviewers_in_their_role_decide_and_only_marketing_submits_and_publishes() -> None:
    state = in_review()
    for actor in (Actor("someone", "field_rep"), Actor("rex", "sales_manager")):
        with pytest.raises(Refused) as refused:
            lifecycle.approve(state, actor, POLICY, NOW)
        assert refused.value.forbidden and refused.value.field == "actor.id"
    with pytest.raises(Refused) as refused:
        lifecycle.submit(ItemState("draft", current_version=1), REP, REVIEWERS, POLICY)
    assert refused.value.forbidden and refused.value.field == "actor.role"
    with pytest.raises(Refused):
        lifecycle.approve(lifecycle.approve(state, REP, POLICY, NOW), REP, POLICY, NOW)  # twice


def test_reviewers_must_be_able_to_meet_the_policy_and_be_sales() -> None:
    draft = ItemState("draft", current_version=1)
    with pytest.raises(Refused) as refused:
        lifecycle.submit(draft, MARKETING, [Reviewer("rex", "field_rep")], POLICY)
    assert refused.value.field == "reviewers" and "sales_manager" in refused.value.reason
    with pytest.raises(Refused):
        lifecycle.submit(draft, MARKETING, [*REVIEWERS, Reviewer("mia", "marketing")], POLICY)
    with pytest.raises(Refused) as refused:
        lifecycle.submit(ItemState("draft"), MARKETING, REVIEWERS, POLICY)
    assert refused.value.field == "version"


def test_bad_transitions_are_conflicts() -> None:
    for state, act in [(ItemState("draft", current_version=1), lambda s: lifecycle.approve(s, REP, POLICY, NOW)),
                       (ItemState("draft", current_version=1), lambda s: lifecycle.retire(s, MARKETING)),
                       (ItemState("retired", 1, 1), lambda s: lifecycle.withdraw(s, MARKETING)),
                       (in_review(), lambda s: lifecycle.revise(s, MARKETING, 2)),
                       (ItemState("withdrawn", 1), lambda s: lifecycle.submit(s, MARKETING, REVIEWERS, POLICY))]:
        with pytest.raises(Refused) as refused:
            act(state)
        assert refused.value.conflict, state


def test_a_new_version_of_a_published_item_goes_back_to_draft_while_the_published_one_stays() -> None:
    published = ItemState("published", current_version=1, published_version=1)
    revised = lifecycle.revise(published, MARKETING, 2)
    assert (revised.status, revised.current_version, revised.published_version) == ("draft", 2, 1)
    assert lifecycle.is_live(revised.status, revised.published_version)
    assert lifecycle.withdraw(revised, MARKETING).status == "withdrawn"


def test_the_policy_is_data() -> None:
    two_reps = Policy({"field_rep": 2})
    reviewers = [Reviewer("a", "field_rep"), Reviewer("b", "field_rep")]
    state = lifecycle.submit(ItemState("draft", current_version=1), MARKETING, reviewers, two_reps)
    state = lifecycle.approve(state, Actor("a", "field_rep"), two_reps, NOW)
    assert two_reps.missing(state.approvals()) == ["field_rep: 1 more approval"]
    assert lifecycle.approve(state, Actor("b", "field_rep"), two_reps, NOW).status == "approved"


def _step(state: ItemState, action: str, actor: Actor, version: int) -> ItemState:
    match action:
        case "submit":
            return lifecycle.submit(state, actor, REVIEWERS, POLICY)
        case "approve":
            return lifecycle.approve(state, actor, POLICY, NOW)
        case "request_changes":
            return lifecycle.request_changes(state, actor, "change it", NOW)
        case "publish":
            return lifecycle.publish(state, actor, POLICY)
        case "revise":
            return lifecycle.revise(state, actor, version)
        case "withdraw":
            return lifecycle.withdraw(state, actor)
        case _:
            return lifecycle.retire(state, actor)


SYSTEM = Actor("timer", "system")
# The moves people make, the usual ones several times over (so sequences reach publication),
# and moves by the wrong person or at the wrong time.
MOVES = [("revise", MARKETING)] * 8 + [("submit", MARKETING)] * 8 + [("approve", REP)] * 8 + \
    [("approve", MANAGER)] * 8 + [("publish", MARKETING)] * 8 + [
    ("request_changes", MANAGER), ("request_changes", REP), ("publish", REP), ("publish", MANAGER),
    ("approve", Actor("ria", "inside_rep")), ("approve", MARKETING), ("submit", REP), ("retire", SYSTEM),
    ("retire", REP), ("withdraw", MARKETING), ("withdraw", MANAGER), ("revise", REP)]


@given(st.lists(st.sampled_from(MOVES), min_size=10, max_size=40))
@settings(max_examples=300, deadline=None)
def test_whatever_is_tried_nothing_is_published_without_the_policys_approvals_of_that_version(
        steps: list[tuple[str, Actor]]) -> None:
    state, version = ItemState("draft"), 0
    for action, actor in steps:
        if action == "revise":
            version += 1
        try:
            new = _step(state, action, actor, version)
        except Refused:
            continue
        if new.status == "published" and state.status != "published":
            approved = [r for r in new.reviews if r.decision == "approved" and r.version == new.published_version]
            assert not POLICY.missing(approved), new
            assert actor.role == "marketing"
        if new.status in ("in_review", "approved") and new.changes_requested_on is not None:
            assert new.current_version is not None and new.current_version > new.changes_requested_on
        event(f"reached {new.status}")
        if state.status in lifecycle.FINAL:
            pytest.fail(f"{action} by {actor} changed a {state.status} item")
        state = new
