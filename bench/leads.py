"""Leads whose grade under the demo rubric (deploy/demo/rubric.yaml) is known, for
end-to-end tests and the pipeline bench. Points: title seniority + function, company size band, industry,
country region, source."""

from __future__ import annotations

import uuid
from typing import Any


def _email(tag: str) -> str:
    return f"{tag}.{uuid.uuid4().hex[:10]}@example.com"


def grade_a(**kw: Any) -> dict[str, Any]:
    """VP Marketing (20+10), 1000+ staff (20), software (10), US (10), web form (4) = 74 → A."""
    return {"email": _email("a"), "name": "Avery Adams", "company": f"Bigco {uuid.uuid4().hex[:6]}",
            "title": "VP Marketing", "country": "US", "company_size": 5000, "industry": "software",
            "source": "web_form", "consent": True, **kw}


def grade_b(**kw: Any) -> dict[str, Any]:
    """Marketing Manager (8+10), 200-999 (14), software (10), US (10), web form (4) = 56 → B."""
    return {"email": _email("b"), "name": "Blake Brown", "company": f"Midco {uuid.uuid4().hex[:6]}",
            "title": "Marketing Manager", "country": "US", "company_size": 400, "industry": "software",
            "source": "web_form", "consent": True, **kw}


def grade_c(**kw: Any) -> dict[str, Any]:
    """Sales Manager (8+8), 1-49 (2), no industry, US (10), web form (4) = 32 → C."""
    return {"email": _email("c"), "name": "Casey Clark", "company": f"Smallco {uuid.uuid4().hex[:6]}",
            "title": "Sales Manager", "country": "US", "company_size": 20, "source": "web_form",
            "consent": True, **kw}
