"""shared.audit: what an entry says about a change, and that it travels with the unit of work."""

from __future__ import annotations

from shared import audit
from shared.events import AuditChange, AuditRecorded
from shared.testing import FakeUnitOfWork

MIA = audit.Actor("mkt-1", "Mia Marketing", ("marketing",))


def test_a_diff_names_each_changed_place_and_nothing_else() -> None:
    before = {"teams": [{"id": "us", "reps": [{"id": "ann", "capacity": 5}]}], "fallback": "queue"}
    after = {"teams": [{"id": "us", "reps": [{"id": "ann", "capacity": 7}, {"id": "bo", "capacity": 3}]}],
             "fallback": "queue", "note": "new"}
    assert audit.diff(before, after) == [
        AuditChange(path="teams.0.reps.0.capacity", before=5, after=7),
        AuditChange(path="teams.0.reps.1", before=None, after={"id": "bo", "capacity": 3}),
        AuditChange(path="note", before=None, after="new"),
    ]
    assert audit.diff(after, after) == []
    assert audit.diff(None, {"a": 1}) == [AuditChange(path="", before=None, after={"a": 1})]


def test_record_emits_who_did_what_in_the_unit_of_work() -> None:
    uow = FakeUnitOfWork()
    audit.record(uow, MIA, "rules.changed", "rules", "rules", before={"x": 1}, after={"x": 2},
                 details={"version": 3})
    [entry] = uow.of(AuditRecorded)
    assert (entry.actor, entry.actor_name, entry.actor_roles) == ("mkt-1", "Mia Marketing", ("marketing",))
    assert (entry.action, entry.subject_type, entry.subject_id) == ("rules.changed", "rules", "rules")
    assert entry.changes == (AuditChange(path="x", before=1, after=2),) and entry.details == {"version": 3}


def test_an_entry_caused_by_an_event_has_the_same_id_on_a_rerun() -> None:
    first, second = FakeUnitOfWork(), FakeUnitOfWork()
    for uow in (first, second):
        audit.record(uow, audit.system("erasure"), "lead.erased", "lead", "lead-1", cause_id="evt-1")
    assert first.of(AuditRecorded)[0].event_id == second.of(AuditRecorded)[0].event_id
    assert first.of(AuditRecorded)[0].actor == "system:erasure"
