"""The scoring function: facts + evidence + rubric → score, grade, segment and a ledger.

The ledger lists every contribution (rule, points, evidence event, rubric version,
decay factor) and the score IS the sum of the ledger, so every grade can be explained
line by line. Overrides (hot, disqualified) change the grade, never the score; they
are reported as reasons, with their evidence.

Time: engagement decays by each behaviour's half-life as of ``as_of``. By default
``as_of`` is the latest moment the lead is known to have acted (its newest capture or
engagement), so a lead's score is a function of its evidence alone: replaying the same
events in any order gives the same score. Evidence after ``as_of`` has not happened
yet at that moment and is ignored.
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from services.scoring.domain.rubric import CompiledRubric, phrase
from shared.events import Grade

DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class CapturedFacts:
    """What scoring knows about a lead from its captures (the latest capture wins)."""

    lead_id: str
    email: str
    company: str
    title: str
    country: str
    company_size: int | None
    industry: str | None
    source: str
    consent: bool
    capture_event_id: str
    captured_ts: float


# Evidence and Contribution are NamedTuples rather than frozen dataclasses: a busy lead
# creates thousands of them per second and a tuple is several times cheaper to build.
class Evidence(NamedTuple):
    """One engagement: ``ts`` is when it happened (epoch seconds, UTC)."""

    event_id: str
    behaviour: str
    ts: float


class Contribution(NamedTuple):
    """One line of the ledger."""

    rule: str
    points: float
    evidence: str
    rubric_version: str
    decay: float = 1.0
    occurred_at: float | None = None

    def as_dict(self) -> dict[str, object]:
        """The stored/JSON form; ``occurred_at`` in epoch seconds (cheap to write; the
        API renders it as ISO 8601)."""
        return {"rule": self.rule, "points": self.points, "evidence": self.evidence,
                "rubric_version": self.rubric_version, "decay": self.decay, "occurred_at": self.occurred_at}


@dataclass(frozen=True, slots=True)
class Override:
    """Why the grade is not what the score alone says."""

    rule: str
    evidence: str


@dataclass(slots=True)
class ScoreResult:
    """A lead's grade with its ledger (treated as immutable)."""

    score: float
    fit: float
    engagement: float
    grade: Grade
    hot: bool
    disqualified: bool
    segment: str
    segment_parts: tuple[str, ...]
    rubric_version: str
    as_of: float
    ledger: tuple[Contribution, ...]
    overrides: tuple[Override, ...] = field(default=())

    def top_contributions(self, n: int = 5) -> list[Contribution]:
        """The contributions that matter most (largest magnitude first)."""
        return sorted(self.ledger, key=lambda c: (-abs(c.points), c.rule, c.evidence))[:n]


def grade_for(score: float, thresholds: tuple[float, float, float]) -> Grade:
    a, b, c = thresholds
    if score >= a:
        return "A"
    if score >= b:
        return "B"
    if score >= c:
        return "C"
    return "D"


def _domain_of(email: str) -> str:
    return email.rsplit("@", 1)[-1].lower()


def _domain_in(domain: str, listed: tuple[str, ...]) -> bool:
    return any(domain == d or domain.endswith("." + d) for d in listed)


def segment_of(rubric: CompiledRubric, facts: CapturedFacts) -> str:
    """The lead's segment under the rubric's segmentation model."""
    return segment_and_parts(rubric, facts)[0]


def segment_and_parts(rubric: CompiledRubric, facts: CapturedFacts) -> tuple[str, tuple[str, ...]]:
    """The lead's segment and the parts a segment pattern may name: a composed segment's
    axes in the order the format places them, or a rule-named segment's name alone."""
    seg = rubric.segmentation
    industry = seg.fallback.industry
    if facts.industry:
        text = phrase(facts.industry)
        for name, phrases in rubric.segment_industries:
            if any(p in text for p in phrases):
                industry = name
                break
    size = seg.fallback.size
    if facts.company_size is not None:
        for band in seg.sizes:
            if band.contains(facts.company_size):
                size = band.name
                break
    region = rubric.country_region.get(facts.country.upper(), seg.fallback.region)
    for rule in seg.rules:
        if ((not rule.industries or industry in rule.industries) and (not rule.sizes or size in rule.sizes)
                and (not rule.regions or region in rule.regions)):
            return rule.segment, (rule.segment,)
    axes = {"industry": industry, "size": size, "region": region}
    return seg.format.format(**axes), tuple(axes[name] for name in _format_axes(seg.format))


@lru_cache(maxsize=64)
def _format_axes(format_: str) -> tuple[str, ...]:
    return tuple(name for _, name, _, _ in string.Formatter().parse(format_) if name)


def fit_contributions(rubric: CompiledRubric, facts: CapturedFacts, segment: str) -> list[Contribution]:
    """Firmographic and role fit: the first matching rule of each kind counts."""
    v, ev, at, out = rubric.version, facts.capture_event_id, facts.captured_ts, []
    title = phrase(facts.title)
    for kind, rules in (("seniority", rubric.seniority), ("function", rubric.function)):
        for m in rules:
            if m.matches_words(title):
                out.append(Contribution(f"fit.title.{kind}.{m.name}", m.points, ev, v, 1.0, at))
                break
    if facts.company_size is not None:
        for band in rubric.company_size:
            if band.contains(facts.company_size):
                out.append(Contribution(f"fit.company_size.{band.name}", band.points, ev, v, 1.0, at))
                break
    if facts.industry:
        industry = phrase(facts.industry)
        for m in rubric.industry:
            if m.matches_words(industry):
                out.append(Contribution(f"fit.industry.{m.name}", m.points, ev, v, 1.0, at))
                break
    country = facts.country.upper()
    for name, codes, points in rubric.country:
        if country in codes:
            out.append(Contribution(f"fit.country.{name}", points, ev, v, 1.0, at))
            break
    for kind, value, exact in (("segment", segment, rubric.segment), ("source", facts.source, rubric.source)):
        for name, values, points in exact:
            if value in values:
                out.append(Contribution(f"fit.{kind}.{name}", points, ev, v, 1.0, at))
                break
    return [c for c in out if c.points != 0]


@dataclass(frozen=True, slots=True)
class _FactsPart:
    """Everything that depends on the facts alone (not on time or evidence)."""

    segment: str
    segment_parts: tuple[str, ...]
    fit: tuple[Contribution, ...]
    fit_total: float
    fit_points: tuple[float, ...]
    disqualifiers: tuple[Override, ...]


@lru_cache(maxsize=65536)
def _facts_part(rubric: CompiledRubric, facts: CapturedFacts) -> _FactsPart:
    # A lead is re-graded on every engagement while its facts rarely change: computing
    # fit, segment and disqualifiers once per (rubric, facts) is most of the speed-up.
    segment, segment_parts = segment_and_parts(rubric, facts)
    fit = tuple(fit_contributions(rubric, facts, segment))
    overrides: list[Override] = []
    domain = _domain_of(facts.email)
    if rubric.student_titles and any(p in phrase(facts.title) for p in rubric.student_titles):
        overrides.append(Override("disqualify.student", facts.capture_event_id))
    elif _domain_in(domain, rubric.student_domains):
        overrides.append(Override("disqualify.student", facts.capture_event_id))
    if _domain_in(domain, rubric.competitor_domains) or (
            rubric.competitor_companies and any(p in phrase(facts.company) for p in rubric.competitor_companies)):
        overrides.append(Override("disqualify.competitor", facts.capture_event_id))
    if rubric.require_consent and not facts.consent:
        overrides.append(Override("disqualify.no_consent", facts.capture_event_id))
    points = tuple(c.points for c in fit)
    return _FactsPart(segment, segment_parts, fit, math.fsum(points), points, tuple(overrides))


def engagement_contributions(rubric: CompiledRubric, evidence: Iterable[Evidence], as_of: float,
                             newest: dict[str, Evidence] | None = None) -> list[Contribution]:
    """Engagement: per behaviour and UTC day at most ``cap_per_day`` occurrences count,
    the most recent ones (so that more evidence never lowers a score); each decays
    by the behaviour's half-life as of ``as_of``. Zero-point behaviours leave no line.

    ``newest``, if given, receives the newest evidence per behaviour up to ``as_of``
    (the hot overrides need it; one pass over the evidence serves both)."""
    buckets: dict[tuple[str, int], list[Evidence]] = {}
    rules = rubric.engagement
    for e in evidence:
        if e.ts > as_of:
            continue
        if newest is not None:
            seen = newest.get(e.behaviour)
            if seen is None or (e.ts, e.event_id) > (seen.ts, seen.event_id):
                newest[e.behaviour] = e
        rule = rules.get(e.behaviour)
        if rule is not None and rule.points:
            key = (e.behaviour, int(e.ts // DAY_S))
            bucket = buckets.get(key)
            if bucket is None:
                buckets[key] = [e]
            else:
                bucket.append(e)
    out: list[Contribution] = []
    v = rubric.version
    for key in sorted(buckets):
        items = buckets[key]
        rule = rules[key[0]]
        if rule.cap_per_day is not None and len(items) > rule.cap_per_day:
            items = sorted(items, key=lambda e: (-e.ts, e.event_id))[:rule.cap_per_day]
        if len(items) > 1:
            items.sort(key=lambda e: (e.ts, e.event_id))
        half_life, points, name = rule.half_life_s, rule.points, rule.rule
        for e in items:
            decay = 1.0 if half_life is None else 0.5 ** ((as_of - e.ts) / half_life)
            out.append(Contribution(name, points * decay, e.event_id, v, decay, e.ts))
    return out


def score_lead(rubric: CompiledRubric, facts: CapturedFacts, evidence: Iterable[Evidence],
               as_of: float | None = None) -> ScoreResult:
    """Grade one lead. ``as_of`` (epoch seconds) defaults to the lead's latest activity.
    A capture from a source the rubric's ``source_counts_as`` names is one more piece of
    evidence of that behaviour, at capture time (an intent feed's lead shows intent)."""
    evidence = evidence if isinstance(evidence, (list, tuple)) else list(evidence)
    implied = rubric.source_counts_as.get(facts.source)
    if implied is not None:
        evidence = [*evidence, Evidence(facts.capture_event_id, implied, facts.captured_ts)]
    if as_of is None:
        as_of = facts.captured_ts
        for e in evidence:
            if e.ts > as_of:
                as_of = e.ts
    part = _facts_part(rubric, facts)
    newest: dict[str, Evidence] = {}
    engagement = engagement_contributions(rubric, evidence, as_of, newest)
    engagement_points = [c.points for c in engagement]
    engagement_total = math.fsum(engagement_points)
    ledger = part.fit + tuple(engagement)
    total = math.fsum([*part.fit_points, *engagement_points])

    overrides = list(part.disqualifiers)
    disqualified = bool(overrides)
    hot = False
    for rule in rubric.hot:
        e = newest.get(rule.behaviour)
        if e is not None and (rule.within_s is None or as_of - e.ts <= rule.within_s):
            hot = True
            overrides.append(Override(f"override.hot.{rule.behaviour}", e.event_id))
    hot = hot and not disqualified  # a competitor asking for a demo is not a hot lead
    grade: Grade = "D" if disqualified else "A" if hot else grade_for(total, rubric.thresholds)
    return ScoreResult(score=total, fit=part.fit_total, engagement=engagement_total, grade=grade, hot=hot,
                       disqualified=disqualified, segment=part.segment, segment_parts=part.segment_parts,
                       rubric_version=rubric.version,
                       as_of=as_of, ledger=ledger, overrides=tuple(overrides))
