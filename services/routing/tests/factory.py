"""Small organisations and leads for the unit tests."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.routing.documents import read_org_file
from services.routing.domain.config import RoutingConfig, compile_config
from services.routing.domain.router import LeadFacts

DEMO_ORG = Path(__file__).resolve().parents[3] / "deploy" / "demo" / "org.yaml"

# A Wednesday, 15:00 UTC: inside working hours in London and New York.
WEDNESDAY = datetime(2025, 3, 12, 15, 0, tzinfo=UTC)


def demo_docs() -> tuple[dict[str, Any], dict[str, Any]]:
    org, rules = read_org_file(DEMO_ORG)
    assert rules is not None
    return copy.deepcopy(org), copy.deepcopy(rules)


def demo_config(**org_changes: Any) -> RoutingConfig:
    org, rules = demo_docs()
    org.update(org_changes)
    return compile_config(org, rules)


def small_docs() -> tuple[dict[str, Any], dict[str, Any]]:
    """One team of three reps, always working, one catch-all rule."""
    org = {
        "teams": [{"id": "t", "sla": {"business_hours": 4}, "hours": "mon-sun 00:00-24:00"}],
        "reps": [
            {"id": "r1", "name": "One", "team": "t", "capacity": 1_000_000, "weight": 1},
            {"id": "r2", "name": "Two", "team": "t", "capacity": 1_000_000, "weight": 2},
            {"id": "r3", "name": "Three", "team": "t", "capacity": 1_000_000, "weight": 3},
        ],
    }
    rules = {"fallback_team": "t", "rules": [{"name": "all", "team": "t"}]}
    return org, rules


def lead(lead_id: str = "L1", *, grade: str = "A", segment: str = "ent-tech-na", hot: bool = False,
         country: str = "US", company: str = "Acme", source: str = "web_form", campaign: str | None = None,
         disqualified: bool = False, segment_parts: tuple[str, ...] | None = None) -> LeadFacts:
    """A scored lead; its segment's parts are those of the demo's "{size}-{industry}-{region}"
    format unless given."""
    parts = tuple(segment.split("-")) if segment_parts is None else segment_parts
    return LeadFacts(lead_id=lead_id, grade=grade, segment=segment, segment_parts=parts,  # type: ignore[arg-type]
                     hot=hot, country=country, company=company, source=source, campaign=campaign,
                     disqualified=disqualified)
