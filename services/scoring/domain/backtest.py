"""Backtesting a draft rubric: grade the same leads under the baseline and the draft and
compare grade distributions, the leads that change grade and, where outcomes are
known, the win rate per grade under each."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.scoring.domain.lead import LeadState
from services.scoring.domain.rubric import CompiledRubric
from services.scoring.domain.scoring import ScoreResult, score_lead
from shared.events import GRADES, Grade


@dataclass(frozen=True, slots=True)
class GradeChange:
    lead_id: str
    before: Grade
    after: Grade
    score_before: float
    score_after: float


@dataclass(frozen=True, slots=True)
class WinRate:
    won: int
    known: int

    @property
    def rate(self) -> float | None:
        return self.won / self.known if self.known else None


@dataclass
class Backtest:
    baseline_version: str
    draft_version: str
    before: dict[str, ScoreResult]
    after: dict[str, ScoreResult]

    def distribution(self, which: str) -> dict[Grade, int]:
        results = self.before if which == "before" else self.after
        counts = Counter(r.grade for r in results.values())
        return {g: counts.get(g, 0) for g in GRADES}

    def changes(self) -> list[GradeChange]:
        out = [GradeChange(lead_id, b.grade, self.after[lead_id].grade, b.score, self.after[lead_id].score)
               for lead_id, b in self.before.items() if b.grade != self.after[lead_id].grade]
        return sorted(out, key=lambda c: (c.before, c.after, c.lead_id))

    def transitions(self) -> Counter[tuple[Grade, Grade]]:
        return Counter((c.before, c.after) for c in self.changes())

    def win_rates(self, outcomes: Mapping[str, bool], which: str) -> dict[Grade, WinRate]:
        results = self.before if which == "before" else self.after
        won: Counter[Grade] = Counter()
        known: Counter[Grade] = Counter()
        for lead_id, is_won in outcomes.items():
            result = results.get(lead_id)
            if result is None:
                continue
            known[result.grade] += 1
            won[result.grade] += int(is_won)
        return {g: WinRate(won[g], known[g]) for g in GRADES}


def run_backtest(leads: Iterable[LeadState], baseline: CompiledRubric, draft: CompiledRubric) -> Backtest:
    """Grade every captured lead under both rubrics as of its latest activity."""
    before: dict[str, ScoreResult] = {}
    after: dict[str, ScoreResult] = {}
    for state in leads:
        if state.facts is None:
            continue
        evidence = list(state.evidence.values())
        before[state.lead_id] = score_lead(baseline, state.facts, evidence)
        after[state.lead_id] = score_lead(draft, state.facts, evidence)
    return Backtest(baseline.version, draft.version, before, after)
