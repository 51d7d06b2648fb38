"""Nurture's pool rule: when a pooled lead is warm enough to go back to sales. Leads
here are marketing's to keep, never lost. Which track a lead follows is data
(:mod:`services.nurture.domain.programs`)."""

from __future__ import annotations

from typing import Literal

from shared.events import Grade, is_sales_grade

PoolStatus = Literal["nurturing", "ready-for-sales", "returned-to-sales"]


def status_after_scored(status: str, grade: Grade) -> PoolStatus | None:
    """A pooled lead was re-scored: one still being nurtured that now grades as sales
    works (``shared.events.is_sales_grade``, the rule routing takes it back by) is ready
    for sales; nurture lets go when it sees the new owner. None: its status stays."""
    if status == "nurturing" and is_sales_grade(grade):
        return "ready-for-sales"
    return None
