"""The funnel's steps: forward only, late corrections, the steps each type has."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.nurture.domain.campaigns import CampaignDraft, EventDetails, InvalidCampaign, define, to_minor
from services.nurture.domain.funnel import (
    BackwardMove,
    StepNotInCampaign,
    funnel,
    requested,
    step,
    step_for_activity,
    step_for_capture,
)
from shared.events import Behaviour, CampaignType, LeadSource, MemberStatus

S = MemberStatus
W = CampaignType.WEBINAR


def test_a_webinar_member_moves_forward_with_each_step_stamped() -> None:
    assert step(W, None, S.INVITED).stamps == (S.INVITED,)
    assert step(W, S.INVITED, S.REGISTERED).status is S.REGISTERED
    assert step(W, S.REGISTERED, S.NO_SHOW).status is S.NO_SHOW
    late = step(W, S.NO_SHOW, S.ATTENDED)
    assert (late.status, late.clear) == (S.ATTENDED, S.NO_SHOW)
    assert not step(W, S.ATTENDED, S.ATTENDED).changed  # the same report twice: nothing
    won = step(W, S.FOLLOWED_UP, S.WON)
    assert (won.status, won.stamps) == (S.WON, (S.WON, S.OPPORTUNITY))  # a won deal was an opportunity


def test_late_news_of_a_passed_step_only_fills_in_its_moment() -> None:
    late = step(W, S.ATTENDED, S.REGISTERED)
    assert (late.status, late.stamps, late.backward) == (None, (S.REGISTERED,), True)
    # a no-show mark for someone who attended (or is further) changes nothing at all
    assert step(W, S.ATTENDED, S.NO_SHOW).stamps == ()
    assert step(W, S.FOLLOWED_UP, S.NO_SHOW).stamps == ()


def test_a_person_cannot_move_a_member_back() -> None:
    with pytest.raises(BackwardMove, match="'attended' cannot move back to 'registered'"):
        requested(W, S.ATTENDED, S.REGISTERED)
    with pytest.raises(BackwardMove):
        requested(W, S.WON, S.LOST)
    assert requested(W, S.NO_SHOW, S.ATTENDED).status is S.ATTENDED
    assert requested(W, S.LOST, S.WON).status is S.WON


def test_each_type_has_its_own_first_steps() -> None:
    assert funnel(W) == (S.INVITED, S.REGISTERED, S.ATTENDED, S.FOLLOWED_UP, S.OPPORTUNITY, S.WON)
    assert funnel(CampaignType.TRADE_SHOW)[2] is S.VISITED
    assert funnel(CampaignType.AD) == (S.FOLLOWED_UP, S.OPPORTUNITY, S.WON)
    with pytest.raises(StepNotInCampaign, match="ad campaign has no step 'attended'"):
        step(CampaignType.AD, None, S.ATTENDED)
    assert step_for_activity(W, Behaviour.WEBINAR_ATTENDED) is S.ATTENDED
    assert step_for_activity(CampaignType.AD, Behaviour.WEBINAR_ATTENDED) is S.JOINED
    assert step_for_capture(CampaignType.TRADE_SHOW, LeadSource.BADGE_SCAN) is S.SCANNED
    assert step_for_capture(CampaignType.EMAIL, LeadSource.WEB_FORM) is S.JOINED


def draft(**kw: object) -> CampaignDraft:
    base: dict[str, object] = dict(
        campaign_id="webinar-q4", name="Q4", type=W, owner="mo", starts_at=datetime(2026, 11, 1, tzinfo=UTC),
        ends_at=datetime(2026, 12, 31, tzinfo=UTC), cost=Decimal("12500.50"), currency="EUR", goal="2 clients",
        event=EventDetails(datetime(2026, 12, 10, 16), datetime(2026, 12, 10, 17), "Europe/Berlin"))
    return CampaignDraft(**{**base, **kw})  # type: ignore[arg-type]


def test_a_campaign_definition_is_checked_and_its_event_held_in_its_zone() -> None:
    defined = define(draft())
    assert defined.cost_minor == 1_250_050
    assert defined.event_starts_at == datetime(2026, 12, 10, 15, tzinfo=UTC)  # 16:00 in Berlin is 15:00 UTC
    cases = [
        ({"campaign_id": "Has Spaces"}, "campaign_id"),
        ({"ends_at": datetime(2026, 10, 1, tzinfo=UTC)}, "ends_at"),
        ({"cost": Decimal("1.001")}, "cost"),
        ({"event": None}, "event"),
        ({"type": CampaignType.AD}, "event"),
        ({"event": EventDetails(datetime(2026, 12, 10, 16), datetime(2026, 12, 10, 17), "Mars/Olympus")},
         "event.time_zone"),
        ({"event": EventDetails(datetime(2026, 12, 10, 16), datetime(2026, 12, 10, 15), "UTC")}, "event.ends_at"),
    ]
    for change, field in cases:
        with pytest.raises(InvalidCampaign) as caught:
            define(draft(**change))
        assert caught.value.field == field, change
    assert to_minor(Decimal("1000"), "JPY", "cost") == 1000
