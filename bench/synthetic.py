"""Synthetic lead history for tests, replays and benchmarks: captures (some repeated,
some students, competitors or without consent) and engagements spread over weeks,
some arriving before their lead's capture; and outcomes (won or lost) that favour
leads with more fit and engagement, as real ones would.

    python -m bench.synthetic --events 100000 --out var/events.jsonl \\
        --outcomes var/outcomes.csv

Each JSONL line is ``{"topic": "lead-captured" | "lead-engaged", "event": {...}}``.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from shared.events import Behaviour, LeadCaptured, LeadEngaged, LeadProfile, LeadSource, derive_event_id
from shared.topics import LEAD_CAPTURED, LEAD_ENGAGED

TITLES = ["CEO", "VP Marketing", "Head of Growth", "Marketing Manager", "Sales Director", "IT Manager",
          "Marketing Specialist", "Business Development Lead", "Analyst", "Student", "Chief Revenue Officer",
          "Demand Generation Coordinator", "Operations Associate", "Founder", ""]
INDUSTRIES = ["Software", "SaaS", "Advertising Agency", "Financial Services", "Manufacturing", "Retail",
              "Media", "Banking", "Logistics", None]
COUNTRIES = ["US", "US", "US", "GB", "GB", "CA", "AU", "DE", "FR", "NL", "JP", "BR", "IN", "IE"]
SIZES = [None, 5, 20, 45, 80, 150, 250, 600, 900, 1500, 5000, 20000]
BEHAVIOUR_WEIGHTS = {
    Behaviour.PAGE_VISIT: 40, Behaviour.EMAIL_OPEN: 20, Behaviour.CONTENT_DOWNLOAD: 10,
    Behaviour.PRICING_VISIT: 6, Behaviour.EMAIL_REPLY: 4, Behaviour.WEBINAR_INVITED: 6,
    Behaviour.WEBINAR_REGISTERED: 5, Behaviour.WEBINAR_ATTENDED: 3, Behaviour.EVENT_VISIT: 2,
    Behaviour.DEMO_REQUEST: 1, Behaviour.INTENT_SIGNAL: 1,
}
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)

SyntheticEvent = LeadCaptured | LeadEngaged


def generate(n_events: int, *, seed: int = 7, events_per_lead: float = 8.0, span_days: float = 120.0,
             start: datetime = EPOCH, early_engagement: float = 0.03) -> list[SyntheticEvent]:
    """``n_events`` events in arrival order (roughly the order they happened, with a
    few engagements delivered before their lead's capture). Deterministic per seed."""
    rng = random.Random(seed)
    n_leads = max(1, int(n_events / events_per_lead))
    behaviours, weights = list(BEHAVIOUR_WEIGHTS), list(BEHAVIOUR_WEIGHTS.values())
    timed: list[tuple[float, int, SyntheticEvent]] = []
    for i in range(n_leads):
        lead_id = f"syn-{seed}-{i}"
        company = f"Company {rng.randrange(n_leads // 3 + 1)}"
        domain = rng.choice(["example.com", "corp.example", "mail.example", "uni.edu", "rivalcrm.example"]
                            if rng.random() < 0.08 else ["example.com", "corp.example", "acme.example"])
        profile = LeadProfile(email=f"p{i}@{domain}", name=f"Person {i}", company=company, title=rng.choice(TITLES),
                              country=rng.choice(COUNTRIES), company_size=rng.choice(SIZES),
                              industry=rng.choice(INDUSTRIES))
        at = rng.uniform(0, span_days * 86400)
        timed.append((at, len(timed), LeadCaptured(
            event_id=derive_event_id(lead_id, "capture"), occurred_at=start + timedelta(seconds=at),
            lead_id=lead_id, capture_id=f"cap-{i}", profile=profile, source=rng.choice(list(LeadSource)),
            campaign=rng.choice([None, "webinar-q1", "tradeshow-berlin", "ads-spring", "intent-feed"]),
            consent=rng.random() > 0.04)))
    lead_times = [t for t, _, _ in timed]
    for j in range(n_events - n_leads):
        i = rng.randrange(n_leads)
        lead_id = f"syn-{seed}-{i}"
        # Mostly after the capture; a few before it, or delivered before it.
        at = lead_times[i] + rng.expovariate(1 / (10 * 86400)) * (1 if rng.random() > 0.05 else -0.2)
        behaviour = rng.choices(behaviours, weights)[0]
        event = LeadEngaged(event_id=derive_event_id(lead_id, "engaged", str(j)),
                            occurred_at=start + timedelta(seconds=at), lead_id=lead_id, activity_id=f"act-{j}",
                            behaviour=behaviour)
        arrival = at if rng.random() > early_engagement else lead_times[i] - 60
        timed.append((arrival, len(timed), event))
    timed.sort(key=lambda t: (t[0], t[1]))
    return [e for _, _, e in timed]


def outcomes_for(scores: dict[str, float], *, seed: int = 7, known: float = 0.3) -> dict[str, bool]:
    """Won/lost for a share of the leads, likelier for higher scores."""
    rng = random.Random(seed + 1)
    out = {}
    for lead_id in sorted(scores):
        if rng.random() < known:
            p = 1 / (1 + 2.718281828 ** (-(scores[lead_id] - 55) / 10))
            out[lead_id] = rng.random() < p
    return out


def to_jsonl_line(event: SyntheticEvent) -> bytes:
    topic = LEAD_CAPTURED.name if isinstance(event, LeadCaptured) else LEAD_ENGAGED.name
    return orjson.dumps({"topic": topic, "event": event.model_dump(mode="json")}) + b"\n"


def write_jsonl(events: list[SyntheticEvent], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for event in events:
            f.write(to_jsonl_line(event))


def main(argv: list[str] | None = None) -> int:
    from services.scoring.domain.lead import LeadState, apply_events
    from services.scoring.domain.rubric import load_rubric
    from services.scoring.settings import ScoringSettings

    parser = argparse.ArgumentParser(prog="python -m bench.synthetic", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--outcomes", type=Path, help="also write won/lost outcomes (CSV lead_id,won)")
    args = parser.parse_args(argv)
    events = generate(args.events, seed=args.seed)
    write_jsonl(events, args.out)
    print(f"[synthetic] {len(events)} events -> {args.out}")
    if args.outcomes:
        rubric = load_rubric(ScoringSettings().scoring_rubric_file.read_text())
        leads: dict[str, LeadState] = {}
        apply_events(leads, events, rubric)
        scores = {s.lead_id: s.result.score for s in leads.values() if s.result is not None}
        outcomes = outcomes_for(scores, seed=args.seed)
        args.outcomes.parent.mkdir(parents=True, exist_ok=True)
        with args.outcomes.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["lead_id", "won"])
            for lead_id, won in outcomes.items():
                writer.writerow([lead_id, "true" if won else "false"])
        print(f"[synthetic] {len(outcomes)} outcomes -> {args.outcomes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
