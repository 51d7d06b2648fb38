"""A lead's way through a campaign's funnel, by campaign type, only ever forward.

Every campaign type has its own first steps, then the ones every campaign shares::

    webinar:                invited → registered → attended | no_show
    trade show, event:      invited → registered → visited | scanned
    every type, then:       followed_up → opportunity → lost → won

A lead that enters by any other way (captured or active naming the campaign) starts
at ``joined``. Each step reached keeps the moment it was reached; the member's status
is the furthest step. Two corrections are forward by definition: a late attendance
report moves a no-show to attended (the no-show mark goes), and a lost member who
wins another deal is won. What arrives late for a step already passed (a registration
read after the attendance) only fills in that step's moment. A person asking for a
step back (attended → registered) is refused, naming it."""

from __future__ import annotations

from dataclasses import dataclass

from shared.events import Behaviour, CampaignType, LeadSource, MemberStatus

S = MemberStatus

_RANK: dict[MemberStatus, int] = {
    S.JOINED: 0, S.INVITED: 1, S.REGISTERED: 2, S.ATTENDED: 3, S.NO_SHOW: 3, S.VISITED: 3, S.SCANNED: 3,
    S.FOLLOWED_UP: 4, S.OPPORTUNITY: 5, S.LOST: 6, S.WON: 7,
}

COMMON_STEPS: tuple[MemberStatus, ...] = (S.FOLLOWED_UP, S.OPPORTUNITY, S.WON)
"""The funnel every campaign type ends with (``lost`` is beside ``won``, not in the funnel)."""

FIRST_STEPS: dict[CampaignType, tuple[MemberStatus, ...]] = {
    CampaignType.WEBINAR: (S.INVITED, S.REGISTERED, S.ATTENDED),
    CampaignType.TRADE_SHOW: (S.INVITED, S.REGISTERED, S.VISITED),
    CampaignType.EVENT: (S.INVITED, S.REGISTERED, S.VISITED),
}

_ONLY_FOR: dict[MemberStatus, frozenset[CampaignType]] = {
    S.INVITED: frozenset(FIRST_STEPS), S.REGISTERED: frozenset(FIRST_STEPS),
    S.ATTENDED: frozenset({CampaignType.WEBINAR}), S.NO_SHOW: frozenset({CampaignType.WEBINAR}),
    S.VISITED: frozenset({CampaignType.TRADE_SHOW, CampaignType.EVENT}),
    S.SCANNED: frozenset({CampaignType.TRADE_SHOW, CampaignType.EVENT}),
}


def funnel(campaign_type: CampaignType) -> tuple[MemberStatus, ...]:
    """The steps a report counts for a campaign of this type, in order."""
    return FIRST_STEPS.get(campaign_type, ()) + COMMON_STEPS


def applies(campaign_type: CampaignType, status: MemberStatus) -> bool:
    """Whether campaigns of this type have this step (an ad has no attendance)."""
    allowed = _ONLY_FOR.get(status)
    return allowed is None or campaign_type in allowed


class StepNotInCampaign(ValueError):
    def __init__(self, campaign_type: CampaignType, status: MemberStatus) -> None:
        steps = [s.value for s in (S.JOINED, *funnel(campaign_type), S.NO_SHOW, S.LOST) if applies(campaign_type, s)]
        super().__init__(f"a {campaign_type.value} campaign has no step {status.value!r}; its steps: {steps}")


class BackwardMove(ValueError):
    def __init__(self, current: MemberStatus, wanted: MemberStatus) -> None:
        super().__init__(f"a member at {current.value!r} cannot move back to {wanted.value!r}")
        self.current = current
        self.wanted = wanted


@dataclass(frozen=True)
class Step:
    """What reaching ``reached`` does to a member: ``status`` is its new status (None:
    it stays), ``stamps`` the steps whose moment to keep if not kept yet (a won deal
    was an opportunity too), ``clear`` a step no longer true (the no-show a late
    attendance corrects)."""

    reached: MemberStatus
    status: MemberStatus | None
    stamps: tuple[MemberStatus, ...]
    clear: MemberStatus | None = None
    backward: bool = False

    @property
    def changed(self) -> bool:
        return self.status is not None


IMPLIED: dict[MemberStatus, tuple[MemberStatus, ...]] = {S.WON: (S.OPPORTUNITY,), S.LOST: (S.OPPORTUNITY,)}


def _stamps(reached: MemberStatus) -> tuple[MemberStatus, ...]:
    return (reached, *IMPLIED.get(reached, ()))


def step(campaign_type: CampaignType, current: MemberStatus | None, reached: MemberStatus) -> Step:
    """What a member at ``current`` (None: not a member yet) reaching ``reached`` does.
    Raises :class:`StepNotInCampaign` for a step this type of campaign does not have."""
    if not applies(campaign_type, reached):
        raise StepNotInCampaign(campaign_type, reached)
    if current is None:
        return Step(reached, reached, _stamps(reached))
    if current is reached:
        return Step(reached, None, ())
    if current is S.NO_SHOW and reached is S.ATTENDED:
        return Step(reached, reached, _stamps(reached), clear=S.NO_SHOW)
    if reached is S.NO_SHOW and current is S.ATTENDED:
        return Step(reached, None, (), backward=True)  # they attended: the no-show timer was wrong, not them
    if _RANK[reached] > _RANK[current]:
        return Step(reached, reached, _stamps(reached))
    if reached is S.NO_SHOW:  # already past attendance (followed up, ...): nothing to mark
        return Step(reached, None, (), backward=True)
    # A late report of a step already passed: its moment is still worth keeping.
    return Step(reached, None, _stamps(reached), backward=_RANK[reached] < _RANK[current])


def requested(campaign_type: CampaignType, current: MemberStatus | None, wanted: MemberStatus) -> Step:
    """A person (marketing, a platform's correction) sets a member's step: forward, the
    same again, or no-show → attended; anything backward is :class:`BackwardMove`."""
    decided = step(campaign_type, current, wanted)
    if decided.backward:
        assert current is not None
        raise BackwardMove(current, wanted)
    return decided


BEHAVIOUR_STEP: dict[Behaviour, MemberStatus] = {
    Behaviour.WEBINAR_INVITED: S.INVITED,
    Behaviour.WEBINAR_REGISTERED: S.REGISTERED,
    Behaviour.WEBINAR_ATTENDED: S.ATTENDED,
    Behaviour.EVENT_VISIT: S.VISITED,
}


def step_for_activity(campaign_type: CampaignType, behaviour: Behaviour) -> MemberStatus:
    """The step an activity naming the campaign shows (an invitation, a registration,
    an attendance, a booth visit), or ``joined`` when it shows none this type has."""
    status = BEHAVIOUR_STEP.get(behaviour, S.JOINED)
    return status if applies(campaign_type, status) else S.JOINED


def step_for_capture(campaign_type: CampaignType, source: LeadSource) -> MemberStatus:
    """The step a capture naming the campaign shows: a badge scanned at the stand, a
    registration from the webinar platform, else ``joined``."""
    status = {LeadSource.BADGE_SCAN: S.SCANNED, LeadSource.WEBINAR: S.REGISTERED}.get(source, S.JOINED)
    return status if applies(campaign_type, status) else S.JOINED


STEP_COLUMNS: dict[MemberStatus, str] = {
    S.JOINED: "joined_at", S.INVITED: "invited_at", S.REGISTERED: "registered_at", S.ATTENDED: "attended_at",
    S.NO_SHOW: "no_show_at", S.VISITED: "visited_at", S.SCANNED: "visited_at", S.FOLLOWED_UP: "followed_up_at",
    S.OPPORTUNITY: "opportunity_at", S.WON: "won_at", S.LOST: "lost_at",
}
"""Where each step's moment is kept (a scan is a visit to the stand)."""


@dataclass(frozen=True)
class FunnelStep:
    status: MemberStatus
    members: int
    conversion: float | None  # from the step before (None for the first)


def with_conversion(counts: list[tuple[MemberStatus, int]]) -> list[FunnelStep]:
    """The funnel's steps with the share of the step before that reached each."""
    out: list[FunnelStep] = []
    for i, (status, n) in enumerate(counts):
        before = counts[i - 1][1] if i else None
        out.append(FunnelStep(status, n, None if before is None else (round(n / before, 4) if before else 0.0)))
    return out
