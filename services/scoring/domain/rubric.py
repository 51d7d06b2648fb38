"""The rubric: one versioned YAML document that sales and marketing agree on.

``parse_rubric(text)`` turns the document into strict pydantic models (unknown fields
are errors) and then checks what a schema cannot (references to behaviours, regions
and segments; ordered thresholds; overlapping bands). Every problem is reported with
the place it sits, e.g. ``engagement.webinar_attended.half_life_days: must be > 0``,
so that whoever edits the rubric can fix it without reading code.

``compile_rubric(document)`` then builds the fast form the scoring function uses.

Document shape (see ``deploy/demo/rubric.yaml`` for a full example)::

    version: "2025.1"               # the rubric version; unique; names it in every ledger
    description: "..."
    regions: {na: [US, CA], emea: [GB, DE, ...]}
    fit:
      title: {seniority: [{name, keywords, points}], function: [...]}
      company_size: [{name, min, max, points}]       # bands, must not overlap
      industry: [{name, match: [...], points}]
      country: [{name, countries: [...], regions: [...], points}]
      segment: [{name, match: [segment, ...], points}]
      source: [{name, match: [lead source, ...], points}]
    engagement:
      <behaviour>: {points, cap_per_day, half_life_days}
    source_counts_as: {intent_signal: intent_signal}   # a capture from this source is one
                                                        # occurrence of that behaviour
    thresholds: {A: 70, B: 45, C: 20}                  # D is every score below C
    overrides:
      hot: [{behaviour: demo_request, within_days: 30}]
      disqualify:
        student: {title_keywords: [...], email_domains: [...]}
        competitor: {domains: [...], companies: [...]}
        require_consent: true
    segmentation:
      industries: [{name, match: [...]}]
      sizes: [{name, min, max}]
      format: "{size}-{industry}-{region}"
      fallback: {industry: other, size: unknown, region: other}
      rules: [{segment, industries: [...], sizes: [...], regions: [...]}]
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.events import Behaviour, LeadSource

BEHAVIOURS: frozenset[str] = frozenset(b.value for b in Behaviour)
SOURCES: frozenset[str] = frozenset(s.value for s in LeadSource)
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
SEGMENT_FIELDS = frozenset({"industry", "size", "region"})

Name = Annotated[str, Field(min_length=1, max_length=64)]
Points = Annotated[float, Field(ge=-1000, le=1000)]


class Problem(BaseModel):
    """One thing wrong with a rubric, at a place in the document."""

    model_config = ConfigDict(frozen=True)

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class RubricError(ValueError):
    """A rubric document is invalid. ``problems`` names each place and reason."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


# --------------------------------------------------------------------------- document


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeywordRule(_Strict):
    """Points when any keyword (a word or phrase, case-insensitive, whole words) is in the title."""

    name: Name
    keywords: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    points: Points


class TitleRules(_Strict):
    """Title fit: the first matching seniority rule and the first matching function rule count."""

    seniority: list[KeywordRule] = Field(default_factory=list)
    function: list[KeywordRule] = Field(default_factory=list)


class Band(_Strict):
    """A company-size band, inclusive at both ends; an open end is unbounded."""

    name: Name
    min: Annotated[int, Field(ge=0)] | None = None
    max: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must be <= max")
        return self

    def contains(self, size: int) -> bool:
        return (self.min is None or size >= self.min) and (self.max is None or size <= self.max)

    def overlaps(self, other: Band) -> bool:
        lo = max(self.min if self.min is not None else -1, other.min if other.min is not None else -1)
        hi = min(self.max if self.max is not None else 2**62, other.max if other.max is not None else 2**62)
        return lo <= hi


class SizeRule(Band):
    points: Points


class MatchRule(_Strict):
    """Points when the lead's value matches one of ``match`` (industry: whole words,
    case-insensitive; segment and source: exactly)."""

    name: Name
    match: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    points: Points


class CountryRule(_Strict):
    """Points when the lead's country is listed or lies in a listed region."""

    name: Name
    countries: list[Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]] = Field(default_factory=list)
    regions: list[Name] = Field(default_factory=list)
    points: Points

    @model_validator(mode="after")
    def _something(self) -> CountryRule:
        if not self.countries and not self.regions:
            raise ValueError("needs countries or regions")
        return self


class FitRules(_Strict):
    title: TitleRules = Field(default_factory=TitleRules)
    company_size: list[SizeRule] = Field(default_factory=list)
    industry: list[MatchRule] = Field(default_factory=list)
    country: list[CountryRule] = Field(default_factory=list)
    segment: list[MatchRule] = Field(default_factory=list)
    source: list[MatchRule] = Field(default_factory=list)


class EngagementRule(_Strict):
    """Points per occurrence of a behaviour; at most ``cap_per_day`` occurrences count
    per UTC day (the most recent ones); each decays by half every ``half_life_days``
    (``null``: never decays)."""

    points: Annotated[float, Field(ge=0, le=1000)]
    cap_per_day: Annotated[int, Field(gt=0)] | None = None
    half_life_days: Annotated[float, Field(gt=0)] | None = None


class Thresholds(_Strict):
    """Lowest score for each grade; D is every score below C."""

    A: float
    B: float
    C: float

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if not self.A > self.B > self.C:
            raise ValueError("must be strictly ordered A > B > C")
        return self


class HotRule(_Strict):
    """Evidence of this behaviour within ``within_days`` of the lead's latest activity
    (``null``: ever) makes the lead hot: grade A at once, unless disqualified."""

    behaviour: str
    within_days: Annotated[float, Field(gt=0)] | None = None


class StudentRule(_Strict):
    title_keywords: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    email_domains: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)


class CompetitorRule(_Strict):
    domains: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    companies: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)


class Disqualifiers(_Strict):
    student: StudentRule = Field(default_factory=StudentRule)
    competitor: CompetitorRule = Field(default_factory=CompetitorRule)
    require_consent: bool = True


class Overrides(_Strict):
    hot: list[HotRule] = Field(default_factory=list)
    disqualify: Disqualifiers = Field(default_factory=Disqualifiers)


class IndustryGroup(_Strict):
    name: Name
    match: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)


class SegmentFallback(_Strict):
    industry: Name = "other"
    size: Name = "unknown"
    region: Name = "other"


class SegmentRule(_Strict):
    """A named segment for leads matching every listed axis (an empty list matches all)."""

    segment: Name
    industries: list[Name] = Field(default_factory=list)
    sizes: list[Name] = Field(default_factory=list)
    regions: list[Name] = Field(default_factory=list)


class Segmentation(_Strict):
    """Industry × company size × region. The first matching ``rules`` entry names the
    segment; otherwise ``format`` composes it from the lead's industry group, size band
    and region (each falling back when unknown)."""

    industries: list[IndustryGroup] = Field(default_factory=list)
    sizes: list[Band] = Field(default_factory=list)
    format: str = "{size}-{industry}-{region}"
    fallback: SegmentFallback = Field(default_factory=SegmentFallback)
    rules: list[SegmentRule] = Field(default_factory=list)


class RubricDocument(_Strict):
    """A whole rubric version, as written in YAML."""

    version: Annotated[str, Field(pattern=VERSION_PATTERN)]
    description: str = ""
    regions: dict[Name, list[Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]]] = Field(default_factory=dict)
    fit: FitRules = Field(default_factory=FitRules)
    engagement: dict[str, EngagementRule] = Field(default_factory=dict)
    source_counts_as: dict[str, str] = Field(
        default_factory=dict, description="lead source → behaviour: a capture from that source counts as one "
        "occurrence of the behaviour when it was captured (an intent feed's lead shows intent, as an intent "
        "activity does: its points, and a hot override that names it)")
    thresholds: Thresholds
    overrides: Overrides = Field(default_factory=Overrides)
    segmentation: Segmentation = Field(default_factory=Segmentation)


# --------------------------------------------------------------------------- parsing


def _place(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "rubric"


def _reason(err: Any) -> str:
    kind = err.get("type", "")
    # 0.0 reads as a float artefact in "must be > 0.0"; people wrote 0.
    ctx = {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in (err.get("ctx") or {}).items()}
    simple = {
        "greater_than": "must be > {gt}",
        "greater_than_equal": "must be >= {ge}",
        "less_than": "must be < {lt}",
        "less_than_equal": "must be <= {le}",
        "extra_forbidden": "unknown field",
        "missing": "required",
        "too_short": "must not be empty",
        "string_too_short": "must not be empty",
        "string_too_long": "too long (at most {max_length} characters)",
        "string_pattern_mismatch": "does not match {pattern}",
    }
    if kind in simple:
        try:
            return simple[kind].format(**ctx)
        except (KeyError, IndexError):
            return simple[kind]
    msg = str(err.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


def _structural(raw: Any) -> RubricDocument:
    if not isinstance(raw, dict):
        raise RubricError([Problem(field="rubric", reason="must be a mapping (a YAML document with keys)")])
    try:
        return RubricDocument.model_validate(raw)
    except ValidationError as exc:
        raise RubricError([Problem(field=_place(e["loc"]), reason=_reason(e)) for e in exc.errors()]) from None


def _overlaps(bands: Sequence[Band], where: str) -> list[Problem]:
    problems = []
    for i, band in enumerate(bands):
        for j in range(i):
            if band.overlaps(bands[j]):
                problems.append(Problem(field=f"{where}[{i}]", reason=f"overlaps {where}[{j}] ({bands[j].name})"))
    return problems


def _semantic(doc: RubricDocument) -> list[Problem]:
    """What the schema cannot say: references, overlaps, placeholders."""
    problems: list[Problem] = []
    regions = set(doc.regions)
    for name in doc.engagement:
        if name not in BEHAVIOURS:
            problems.append(Problem(field=f"engagement.{name}", reason=f"unknown behaviour '{name}'"))
    for from_source, behaviour in doc.source_counts_as.items():
        if from_source not in SOURCES:
            problems.append(Problem(field=f"source_counts_as.{from_source}",
                                    reason=f"unknown lead source '{from_source}'"))
        if behaviour not in BEHAVIOURS:
            problems.append(Problem(field=f"source_counts_as.{from_source}",
                                    reason=f"unknown behaviour '{behaviour}'"))
    for i, hot in enumerate(doc.overrides.hot):
        if hot.behaviour not in BEHAVIOURS:
            problems.append(Problem(field=f"overrides.hot[{i}].behaviour",
                                    reason=f"unknown behaviour '{hot.behaviour}'"))
    for i, country in enumerate(doc.fit.country):
        for region in country.regions:
            if region not in regions:
                problems.append(Problem(field=f"fit.country[{i}].regions", reason=f"unknown region '{region}'"))
    for i, source in enumerate(doc.fit.source):
        for value in source.match:
            if value not in SOURCES:
                problems.append(Problem(field=f"fit.source[{i}].match", reason=f"unknown lead source '{value}'"))
    problems += _overlaps(doc.fit.company_size, "fit.company_size")
    seg = doc.segmentation
    problems += _overlaps(seg.sizes, "segmentation.sizes")
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(seg.format) if f is not None}
    except ValueError as exc:
        problems.append(Problem(field="segmentation.format", reason=str(exc)))
        fields = set()
    for unknown in sorted(fields - SEGMENT_FIELDS):
        problems.append(Problem(field="segmentation.format",
                                reason=f"unknown placeholder '{{{unknown}}}' (use {{industry}}, {{size}}, {{region}})"))
    industry_names = {g.name for g in seg.industries} | {seg.fallback.industry}
    size_names = {b.name for b in seg.sizes} | {seg.fallback.size}
    region_names = regions | {seg.fallback.region}
    for i, rule in enumerate(seg.rules):
        for axis, known, values in (("industries", industry_names, rule.industries),
                                    ("sizes", size_names, rule.sizes), ("regions", region_names, rule.regions)):
            for value in values:
                if value not in known:
                    problems.append(Problem(field=f"segmentation.rules[{i}].{axis}",
                                            reason=f"unknown {axis[:-1] if axis != 'industries' else 'industry'} "
                                                   f"'{value}'"))
    return problems


def parse_rubric_data(raw: Any) -> RubricDocument:
    """Validate an already-decoded rubric (a dict from YAML or JSON)."""
    doc = _structural(raw)
    problems = _semantic(doc)
    if problems:
        raise RubricError(problems)
    return doc


def parse_rubric(text: str) -> RubricDocument:
    """Parse and validate a rubric from YAML (JSON is valid YAML too).

    Raises :class:`RubricError` naming every bad place."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RubricError([Problem(field="document", reason=f"not valid YAML: {where}{problem}")]) from None
    return parse_rubric_data(raw)


# --------------------------------------------------------------------------- compiled form

_WORD = re.compile(r"[a-z0-9]+")


def phrase(text: str) -> str:
    """Normalise text to `` word word `` so that whole-word containment is a substring test
    (``' cto '`` is not in ``' director '``)."""
    return " " + " ".join(_WORD.findall(text.lower())) + " "


@dataclass(frozen=True, slots=True)
class CompiledMatch:
    name: str
    phrases: tuple[str, ...]
    points: float

    def matches_words(self, text_phrase: str) -> bool:
        return any(p in text_phrase for p in self.phrases)


@dataclass(frozen=True, slots=True)
class CompiledEngagement:
    behaviour: str
    points: float
    cap_per_day: int | None
    half_life_s: float | None
    rule: str


@dataclass(frozen=True, slots=True)
class CompiledHot:
    behaviour: str
    within_s: float | None


@dataclass(frozen=True, slots=True, eq=False)  # identity equality and hash: a cache key
class CompiledRubric:
    """The rubric in the shape the scoring function reads quickly."""

    document: RubricDocument
    version: str
    seniority: tuple[CompiledMatch, ...]
    function: tuple[CompiledMatch, ...]
    company_size: tuple[SizeRule, ...]
    industry: tuple[CompiledMatch, ...]
    country: tuple[tuple[str, frozenset[str], float], ...]
    segment: tuple[tuple[str, frozenset[str], float], ...]
    source: tuple[tuple[str, frozenset[str], float], ...]
    engagement: dict[str, CompiledEngagement]
    source_counts_as: dict[str, str]
    thresholds: tuple[float, float, float]
    hot: tuple[CompiledHot, ...]
    student_titles: tuple[str, ...]
    student_domains: tuple[str, ...]
    competitor_domains: tuple[str, ...]
    competitor_companies: tuple[str, ...]
    require_consent: bool
    country_region: dict[str, str]
    segmentation: Segmentation
    segment_industries: tuple[tuple[str, tuple[str, ...]], ...]


def _domains(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(v.lower().lstrip(".@") for v in values)


def compile_rubric(doc: RubricDocument) -> CompiledRubric:
    """Precompute normalised keywords and lookups for fast scoring."""

    def matches(rules: Sequence[KeywordRule] | Sequence[MatchRule]) -> tuple[CompiledMatch, ...]:
        return tuple(CompiledMatch(r.name, tuple(phrase(k) for k in (r.keywords if isinstance(r, KeywordRule)
                                                                        else r.match)), r.points) for r in rules)

    country_region: dict[str, str] = {}
    for region, codes in doc.regions.items():
        for code in codes:
            country_region.setdefault(code.upper(), region)
    countries = []
    for country_rule in doc.fit.country:
        listed = {c.upper() for c in country_rule.countries}
        for region in country_rule.regions:
            listed |= {c.upper() for c in doc.regions.get(region, [])}
        countries.append((country_rule.name, frozenset(listed), country_rule.points))
    engagement = {
        name: CompiledEngagement(name, r.points, r.cap_per_day,
                                 r.half_life_days * 86400.0 if r.half_life_days is not None else None,
                                 f"engagement.{name}")
        for name, r in doc.engagement.items()
    }
    dq = doc.overrides.disqualify
    return CompiledRubric(
        document=doc,
        version=doc.version,
        seniority=matches(doc.fit.title.seniority),
        function=matches(doc.fit.title.function),
        company_size=tuple(doc.fit.company_size),
        industry=matches(doc.fit.industry),
        country=tuple(countries),
        segment=tuple((r.name, frozenset(r.match), r.points) for r in doc.fit.segment),
        source=tuple((r.name, frozenset(r.match), r.points) for r in doc.fit.source),
        engagement=engagement,
        source_counts_as=dict(doc.source_counts_as),
        thresholds=(doc.thresholds.A, doc.thresholds.B, doc.thresholds.C),
        hot=tuple(CompiledHot(h.behaviour, h.within_days * 86400.0 if h.within_days is not None else None)
                  for h in doc.overrides.hot),
        student_titles=tuple(phrase(k) for k in dq.student.title_keywords),
        student_domains=_domains(dq.student.email_domains),
        competitor_domains=_domains(dq.competitor.domains),
        competitor_companies=tuple(phrase(c) for c in dq.competitor.companies),
        require_consent=dq.require_consent,
        country_region=country_region,
        segmentation=doc.segmentation,
        segment_industries=tuple((g.name, tuple(phrase(m) for m in g.match))
                                 for g in doc.segmentation.industries),
    )


def load_rubric(text: str) -> CompiledRubric:
    """Parse, validate and compile in one step."""
    return compile_rubric(parse_rubric(text))

