"""The handlers and rubric commands against in-memory fakes of the repositories."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from services.scoring.domain.lead import LeadState
from services.scoring.domain.lifecycle import NotApproved, RubricVersion
from services.scoring.domain.scoring import Evidence, ScoreResult
from services.scoring.handlers import ScoringHandlers
from services.scoring.repository import Leads, Rubrics, StoredRubric, VersionExists
from services.scoring.tests.helpers import rubric_dict, rubric_yaml
from shared import codec
from shared.codec import Encoded
from shared.events import (
    Behaviour,
    LeadCaptured,
    LeadEngaged,
    LeadProfile,
    LeadScored,
    LeadSource,
    RubricActivated,
    derive_event_id,
)
from shared.handling import UnitOfWork

T = datetime(2025, 3, 1, tzinfo=UTC)


class FakeLeads:
    """Keeps copies, as a database would: what a handler holds is not what is stored."""

    def __init__(self) -> None:
        self.rows: dict[str, LeadState] = {}
        self.evidence: dict[str, dict[str, Evidence]] = {}
        self.saved: list[tuple[str, ScoreResult, str]] = []

    async def lock(self, conn: Any, lead_ids: Iterable[str]) -> None:
        pass

    async def load(self, conn: Any, lead_ids: Sequence[str]) -> dict[str, LeadState]:
        out = {}
        for lead_id in set(lead_ids):
            state = copy.deepcopy(self.rows.get(lead_id)) or LeadState(lead_id)
            state.evidence = dict(self.evidence.get(lead_id, {}))
            if state.facts is not None or state.evidence:
                out[lead_id] = state
        return out

    async def add_evidence(self, conn: Any, rows: Sequence[tuple[str, Evidence, str | None]]) -> None:
        for lead_id, e, _ in rows:
            self.evidence.setdefault(lead_id, {}).setdefault(e.event_id, e)

    async def save(self, conn: Any, graded: Sequence[tuple[LeadState, ScoreResult, str]], *,
                   facts_changed: bool = True) -> None:
        for state, result, cause in graded:
            stored = copy.deepcopy(state)
            stored.evidence = {}
            self.rows[state.lead_id] = stored
            self.saved.append((state.lead_id, result, cause))


class FakeRubrics:
    def __init__(self) -> None:
        self.versions: dict[str, StoredRubric] = {}
        self.activations: list[tuple[str, str | None]] = []

    async def lock(self, conn: Any) -> None:
        pass

    async def active_version(self, conn: Any) -> str | None:
        active = await self.active(conn)
        return active.meta.version if active else None

    async def get(self, conn: Any, version: str) -> StoredRubric | None:
        return self.versions.get(version)

    async def active(self, conn: Any) -> StoredRubric | None:
        return next((s for s in self.versions.values() if s.meta.status == "active"), None)

    async def insert(self, conn: Any, meta: RubricVersion, document: str, description: str) -> None:
        if meta.version in self.versions:
            raise VersionExists(meta.version)
        self.versions[meta.version] = StoredRubric(meta, document, description)

    async def save_state(self, conn: Any, meta: RubricVersion) -> None:
        old = self.versions[meta.version]
        if meta.status == "active":
            assert all(s.meta.status != "active" for v, s in self.versions.items() if v != meta.version)
        self.versions[meta.version] = StoredRubric(meta, old.document, old.description)

    async def record_activation(self, conn: Any, meta: RubricVersion, previous: str | None) -> None:
        self.activations.append((meta.version, previous))


@pytest.fixture
def fakes(tmp_path: Path) -> tuple[ScoringHandlers, FakeLeads, FakeRubrics, Path]:
    leads, rubrics = FakeLeads(), FakeRubrics()
    handlers = ScoringHandlers(cast(Leads, leads), cast(Rubrics, rubrics), reasons=3)
    path = tmp_path / "rubric.yaml"
    path.write_text(rubric_yaml(rubric_dict()))
    return handlers, leads, rubrics, path


def uow() -> UnitOfWork:
    return UnitOfWork(cast(Any, object()))


def capture(lead_id: str = "L1", title: str = "CTO", event_id: str = "c1") -> LeadCaptured:
    return LeadCaptured(event_id=event_id, occurred_at=T, lead_id=lead_id, capture_id=event_id,
                        profile=LeadProfile(email="ann@acme.example", name="Ann", company="Acme", title=title),
                        source=LeadSource.REFERRAL, campaign="webinar-q1", consent=True)


def engage(event_id: str, lead_id: str = "L1", behaviour: Behaviour = Behaviour.EMAIL_REPLY,
           hours: float = 1) -> LeadEngaged:
    return LeadEngaged(event_id=event_id, occurred_at=T + timedelta(hours=hours), lead_id=lead_id,
                       activity_id=event_id, behaviour=behaviour)


async def test_a_capture_emits_a_valid_lead_scored(fakes: Any) -> None:
    handlers, leads, _, path = fakes
    await handlers.bootstrap(uow(), path)
    u = uow()
    await handlers.on_lead_captured([capture()], u)
    (encoded,) = u.emitted
    assert isinstance(encoded, Encoded) and encoded.key == b"L1"
    event = encoded.decode()  # fully validated on the way back
    assert isinstance(event, LeadScored) and event.event_id == encoded.event_id
    # Byte for byte what pydantic itself writes for the same event.
    assert encoded.value == codec.encode(event)
    assert event.event_id == derive_event_id("c1", "scored") and event.cause_event_id == "c1"
    assert (event.score, event.grade, event.previous_grade) == (26.0, "C", None)  # CTO 20 + referral 6
    assert event.segment == "unknown-other-row" and event.rubric_version == "t-1"
    assert event.profile.email == "ann@acme.example" and event.campaign == "webinar-q1"
    assert [r.rule for r in event.reasons] == ["fit.title.seniority.exec", "fit.source.referral"]
    assert leads.saved[-1][0] == "L1"


async def test_engagement_re_scores_with_the_previous_grade(fakes: Any) -> None:
    handlers, _, _, path = fakes
    await handlers.bootstrap(uow(), path)
    await handlers.on_lead_captured([capture()], uow())
    u = uow()
    await handlers.on_lead_engaged([engage("e1", behaviour=Behaviour.WEBINAR_ATTENDED)], u)
    (event,) = u.events()
    assert isinstance(event, LeadScored)
    assert (event.previous_grade, event.grade) == ("C", "B") and event.cause_event_id == "e1"


async def test_an_engagement_before_capture_is_stored_then_counted(fakes: Any) -> None:
    handlers, _, _, path = fakes
    await handlers.bootstrap(uow(), path)
    early = uow()
    await handlers.on_lead_engaged([engage("e0", behaviour=Behaviour.WEBINAR_ATTENDED, hours=-1)], early)
    assert early.emitted == []
    u = uow()
    await handlers.on_lead_captured([capture()], u)
    (event,) = u.events()
    # It happened an hour before the capture, which is the "as of" time: a touch of decay.
    assert isinstance(event, LeadScored) and event.engagement_score == pytest.approx(20, abs=0.05)


async def test_one_batch_grades_each_event_in_order(fakes: Any) -> None:
    handlers, leads, _, path = fakes
    await handlers.bootstrap(uow(), path)
    await handlers.on_lead_captured([capture()], uow())
    u = uow()
    await handlers.on_lead_engaged([engage(f"e{i}", hours=i + 1) for i in range(4)], u)
    grades = [(e.previous_grade, e.grade) for e in u.events() if isinstance(e, LeadScored)]
    assert grades == [("C", "C"), ("C", "C"), ("C", "B"), ("B", "B")]
    assert len(leads.evidence["L1"]) == 4


async def test_bootstrap_activates_the_file_only_when_nothing_is_active(fakes: Any) -> None:
    handlers, _, rubrics, path = fakes
    u = uow()
    assert await handlers.bootstrap(u, path) == "t-1"
    assert isinstance(u.emitted[0], RubricActivated) and u.emitted[0].version == "t-1"
    path.write_text(rubric_yaml(rubric_dict(version="t-9")))
    assert await handlers.bootstrap(uow(), path) is None
    assert await rubrics.active_version(None) == "t-1"


async def test_activation_needs_both_sides_then_grades_new_leads(fakes: Any) -> None:
    handlers, _, rubrics, path = fakes
    await handlers.bootstrap(uow(), path)
    doc = rubric_dict(version="t-2", thresholds={"A": 25, "B": 15, "C": 5})
    from services.scoring.domain.rubric import parse_rubric_data

    await handlers.create_draft(uow(), parse_rubric_data(doc), rubric_yaml(doc), "mia")
    with pytest.raises(VersionExists):
        await handlers.create_draft(uow(), parse_rubric_data(doc), rubric_yaml(doc), "mia")
    await handlers.approve(uow(), "t-2", "mia", "marketing")
    with pytest.raises(NotApproved):
        await handlers.activate(uow(), "t-2")
    assert await rubrics.active_version(None) == "t-1"
    await handlers.approve(uow(), "t-2", "sam", "sales")
    u = uow()
    meta = await handlers.activate(uow=u, version="t-2", by="lead")
    assert meta.status == "active" and rubrics.versions["t-1"].meta.status == "retired"
    (activated,) = u.emitted
    assert isinstance(activated, RubricActivated)
    assert (activated.version, activated.previous_version) == ("t-2", "t-1")
    assert {(a.approver, a.side) for a in activated.approvals} == {("mia", "marketing"), ("sam", "sales")}
    graded = uow()
    await handlers.on_lead_captured([capture("L2", event_id="c2")], graded)
    (event,) = graded.events()
    assert isinstance(event, LeadScored) and event.rubric_version == "t-2" and event.grade == "A"
