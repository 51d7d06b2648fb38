"""Builders for scoring's unit tests: a small rubric (as a dict, tweakable), facts and
evidence."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import yaml

from services.scoring.domain.rubric import CompiledRubric, compile_rubric, parse_rubric, parse_rubric_data
from services.scoring.domain.scoring import CapturedFacts, Evidence

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC).timestamp()
DAY = 86400.0

BASE: dict[str, Any] = {
    "version": "t-1",
    "regions": {"na": ["US", "CA"], "uk": ["GB"]},
    "fit": {
        "title": {
            "seniority": [{"name": "exec", "keywords": ["cto", "vp", "vice president"], "points": 20},
                          {"name": "director", "keywords": ["director"], "points": 15}],
            "function": [{"name": "marketing", "keywords": ["marketing"], "points": 10}],
        },
        "company_size": [{"name": "small", "min": 1, "max": 99, "points": 2},
                         {"name": "large", "min": 100, "points": 12}],
        "industry": [{"name": "software", "match": ["software"], "points": 7}],
        "country": [{"name": "north-america", "regions": ["na"], "points": 5},
                    {"name": "germany", "countries": ["DE"], "points": 3}],
        "segment": [{"name": "big-tech", "match": ["large-tech-na"], "points": 4}],
        "source": [{"name": "referral", "match": ["referral"], "points": 6}],
    },
    "engagement": {
        "page_visit": {"points": 1, "cap_per_day": 3, "half_life_days": 10},
        "webinar_attended": {"points": 20, "cap_per_day": 1, "half_life_days": 30},
        "email_reply": {"points": 5},
        "demo_request": {"points": 10, "half_life_days": 30},
    },
    "thresholds": {"A": 60, "B": 40, "C": 20},
    "overrides": {
        "hot": [{"behaviour": "demo_request", "within_days": 30}],
        "disqualify": {
            "student": {"title_keywords": ["student"], "email_domains": ["edu"]},
            "competitor": {"domains": ["rival.example"], "companies": ["Rival Corp"]},
            "require_consent": True,
        },
    },
    "segmentation": {
        "industries": [{"name": "tech", "match": ["software", "saas"]},
                       {"name": "agency", "match": ["agency"]}],
        "sizes": [{"name": "small", "max": 99}, {"name": "large", "min": 100}],
        "format": "{size}-{industry}-{region}",
        "fallback": {"industry": "other", "size": "unknown", "region": "row"},
        "rules": [{"segment": "agencies", "industries": ["agency"]}],
    },
}


def rubric_dict(**changes: Any) -> dict[str, Any]:
    """A deep copy of BASE with dotted-path changes, e.g. ``{"thresholds.A": 10}``.
    (Keys use ``__`` for dots when passed as keyword arguments.)"""
    doc = copy.deepcopy(BASE)
    for path, value in changes.items():
        parts = path.split("__")
        target: Any = doc
        for p in parts[:-1]:
            target = target[int(p)] if isinstance(target, list) else target[p]
        if isinstance(target, list):
            target[int(parts[-1])] = value
        else:
            target[parts[-1]] = value
    return doc


def rubric(**changes: Any) -> CompiledRubric:
    return compile_rubric(parse_rubric_data(rubric_dict(**changes)))


def rubric_yaml(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False)


def reparse(doc: dict[str, Any]) -> CompiledRubric:
    return compile_rubric(parse_rubric(rubric_yaml(doc)))


def facts(**kw: Any) -> CapturedFacts:
    base: dict[str, Any] = dict(lead_id="L1", email="ann@acme.example", company="Acme", title="", country="",
                                company_size=None, industry=None, source="web_form", consent=True,
                                capture_event_id="cap-1", captured_ts=T0)
    base.update(kw)
    return CapturedFacts(**base)


def ev(event_id: str, behaviour: str, days: float = 0.0) -> Evidence:
    return Evidence(event_id, behaviour, T0 + days * DAY)
