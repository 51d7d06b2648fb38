"""Erasure end to end (GDPR), on the real broker, database and Mailpit: a person with
captures, an activity, scores, an assignment, nurture email and a collateral view is
exported (every service's part in one document), then erased; afterwards no table of any
service's schema and no record readable from any of the run's topics (dead letters
included, read from the beginning by a fresh consumer, opened with every key there is)
holds their email, name or phone, and the receipt lists every service."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from typing import Any

import asyncpg
import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient

from bench.leads import grade_c
from services.content.domain import files
from shared import topics
from shared.events import LeadCaptured, SubjectErasureCompleted
from shared.privacy import PRIVACY_SERVICES
from tests import harness
from tests.e2e.test_content_api import published_item

pytestmark = pytest.mark.e2e


def tables_holding(ns: harness.Namespace, needles: Iterable[str]) -> dict[str, int]:
    """Every table of every service's schema (and the key table's) whose rows, as text,
    hold one of ``needles`` (case-insensitive): ``schema.table`` -> how many rows."""
    patterns = [f"%{n}%" for n in needles]

    async def scan() -> dict[str, int]:
        conn = await asyncpg.connect(ns.database_url)
        try:
            tables = await conn.fetch(
                "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
                "AND table_schema = ANY($1::text[])", [*harness.SERVICES, "pii"])
            assert {t["table_schema"] for t in tables} >= {*PRIVACY_SERVICES, "pii"}
            found = {}
            for t in tables:
                n = await conn.fetchval(f'SELECT count(*) FROM "{t["table_schema"]}"."{t["table_name"]}" AS r '
                                        "WHERE r::text ILIKE ANY($1::text[])", patterns)
                if n:
                    found[f"{t['table_schema']}.{t['table_name']}"] = n
            return found
        finally:
            await conn.close()

    return asyncio.run(scan())


def enrolment_states(ns: harness.Namespace, lead_id: str) -> list[tuple[str, str | None]]:
    """The person's nurture enrolments: (status, exit reason)."""
    async def read() -> list[tuple[str, str | None]]:
        conn = await asyncpg.connect(ns.database_url)
        try:
            rows = await conn.fetch("SELECT status, exit_reason FROM nurture.enrollments WHERE lead_id = $1", lead_id)
            return [(r["status"], r["exit_reason"]) for r in rows]
        finally:
            await conn.close()

    return asyncio.run(read())


def every_record(ns: harness.Namespace) -> list[Any]:
    """Every record of every topic of the run (dead letters too), from the beginning, by a
    consumer that never read them before."""
    admin = KafkaAdminClient(bootstrap_servers=ns.bootstrap)
    try:
        names = [t for t in admin.list_topics() if t.startswith(ns.topic_prefix)]
    finally:
        admin.close()
    assert {ns.topic(s) for s in topics.ALL} | {ns.topic(s) + topics.DLQ_SUFFIX for s in topics.ALL} <= set(names)
    consumer = KafkaConsumer(bootstrap_servers=ns.bootstrap, group_id=None, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(t, p) for t in names for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        records: list[Any] = []
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            for batch in consumer.poll(timeout_ms=1000).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def holding(records: Iterable[Any], needles: Iterable[str]) -> list[str]:
    """Where records hold a needle: in their raw key, value or headers, or in the event a
    consumer opens from them (with every key the key table still has)."""
    wanted = [n.lower().encode() for n in needles]
    found = []
    for r in records:
        raw = b"|".join([r.key or b"", r.value or b"", *(k.encode() + v for k, v in r.headers or [])]).lower()
        if any(n in raw for n in wanted):
            found.append(f"{r.topic}@{r.partition}:{r.offset} (raw)")
    return found


def opened_holding(ns: harness.Namespace, records: list[Any], needles: Iterable[str]) -> list[str]:
    """The events a consumer opens from the records of the topics with personal fields
    that hold a needle."""
    wanted = [n.lower() for n in needles]
    found = []
    for spec in topics.ALL:
        if not spec.value_model.PERSONAL:
            continue
        mine = [r for r in records if r.topic in (ns.topic(spec), ns.topic(spec) + topics.DLQ_SUFFIX)]
        for event in harness.opened(ns, mine, spec.value_model, skip_invalid=True):  # (other tests' poison)
            if any(n in event.model_dump_json().lower() for n in wanted):
                found.append(f"{spec.name}: {event.event_id}")
    return found


def test_an_erased_person_is_gone_from_every_table_and_every_topic(stack: harness.Stack,
                                                                    mailpit: harness.Mailpit) -> None:
    run = uuid.uuid4().hex[:8]
    email, name, phone = f"zelda.{run}@erasure.example", f"Zelda Quarrington {run}", f"+44 20 7946 {run[:4]}"
    needles = (email, name, phone)
    person = grade_c(email=email, name=name, phone=phone)

    # captured twice (a web form, then a badge scan at the expo), with an activity
    with stack.client("capture") as c:
        first = c.post("/v1/leads", json=person)
        assert first.status_code == 202, first.text
        lead_id = first.json()["lead_id"]
        again = c.post("/v1/leads", json={**person, "source": "badge_scan", "campaign": "expo-2026"})
        assert (again.status_code, again.json()["lead_id"]) == (202, lead_id), again.text
        r = c.post(f"/v1/leads/{lead_id}/activities",
                   json={"behaviour": "page_visit", "detail": {"page": "/pricing", "asked_for": name}})
        assert r.status_code == 202, r.text
    # graded C, so routing hands it to nurture, whose track emails the person at once
    harness.eventually(lambda: mailpit.search(f"to:{email}"), timeout_s=60, interval_s=1, what="nurture's email")
    with stack.client("routing") as c:
        harness.eventually(lambda: c.get(f"/v1/leads/{lead_id}/routing").json().get("assignments"),
                           what="routing's assignment")
    # a rep shares a personalised case study; the person opens it
    with stack.client("content") as c:
        lead = harness.eventually(lambda: (r := c.get(f"/v1/leads/{lead_id}/collateral")).status_code == 200
                                  and r.json(), what="content seeing the lead graded")
    item_id = published_item(stack, lead["segment"], b"<p>Dear {{ prospect }} at {{ company }}</p>", files.HTML)
    with stack.client("content") as c:
        shared = c.post(f"/v1/collateral/{item_id}/shares", json={"lead_id": lead_id, "rep_id": "rex"})
        assert shared.status_code == 201, shared.text
        opened = c.get(shared.json()["link"])
        assert opened.status_code == 200 and name.encode() in opened.content
    with stack.client("scoring") as s:
        harness.eventually(lambda: any("content_download" in line["rule"]
                                       for line in s.get(f"/v1/leads/{lead_id}/score").json()["ledger"]),
                           what="scoring counting the view")

    # the export: every service's part, in one document
    with stack.client("capture") as c:
        r = c.get(f"/v1/subjects/{email}/export")
        assert r.status_code == 200, r.text
        export = r.json()
    assert export["lead_id"] == lead_id and set(export["services"]) == set(PRIVACY_SERVICES)
    document = orjson.dumps(export).decode()
    for part in export["services"].values():
        assert any(part.values()), part  # each service holds something about the person
    parts = {s: orjson.dumps(p).decode() for s, p in export["services"].items()}
    assert email in parts["capture"] and email in parts["nurture"] and name in parts["scoring"]
    assert name in parts["routing"] and name in parts["content"] and phone in document
    assert export["services"]["nurture"]["messages"] and export["services"]["content"]["usage"]
    assert len(export["services"]["capture"]["captures"]) == 2

    # before the erasure the scans find the person (they can fail): in the tables, and in
    # the events a consumer opens with the person's key (never in the raw records)
    before = tables_holding(stack.ns, needles)
    assert {"capture.leads", "scoring.leads", "routing.leads", "nurture.contacts", "content.lead_segments"} <= set(
        before), before
    records = every_record(stack.ns)
    assert holding(records, needles) == []  # personal fields travel sealed
    assert opened_holding(stack.ns, records, needles)

    assert ("active", None) in enrolment_states(stack.ns, lead_id)  # the track goes on (its next step waits)

    with stack.client("capture") as c:
        r = c.post("/v1/erasures", json={"email": email})
        assert r.status_code == 202, r.text
        erasure = r.json()
        assert erasure["lead_id"] == lead_id
        # the key is destroyed at once: the person's captures on Kafka read as erased
        captured = [e for e in harness.read_events(stack.ns, topics.LEAD_CAPTURED, skip_invalid=True)
                    if isinstance(e, LeadCaptured) and e.lead_id == lead_id]
        assert len(captured) == 2 and {e.profile.email for e in captured} == {"erased@erased.invalid"}
        receipt = harness.eventually(
            lambda: (g := c.get(f"/v1/erasures/{erasure['erasure_id']}").json())["status"] == "complete" and g,
            timeout_s=60, interval_s=0.5, what="every service confirming the erasure")
    assert {x["service"] for x in receipt["confirmations"]} == set(PRIVACY_SERVICES) and receipt["waiting_for"] == []
    receipts = [e for e in harness.read_events(stack.ns, topics.SUBJECT_ERASURE_COMPLETED)
                if isinstance(e, SubjectErasureCompleted) and e.erasure_id == erasure["erasure_id"]]
    assert len(receipts) == 1 and {c.service for c in receipts[0].confirmations} == set(PRIVACY_SERVICES)

    assert tables_holding(stack.ns, needles) == {}
    # consent went with the person: the track stopped
    assert enrolment_states(stack.ns, lead_id) and all(
        state == ("exited", "consent-withdrawn") for state in enrolment_states(stack.ns, lead_id))
    records = every_record(stack.ns)
    assert holding(records, needles) == []
    assert opened_holding(stack.ns, records, needles) == []
    # and the anonymous facts stay: the campaign still counts the lead, the item its view
    with stack.client("content") as c:
        assert c.get(f"/v1/collateral/{item_id}").json()["usage"] == {"shared": 1, "viewed": 1}
