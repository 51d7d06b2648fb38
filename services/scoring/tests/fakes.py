"""In-memory twins of :class:`services.scoring.repository.GradedLeadRepository` and
:class:`services.scoring.repository.RubricRepository` for the handlers' unit tests: the
same answers, no database (``conn`` is ignored).

They keep copies, as a database would: what a handler holds is not what is stored."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

from services.scoring.domain.lead import LeadState
from services.scoring.domain.lifecycle import RubricVersion
from services.scoring.domain.scoring import Evidence, ScoreResult
from services.scoring.repository import GRADE_GROUPINGS, LatestGrade, Row, StoredRubric, VersionExists
from shared.events import GRADES


class InMemoryGradedLeads:
    """Implements ``GradedLeadStore``."""

    def __init__(self) -> None:
        self.rows: dict[str, LeadState] = {}
        self.evidence: dict[str, dict[str, Evidence]] = {}
        self.saved: list[tuple[str, ScoreResult, str]] = []
        self.locked: list[list[str]] = []

    async def lock(self, conn: Any, lead_ids: Iterable[str]) -> None:
        self.locked.append(sorted(set(lead_ids)))

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

    async def save(self, conn: Any, graded: Sequence[LatestGrade], *, facts_changed: bool = True) -> None:
        for state, result, cause in graded:
            stored = copy.deepcopy(state)
            stored.evidence = {}
            self.rows[state.lead_id] = stored
            self.saved.append((state.lead_id, result, cause))

    def _column(self, state: LeadState, by: str) -> str | None:
        assert state.result is not None
        return {"campaign": state.campaign, "source": str(state.source) if state.source else None,
                "segment": state.result.segment, "rubric_version": state.result.rubric_version}[by]

    async def grade_counts(self, conn: Any, by: str | None = None, *, campaign: str | None = None,
                           source: str | None = None, segment: str | None = None) -> dict[str | None, dict[str, int]]:
        if by is not None and by not in GRADE_GROUPINGS:
            raise ValueError(f"cannot group grades by {by!r}")
        table: dict[str | None, dict[str, int]] = {}
        for state in self.rows.values():
            if state.result is None or any(want is not None and self._column(state, col) != want for col, want in
                                           (("campaign", campaign), ("source", source), ("segment", segment))):
                continue
            key = self._column(state, by) if by else None
            table.setdefault(key, dict.fromkeys(GRADES, 0))[state.result.grade] += 1
        return dict(sorted(table.items(), key=lambda kv: (kv[0] is None, kv[0] or "")))

    async def score_view(self, conn: Any, lead_id: str) -> Row | None:
        state = self.rows.get(lead_id)
        if state is None or state.result is None:
            return None
        r = state.result
        return {"lead_id": lead_id, "score": r.score, "grade": r.grade, "segment": r.segment,
                "rubric_version": r.rubric_version, "campaign": state.campaign}

    async def has_evidence(self, conn: Any, lead_id: str) -> bool:
        return bool(self.evidence.get(lead_id))


class InMemoryRubrics:
    """Implements ``RubricStore``; like the table, it refuses two active versions."""

    def __init__(self) -> None:
        self.versions: dict[str, StoredRubric] = {}
        self.activation_log: list[tuple[str, str | None]] = []

    async def lock(self, conn: Any) -> None:
        pass

    async def active_version(self, conn: Any) -> str | None:
        active = await self.active(conn)
        return active.meta.version if active else None

    async def get(self, conn: Any, version: str) -> StoredRubric | None:
        return self.versions.get(version)

    async def active(self, conn: Any) -> StoredRubric | None:
        return next((s for s in self.versions.values() if s.meta.status == "active"), None)

    async def history(self, conn: Any) -> list[StoredRubric]:
        return sorted(self.versions.values(), key=lambda s: (s.meta.created_at, s.meta.version))

    async def activations(self, conn: Any) -> list[Row]:
        return [{"version": v, "previous_version": p, "activated_by": self.versions[v].meta.activated_by,
                 "activated_at": self.versions[v].meta.activated_at} for v, p in self.activation_log]

    async def insert(self, conn: Any, meta: RubricVersion, document: str, description: str) -> None:
        if meta.version in self.versions:
            raise VersionExists(meta.version)
        self.versions[meta.version] = StoredRubric(meta, document, description)

    async def save_state(self, conn: Any, meta: RubricVersion) -> None:
        old = self.versions[meta.version]
        if meta.status == "active" and any(s.meta.status == "active" for v, s in self.versions.items()
                                           if v != meta.version):
            raise RuntimeError("two active rubric versions (the table's unique index refuses it)")
        self.versions[meta.version] = StoredRubric(meta, old.document, old.description)

    async def record_activation(self, conn: Any, meta: RubricVersion, previous: str | None) -> None:
        self.activation_log.append((meta.version, previous))
