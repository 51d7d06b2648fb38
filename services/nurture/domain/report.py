"""The campaign report, from the figures the database aggregated: what the article
asks every campaign to say (how many leads it made, how many are A, B or C, how far
they went, and the revenue they closed) with the costs and return that let budget
follow revenue. Pure: the numbers in, the report out (JSON, CSV rows, the funnel chart)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from html import escape
from typing import Any

from services.nurture.domain.attribution import MODELS, Model
from services.nurture.domain.funnel import funnel, with_conversion
from shared.events import GRADES, CampaignType, MemberStatus
from shared.money import from_minor


@dataclass(frozen=True)
class Figures:
    """A campaign's aggregates (one row of the repository's report query)."""

    members: int
    new_leads: int
    grades: Mapping[str, int]
    steps: Mapping[MemberStatus, int]
    followed_up_on_time: int
    opportunities: int
    won_deals: int
    lost_deals: int
    closed_revenue_minor: int
    won_in_other_currencies: int
    credited_minor: Mapping[str, int] = field(default_factory=dict)


def _money(minor: int | None, currency: str) -> str | None:
    return None if minor is None else str(from_minor(minor, currency))


def _per(cost_minor: int, n: int, currency: str) -> str | None:
    return None if n == 0 else str((from_minor(cost_minor, currency) / n).quantize(Decimal("0.01")))


def _roi(revenue_minor: int, cost_minor: int) -> float | None:
    return None if cost_minor == 0 else round((revenue_minor - cost_minor) / cost_minor, 4)


def campaign_report(campaign: Mapping[str, Any], f: Figures, model: Model = "linear") -> dict[str, Any]:
    """The report of one campaign. Revenue is in the campaign's currency (won deals in
    other currencies are counted apart, not converted); ROI is on the revenue credited
    to the campaign under ``model`` (every model's figure is given too)."""
    ctype = CampaignType(campaign["type"])
    currency: str = campaign["currency"]
    cost: int = campaign["cost_minor"]
    steps = with_conversion([(s, f.steps.get(s, 0)) for s in funnel(ctype)])
    graded = sum(f.grades.get(g, 0) for g in GRADES)
    followed = f.steps.get(MemberStatus.FOLLOWED_UP, 0)
    credited = {m: f.credited_minor.get(m, 0) for m in MODELS}
    return {
        "campaign": {"campaign_id": campaign["campaign_id"], "name": campaign["name"], "type": ctype.value,
                     "owner": campaign["owner"], "version": campaign["version"], "currency": currency},
        "leads": {"captured": f.members, "new": f.new_leads, "already_known": f.members - f.new_leads},
        "grades": {**{g: f.grades.get(g, 0) for g in GRADES}, "ungraded": f.members - graded},
        "funnel": [{"step": s.status.value, "members": s.members, "conversion": s.conversion} for s in steps],
        "no_show": f.steps.get(MemberStatus.NO_SHOW, 0) if ctype is CampaignType.WEBINAR else None,
        "lost": f.steps.get(MemberStatus.LOST, 0),
        "follow_up": {"followed_up": followed, "within_sla": f.followed_up_on_time,
                      "share_within_sla": round(f.followed_up_on_time / followed, 4) if followed else None},
        "opportunities": f.opportunities,
        "won_deals": f.won_deals,
        "lost_deals": f.lost_deals,
        "won_deals_in_other_currencies": f.won_in_other_currencies,
        "revenue": {"currency": currency, "closed": _money(f.closed_revenue_minor, currency),
                    "closed_minor": f.closed_revenue_minor, "model": model,
                    "attributed": _money(credited[model], currency), "attributed_minor": credited[model],
                    "attributed_by_model": {m: _money(v, currency) for m, v in credited.items()}},
        "cost": {"total": _money(cost, currency), "per_lead": _per(cost, f.members, currency),
                 "per_opportunity": _per(cost, f.opportunities, currency),
                 "per_won_deal": _per(cost, f.won_deals, currency)},
        "roi": _roi(credited[model], cost),
        "roi_by_model": {m: _roi(v, cost) for m, v in credited.items()},
    }


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, list):
        for item in value:
            _flatten(f"{prefix}.{item['step']}", {k: v for k, v in item.items() if k != "step"}, out)
    else:
        out.append((prefix, "" if value is None else str(value)))


def report_csv(report: Mapping[str, Any]) -> str:
    """The report as CSV, one ``figure,value`` row per number (``funnel.registered.members``)."""
    rows: list[tuple[str, str]] = []
    _flatten("", dict(report), rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("figure", "value"))
    writer.writerows(rows)
    return buffer.getvalue()


def funnel_svg(report: Mapping[str, Any]) -> str:
    """The funnel as an SVG bar chart: one bar per step, its count and the conversion
    from the step before."""
    steps = report["funnel"]
    widest = max([s["members"] for s in steps] + [1])
    bar_h, gap, left, width = 28, 10, 130, 460
    height = 50 + len(steps) * (bar_h + gap)
    title = escape(f"{report['campaign']['name']} ({report['campaign']['type']}): funnel")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 120}" height="{height}" '
             f'role="img" aria-label="{title}" font-family="sans-serif" font-size="13">',
             f"<title>{title}</title>", f'<text x="10" y="22" font-size="15" font-weight="bold">{title}</text>']
    for i, s in enumerate(steps):
        y = 40 + i * (bar_h + gap)
        w = round(width * s["members"] / widest) if s["members"] else 0
        conversion = "" if s["conversion"] is None else f" ({s['conversion']:.0%})"
        parts += [f'<text x="10" y="{y + 19}">{escape(s["step"])}</text>',
                  f'<rect x="{left}" y="{y}" width="{max(w, 1)}" height="{bar_h}" fill="#3b6ea5"/>',
                  f'<text x="{left + max(w, 1) + 6}" y="{y + 19}">{s["members"]}{conversion}</text>']
    parts.append("</svg>")
    return "\n".join(parts)


def period_by_type(rows: list[Mapping[str, Any]], costs: list[Mapping[str, Any]],
                   model: Model) -> list[dict[str, Any]]:
    """Per campaign type (and currency): what its campaigns running in the period cost,
    the revenue of deals closed in it credited to them under ``model``, and the return:
    the figure budget follows."""
    credited: dict[tuple[str, str], int] = {}
    for r in rows:
        if r["model"] == model:
            key = (r["campaign_type"], r["currency"])
            credited[key] = credited.get(key, 0) + int(r["credited_minor"])
    cost = {(c["campaign_type"], c["currency"]): (int(c["cost_minor"]), int(c["campaigns"])) for c in costs}
    out = []
    for ctype, currency in sorted(set(credited) | set(cost)):
        spent, campaigns = cost.get((ctype, currency), (0, 0))
        earned = credited.get((ctype, currency), 0)
        out.append({"campaign_type": ctype, "currency": currency, "campaigns": campaigns,
                    "cost": _money(spent, currency), "credited": _money(earned, currency),
                    "credited_minor": earned, "roi": _roi(earned, spent)})
    return out


def period_report(rows: list[Mapping[str, Any]], model: Model) -> list[dict[str, Any]]:
    """Credited revenue of deals closed in a period by campaign type and channel
    (under ``model``): where the revenue came from, for next period's budget."""
    return [{"campaign_type": r["campaign_type"], "channel": r["channel"], "currency": r["currency"],
             "credited": _money(int(r["credited_minor"]), r["currency"]), "credited_minor": int(r["credited_minor"]),
             "deals": r["deals"], "campaigns": r["campaigns"]}
            for r in rows if r["model"] == model]
