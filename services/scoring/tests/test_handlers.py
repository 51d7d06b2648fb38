"""Scoring's handlers and rubric commands on the fake unit of work and the in-memory
repositories, driven through the registry the service runs (``lead-captured`` and
``lead-engaged`` subscriptions, the rubric file at start, the grade gauge)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.scoring import handlers
from services.scoring.domain.lifecycle import NotApproved
from services.scoring.domain.rubric import parse_rubric_data
from services.scoring.handlers import ScoringDeps, registry
from services.scoring.metrics import LEADS_BY_GRADE
from services.scoring.repository import VersionExists
from services.scoring.tests.fakes import InMemoryGradedLeads, InMemoryRubrics
from services.scoring.tests.helpers import rubric_dict, rubric_yaml
from shared import testing, topics
from shared.audit import Actor
from shared.events import (
    AuditRecorded,
    Behaviour,
    CollateralViewed,
    Encoded,
    Event,
    LeadCaptured,
    LeadEngaged,
    LeadProfile,
    LeadScored,
    LeadSource,
    RubricActivated,
    derive_event_id,
)
from shared.testing import FakeUnitOfWork, FakeUnits
from shared.topics import TopicSpec

T = datetime(2025, 3, 1, tzinfo=UTC)
MIA = Actor("mkt-1", "Mia", ("marketing",))
SAM = Actor("sls-1", "Sam", ("sales_approver",))
LEAD = Actor("lead-1", "Lee", ("marketing",))


class Scoring:
    """The service's registry over in-memory repositories."""

    def __init__(self, rubric_file: Path) -> None:
        self.leads, self.rubrics = InMemoryGradedLeads(), InMemoryRubrics()
        self.deps = ScoringDeps(leads=self.leads, rubrics=self.rubrics, reasons=3, rubric_file=rubric_file)
        self.registry = registry(self.deps)

    async def start(self) -> FakeUnits:
        return await testing.start(self.registry)

    async def deliver(self, spec: TopicSpec, events: Sequence[Event]) -> FakeUnitOfWork:
        return await testing.deliver(self.registry, spec, events)

    async def captured(self, *events: LeadCaptured) -> FakeUnitOfWork:
        return await self.deliver(topics.LEAD_CAPTURED, events)

    async def engaged(self, *events: LeadEngaged) -> FakeUnitOfWork:
        return await self.deliver(topics.LEAD_ENGAGED, events)


@pytest.fixture
def rubric_file(tmp_path: Path) -> Path:
    path = tmp_path / "rubric.yaml"
    path.write_text(rubric_yaml(rubric_dict()))
    return path


@pytest.fixture
async def scoring(rubric_file: Path) -> Scoring:
    s = Scoring(rubric_file)
    await s.start()
    return s


def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


def capture(lead_id: str = "L1", title: str = "CTO", event_id: str = "c1") -> LeadCaptured:
    return LeadCaptured(event_id=event_id, occurred_at=T, lead_id=lead_id, capture_id=event_id,
                        profile=LeadProfile(email="ann@acme.example", name="Ann", company="Acme", title=title),
                        source=LeadSource.REFERRAL, campaign="webinar-q1", consent=True)


def engage(event_id: str, lead_id: str = "L1", behaviour: Behaviour = Behaviour.EMAIL_REPLY,
           hours: float = 1) -> LeadEngaged:
    return LeadEngaged(event_id=event_id, occurred_at=T + timedelta(hours=hours), lead_id=lead_id,
                       activity_id=event_id, behaviour=behaviour)


async def test_a_capture_emits_a_valid_lead_scored(scoring: Scoring) -> None:
    u = await scoring.captured(capture())
    (encoded,) = u.emitted
    assert isinstance(encoded, Encoded) and encoded.key == b"L1"  # the model's own fast bytes
    event = encoded.decode()  # fully validated on the way back (byte equality: shared/tests)
    assert isinstance(event, LeadScored) and event.event_id == encoded.event_id
    assert event.event_id == derive_event_id("c1", "scored") and event.cause_event_id == "c1"
    assert (event.score, event.grade, event.previous_grade) == (26.0, "C", None)  # CTO 20 + referral 6
    assert event.segment == "unknown-other-row" and event.rubric_version == "t-1"
    assert event.segment_parts == ("unknown", "other", "row")
    assert event.profile.email == "ann@acme.example" and event.campaign == "webinar-q1"
    assert [r.rule for r in event.reasons] == ["fit.title.seniority.exec", "fit.source.referral"]
    assert scoring.leads.saved[-1][0] == "L1" and scoring.leads.locked[-1] == ["L1"]


async def test_engagement_re_scores_with_the_previous_grade(scoring: Scoring) -> None:
    await scoring.captured(capture())
    u = await scoring.engaged(engage("e1", behaviour=Behaviour.WEBINAR_ATTENDED))
    (event,) = u.of(LeadScored)
    assert (event.previous_grade, event.grade) == ("C", "B") and event.cause_event_id == "e1"


async def test_an_engagement_before_capture_is_stored_then_counted(scoring: Scoring) -> None:
    early = await scoring.engaged(engage("e0", behaviour=Behaviour.WEBINAR_ATTENDED, hours=-1))
    assert early.emitted == []
    (event,) = (await scoring.captured(capture())).of(LeadScored)
    # It happened an hour before the capture, which is the "as of" time: a touch of decay.
    assert event.engagement_score == pytest.approx(20, abs=0.05)


async def test_one_batch_grades_each_event_in_order(scoring: Scoring) -> None:
    await scoring.captured(capture())
    u = await scoring.engaged(*[engage(f"e{i}", hours=i + 1) for i in range(4)])
    grades = [(e.previous_grade, e.grade) for e in u.of(LeadScored)]
    assert grades == [("C", "C"), ("C", "C"), ("C", "B"), ("B", "B")]
    assert len(scoring.leads.evidence["L1"]) == 4


async def test_start_activates_the_file_only_when_nothing_is_active(rubric_file: Path) -> None:
    s = Scoring(rubric_file)
    activated, recorded = (await s.start()).events()
    assert isinstance(activated, RubricActivated) and activated.version == "t-1"
    assert isinstance(recorded, AuditRecorded) and recorded.actor == "system:startup:rubric.yaml"
    rubric_file.write_text(rubric_yaml(rubric_dict(version="t-9")))  # noqa: ASYNC240 - a small test file
    assert (await s.start()).events() == []
    assert await s.rubrics.active_version(None) == "t-1"
    assert await handlers.bootstrap(s.deps, uow(), rubric_file) is None


async def test_activation_needs_both_sides_then_grades_new_leads(scoring: Scoring) -> None:
    deps, rubrics = scoring.deps, scoring.rubrics
    doc = rubric_dict(version="t-2", thresholds={"A": 25, "B": 15, "C": 5})
    drafted = uow()
    await handlers.create_draft(deps, drafted, parse_rubric_data(doc), rubric_yaml(doc), MIA)
    with pytest.raises(VersionExists):
        await handlers.create_draft(deps, uow(), parse_rubric_data(doc), rubric_yaml(doc), MIA)
    approvals = [uow(), uow(), uow()]
    await handlers.approve(deps, approvals[0], "t-2", MIA, "marketing")
    await handlers.approve(deps, approvals[1], "t-2", MIA, "marketing")  # twice: nothing new
    with pytest.raises(NotApproved):
        await handlers.activate(deps, uow(), "t-2", LEAD)
    assert await rubrics.active_version(None) == "t-1"
    await handlers.approve(deps, approvals[2], "t-2", SAM, "sales")
    u = uow()
    meta = await handlers.activate(deps, uow=u, version="t-2", who=LEAD)
    assert meta.status == "active" and rubrics.versions["t-1"].meta.status == "retired"
    (activated,) = u.of(RubricActivated)
    # the audit trail: who drafted, who signed for which side, who activated
    trail = [e for w in (drafted, *approvals, u) for e in w.of(AuditRecorded)]
    assert [(e.action, e.actor, e.actor_name, e.details.get("side")) for e in trail] == [
        ("rubric.drafted", "mkt-1", "Mia", None), ("rubric.approved", "mkt-1", "Mia", "marketing"),
        ("rubric.approved", "sls-1", "Sam", "sales"), ("rubric.activated", "lead-1", "Lee", None)]
    assert trail[-1].changes[0].before == "approved" and trail[-1].details["previous_version"] == "t-1"
    assert (activated.version, activated.previous_version) == ("t-2", "t-1")
    assert {(a.approver, a.side) for a in activated.approvals} == {("mkt-1", "marketing"), ("sls-1", "sales")}
    (event,) = (await scoring.captured(capture("L2", event_id="c2"))).of(LeadScored)
    assert event.rubric_version == "t-2" and event.grade == "A"
    history, activations = await handlers.rubric_history(deps, uow())
    assert [s.meta.version for s in history] == ["t-1", "t-2"]
    assert [(a["version"], a["previous_version"]) for a in activations] == [("t-1", None), ("t-2", "t-1")]


async def test_unknown_rubrics_and_leads_are_refused_by_name(scoring: Scoring) -> None:
    with pytest.raises(handlers.UnknownRubric):
        await handlers.approve(scoring.deps, uow(), "nope", MIA, "marketing")
    with pytest.raises(handlers.UnknownRubric):
        await handlers.rubric(scoring.deps, uow(), "nope")
    assert (await handlers.rubric(scoring.deps, uow(), None)).meta.version == "t-1"
    await scoring.engaged(engage("e0", lead_id="L9"))
    with pytest.raises(handlers.UnknownLead) as unknown:
        await handlers.score_view(scoring.deps, uow(), "L9")
    assert unknown.value.pending is True


async def test_the_grade_gauge_job_counts_leads_per_grade_and_source(scoring: Scoring) -> None:
    await scoring.captured(capture("L1", event_id="c1"), capture("L2", event_id="c2"),
                           capture("L3", title="Intern", event_id="c3"))
    await testing.run_job(scoring.registry, "grade-gauge")
    assert LEADS_BY_GRADE.labels("C", "referral")._value.get() == 2
    assert LEADS_BY_GRADE.labels("D", "referral")._value.get() == 1


def test_the_handlers_load_without_a_broker_or_database_client() -> None:
    # A fresh interpreter: this test process may have imported the drivers for other tests.
    code = ("import sys, services.scoring.handlers; "
            "print(sorted(m for m in ('aiokafka', 'asyncpg', 'fastapi') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_a_lead_opening_shared_collateral_is_a_content_download_that_re_grades_it(tmp_path: Path) -> None:
    path = tmp_path / "rubric.yaml"
    path.write_text(rubric_yaml(rubric_dict(engagement__content_download={"points": 20})))
    scoring = Scoring(path)
    await scoring.start()
    await scoring.captured(capture())
    view = CollateralViewed(event_id="v1", occurred_at=T + timedelta(hours=1), lead_id="L1", view_id="view-1",
                            share_id="s1", item_id="i1", version=2, rep_id="rex")
    u = await scoring.deliver(topics.COLLATERAL_VIEWED, [view])
    (event,) = u.of(LeadScored)
    assert (event.previous_grade, event.grade, event.cause_event_id) == ("C", "B", "v1")
    assert event.engagement_score == pytest.approx(20, abs=0.05)
    again = await scoring.deliver(topics.COLLATERAL_VIEWED, [view])  # the same view redelivered: one download
    assert again.of(LeadScored)[0].engagement_score == pytest.approx(20, abs=0.05)
