"""What the manager's, marketing's and the operator's boards show, from what the services
answer: pure functions from their JSON (and their Prometheus text) to the figures a page
renders. Nothing here calls a service; the board routes fetch, these decide what to show.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

GRADES: tuple[str, ...] = ("A", "B", "C", "D")
"""The grades in the order the boards show them (``shared.events.GRADES``)."""


def percent(rate: float | None) -> str:
    """A compliance rate as people read it; no figure when nothing was judged."""
    return "–" if rate is None else f"{round(rate * 100)}%"


class BadInput(ValueError):
    """A board form's field that cannot be used; the message says what to enter instead."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


MAX_CAPACITY = 100_000  # routing's limit (PUT /v1/reps/{rep_id}/capacity)
AWAY_HOURS: tuple[tuple[int, str], ...] = ((1, "1 hour"), (4, "4 hours"), (8, "the working day"),
                                           (24, "1 day"), (72, "3 days"), (168, "1 week"))
"""How long a manager may set a rep away for, in one tap."""


def capacity_of(text: str) -> int:
    """A capacity typed in a form: a whole number of open leads, 0 to :data:`MAX_CAPACITY`."""
    value = text.strip()
    if not value.isdigit() or int(value) > MAX_CAPACITY:
        raise BadInput("capacity", f"Capacity must be a whole number of leads from 0 to {MAX_CAPACITY:,}; "
                                   f"“{value[:20]}” is not.")
    return int(value)


def away_hours_of(text: str) -> int:
    """How long a rep is away, as offered (:data:`AWAY_HOURS`)."""
    allowed = {str(h): h for h, _ in AWAY_HOURS}
    if text.strip() not in allowed:
        raise BadInput("hours", "Pick how long the rep is away from the list.")
    return allowed[text.strip()]


# --------------------------------------------------------------------------- the manager's board


@dataclass(frozen=True)
class RepLine:
    """One rep of the team as the board lists them, with this week's compliance."""

    rep_id: str
    name: str
    open: int
    capacity: int
    away: bool
    working: bool
    today: str
    week: str


def team_reps(reps: Iterable[Mapping[str, Any]], sla: Mapping[str, Any], team: str) -> list[RepLine]:
    """The team's reps (routing's ``/v1/reps``) beside their SLA figures (``/v1/teams/{team}/sla``)."""
    figures = {r["rep_id"]: r for r in sla.get("reps", [])}
    out = []
    for r in reps:
        if r.get("team") != team:
            continue
        mine = figures.get(r["rep_id"], {})
        out.append(RepLine(r["rep_id"], r.get("name") or r["rep_id"], int(r.get("open", 0)),
                           int(r.get("capacity", 0)), bool(r.get("away")), bool(r.get("working", True)),
                           percent((mine.get("today") or {}).get("rate")),
                           percent((mine.get("week") or {}).get("rate"))))
    return sorted(out, key=lambda line: line.name)


def team_queue(queues: Mapping[str, Any], team: str) -> dict[str, Any]:
    """The team's entry of routing's ``/v1/queues`` (an empty queue when it has none)."""
    for q in queues.get("queues", []):
        if q.get("team") == team:
            return dict(q)
    return {"team": team, "queued": 0, "leads": []}


def awaiting_sales(rubrics: Mapping[str, Any], collateral: Mapping[str, Any]) -> list[dict[str, str]]:
    """Rubric versions still missing the sales side's approval, and collateral in review:
    what a sales approver should look at, each with where to do it."""
    out = [{"kind": "rubric", "id": v["version"], "title": v.get("description") or f"rubric {v['version']}",
            "href": f"/marketing#rubric-{v['version']}"}
           for v in rubrics.get("versions", []) if "sales" in v.get("missing_approvals", [])]
    out += [{"kind": "collateral", "id": i["item_id"], "title": i.get("title") or i["item_id"],
             "href": f"/marketing#collateral-{i['item_id']}"}
            for i in collateral.get("items", []) if i.get("status") == "in_review"]
    return out


# --------------------------------------------------------------------------- marketing's board


@dataclass(frozen=True)
class GradeRow:
    """One campaign's (or source's) leads by grade."""

    key: str
    total: int
    grades: dict[str, int]


def grade_rows(distribution: Mapping[str, Any], unnamed: str = "(none)") -> list[GradeRow]:
    """Scoring's ``/v1/grades?by=...`` as rows, the biggest first; a lead with no
    campaign (or source) is counted under ``unnamed``."""
    rows = [GradeRow(str(g.get("key") or unnamed), int(g.get("total", 0)),
                     {grade: int(g.get("grades", {}).get(grade, 0)) for grade in GRADES})
            for g in distribution.get("groups", [])]
    return sorted(rows, key=lambda r: (-r.total, r.key))


def pool_by_track(pool: Mapping[str, Any]) -> list[tuple[str, int]]:
    """Leads in nurture per track (nurture's pool ``counts``, over every status that holds
    a lead on a track), biggest first; leads on no track are ``(no track)``."""
    totals: dict[str, int] = defaultdict(int)
    for c in pool.get("counts", []):
        totals[c.get("track") or "(no track)"] += int(c.get("leads", 0))
    return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))


def collateral_by_status(collateral: Mapping[str, Any], statuses: Sequence[str]) -> list[tuple[str, int]]:
    """How many items are in each lifecycle status, in the lifecycle's order (every status
    named, zeros too, so the chart's bars stay in place)."""
    counts: dict[str, int] = defaultdict(int)
    for item in collateral.get("items", []):
        counts[str(item.get("status"))] += 1
    return [(s, counts.get(s, 0)) for s in statuses] + sorted(
        (s, n) for s, n in counts.items() if s not in statuses)


# --------------------------------------------------------------------------- the operator's page


@dataclass
class ServiceFigures:
    """What one service's ``/metrics`` says the operator needs: consumer lag (records not
    yet handled) and dead letters written since it started, each per topic."""

    lag: dict[str, float] = field(default_factory=dict)
    dead_letters: dict[str, float] = field(default_factory=dict)

    @property
    def total_lag(self) -> int:
        return int(sum(self.lag.values()))

    @property
    def total_dead_letters(self) -> int:
        return int(sum(self.dead_letters.values()))


def service_figures(metrics_text: str) -> ServiceFigures:
    """Sum a service's lag gauge over partitions and its dead-letter counter over reasons,
    per topic. Text that does not parse gives no figures (the page says so), not an error."""
    figures = ServiceFigures()
    try:
        families = list(text_string_to_metric_families(metrics_text))
    except ValueError:
        return figures
    for family in families:
        for sample in family.samples:
            topic = sample.labels.get("topic")
            if topic is None:
                continue
            if sample.name == "leadbridge_consumer_lag_records":
                figures.lag[topic] = figures.lag.get(topic, 0) + sample.value
            elif sample.name == "leadbridge_events_dead_lettered_total":
                figures.dead_letters[topic] = figures.dead_letters.get(topic, 0) + sample.value
    return figures


def group_lag(metrics_text: str) -> dict[str, dict[str, float]]:
    """Lagwatch's committed-offset lag, per service and topic (it answers even for a
    service that is down, which reports nothing of its own)."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    try:
        families = list(text_string_to_metric_families(metrics_text))
    except ValueError:
        return {}
    for family in families:
        for sample in family.samples:
            if sample.name != "leadbridge_consumer_group_lag_records":
                continue
            service, topic = sample.labels.get("service"), sample.labels.get("topic")
            if service and topic:
                out[service][topic] = out[service].get(topic, 0) + sample.value
    return dict(out)


def replay_command(topic: str, service: str) -> str:
    """The command that sends ``service``'s dead letters of ``topic`` back to it
    (``python -m shared.dlq``, run with the deployment's ``LEADBRIDGE_*`` settings)."""
    return f"python -m shared.dlq replay --topic {topic} --service {service}"
