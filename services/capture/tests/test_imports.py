"""List imports: the pure parts (mapping, reading a file, the fate of a row) and the
handlers on the fake unit of work with capture's in-memory stores, driven through the
registry's clocked "imports" job."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.capture import handlers
from services.capture.domain.imports import (
    BadImport,
    RawRow,
    Rejected,
    Valid,
    check_mapping,
    decide,
    file_format,
    read_rows,
)
from services.capture.handlers import CaptureDeps, Upload, registry
from services.capture.tests.fakes import InMemoryImports, InMemoryLeads
from shared.events import LeadCaptured, LeadProfile, LeadSource
from shared.testing import FakeKeyTable, FakeUnitOfWork, FakeUnits

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
COLUMNS = {"email": "E-mail", "name": "Name", "company": "Company", "country": "Country", "consent": "Opt-in",
           "title": "Title"}
HEADER = "E-mail,Name,Company,Country,Opt-in,Title\n"


def capture(chunk_rows: int = 500) -> tuple[CaptureDeps, InMemoryLeads, InMemoryImports]:
    leads, imports = InMemoryLeads(clock=lambda: T0), InMemoryImports(clock=lambda: T0)
    leads.campaigns["expo"] = {"campaign_id": "expo", "name": "expo", "type": "event", "version": 1,
                               "defined_at": T0}
    deps = CaptureDeps(leads=leads, imports=imports, keys=FakeKeyTable(), clock=lambda: T0,
                       import_chunk_rows=chunk_rows)
    return deps, leads, imports


# --------------------------------------------------------------------------- the pure parts


def test_a_mapping_names_lead_fields_and_maps_every_required_one() -> None:
    assert check_mapping(COLUMNS) == []
    problems = dict(check_mapping({"email": "E", "name": "N", "company": "C", "shoe_size": "S", "campaign": "X"}))
    assert "is no lead field" in problems["mapping.shoe_size"]
    assert problems["mapping.campaign"] == "is set by the import, not by a column"
    assert problems["mapping.country"] == problems["mapping.consent"] == "is required: map it to a column"


def test_the_format_is_told_by_name_or_content_type() -> None:
    assert file_format("scans.CSV", None) == "csv"
    assert file_format("x", "text/csv; charset=utf-8") == "csv"
    assert file_format("export.jsonl", None) == "jsonl"
    assert file_format("list.xlsx", "application/vnd.ms-excel") is None
    assert file_format("brochure.pdf", "text/csv") is None


def test_csv_rows_keep_their_line_numbers_through_quoted_newlines_and_blank_lines() -> None:
    text = HEADER + 'a@x.com,"Ann\nAnders",Acme,DE,yes,\n\nb@x.com,Bo,Beta,FR,no\n'
    rows = read_rows(text.encode(), "csv", COLUMNS)
    assert [r.line for r in rows] == [2, 5]
    assert rows[0].values is not None and rows[0].values["Name"] == "Ann\nAnders"
    assert rows[1].values is None and rows[1].problem == ("row", "has 5 fields; the header has 6")


def test_a_csv_without_a_mapped_column_or_that_is_no_text_is_refused() -> None:
    with pytest.raises(BadImport) as missing:
        read_rows(b"E-mail,Name\n", "csv", COLUMNS)
    assert ("mapping.company", "column 'Company' is not in the file's header") in missing.value.problems
    with pytest.raises(BadImport) as binary:
        read_rows(b"\xff\xfe\x00garbage", "csv", COLUMNS)
    assert binary.value.problems[0][0] == "file"


def test_jsonl_lines_that_are_no_object_are_rows_with_a_problem() -> None:
    rows = read_rows(b'{"E-mail": "a@x.com"}\nnot json\n[1]\n', "jsonl", COLUMNS)
    assert [(r.line, r.problem) for r in rows] == [(1, None), (2, ("row", "is not valid JSON")),
                                                   (3, ("row", "is not a JSON object"))]


def raw(**values: str) -> RawRow:
    base = {"E-mail": "Ann@X.com", "Name": "Ann", "Company": "Acme", "Country": "DE", "Opt-in": "yes", "Title": ""}
    return RawRow(7, {**base, **values})


def test_a_row_becomes_the_lead_post_v1_leads_would_accept() -> None:
    decision = decide(raw(), COLUMNS, "list_import", "expo", T0, 300)
    assert isinstance(decision, Valid)
    assert (decision.lead.email, decision.lead.consent, decision.lead.title) == ("Ann@x.com", True, "")
    assert (decision.lead.source, decision.lead.campaign, decision.occurred_at) == (LeadSource.LIST_IMPORT, "expo", T0)


@pytest.mark.parametrize(("change", "field"), [
    ({"E-mail": "not-an-email"}, "email"), ({"Country": "Germany"}, "country"), ({"Name": ""}, "name"),
    ({"Opt-in": "maybe"}, "consent"), ({"Company": "x" * 5000}, "company")])
def test_a_row_the_post_would_refuse_is_rejected_naming_the_field(change: dict[str, str], field: str) -> None:
    decision = decide(raw(**change), COLUMNS, "list_import", "expo", T0, 300)
    assert isinstance(decision, Rejected)
    assert decision.line == 7 and [f for f, _ in decision.problems] == [field]


def test_a_row_dated_in_the_future_is_rejected() -> None:
    decision = decide(raw(When="2027-01-01T00:00:00Z"), {**COLUMNS, "occurred_at": "When"}, "list_import", "expo",
                      T0, 300)
    assert decision == Rejected(7, [("occurred_at", "is in the future")])


# --------------------------------------------------------------------------- the handlers

CSV = (HEADER
       + "ann@x.com,Ann,Acme,DE,yes,CTO\n"        # 2 new
       + "bad-email,Bo,Beta,FR,no,\n"             # 3 rejected: email
       + "known@x.com,Kim,Known,US,yes,\n"        # 4 known person
       + "ANN@x.com,Ann A.,Acme,DE,yes,\n"        # 5 duplicate within the file
       + "cy@x.com,Cy,Gamma,GB,yes\n"             # 6 rejected: field count
       + "di@x.com,Di,Delta,SE,no,\n").encode()   # 7 new


async def run_to_end(deps: CaptureDeps) -> FakeUnits:
    units = FakeUnits()
    job = next(p for p in registry(deps).periodic if p.name == "imports")
    await job.run(units)
    return units


async def test_an_import_captures_each_valid_row_once_and_reports_the_rest() -> None:
    deps, leads, imports = capture(chunk_rows=2)
    leads.leads["known"] = {"lead_id": "known", "email_norm": "known@x.com", "profile": LeadProfile(
        email="known@x.com", name="Kim", company="Known", country="US").model_dump(mode="json"), "capture_count": 1,
        "sources": ["web_form"], "campaigns": [], "last_captured_at": T0}
    started = await handlers.start_import(deps, FakeUnitOfWork(), Upload.of(CSV, "csv", "list_import", "expo", COLUMNS))
    assert not started.existing
    units = await run_to_end(deps)
    imp = imports.imports[started.import_id]
    assert (imp["status"], imp["position"], imp["total_rows"]) == ("done", 6, 6)
    assert {k: imp[k] for k in ("accepted", "rejected", "new_leads", "known_people", "duplicates")} == {
        "accepted": 4, "rejected": 2, "new_leads": 2, "known_people": 1, "duplicates": 1}
    assert len(units.opened) == 4, "the records validated in one transaction, the leads two at a time, then none left"
    captured = [e for u in units.opened for e in u.of(LeadCaptured)]
    assert sorted(e.profile.email for e in captured) == ["ann@x.com", "di@x.com", "known@x.com"]
    assert all(e.campaign == "expo" and e.source == LeadSource.LIST_IMPORT for e in captured)
    report = await imports.rejections(None, started.import_id)
    assert [(r["line"], r["field"]) for r in report] == [(3, "email"), (6, "row")]


async def test_the_same_file_again_is_the_same_import_and_adds_nothing() -> None:
    deps, leads, imports = capture()
    upload = Upload.of(CSV, "csv", "list_import", "expo", COLUMNS)
    first = await handlers.start_import(deps, FakeUnitOfWork(), upload)
    await run_to_end(deps)
    again = await handlers.start_import(deps, FakeUnitOfWork(), upload)
    units = await run_to_end(deps)
    assert again.existing and again.import_id == first.import_id
    assert len(imports.imports) == 1 and units.opened[0].events() == []
    assert len(leads.captures) == 3


async def test_a_rerun_chunk_after_a_crash_adds_no_capture() -> None:
    """A chunk whose transaction was lost is run again; its rows' keys make captures it
    had made (had it committed) answers, not new leads."""
    deps, leads, imports = capture(chunk_rows=10)
    started = await handlers.start_import(deps, FakeUnitOfWork(), Upload.of(CSV, "csv", "list_import", "expo", COLUMNS))
    kept = list(imports.stored[started.import_id])
    await run_to_end(deps)
    # as if the chunks' commits (positions, people met, the records' removal) had not happened
    imports.imports[started.import_id].update(status="running", position=0, captured_line=0)
    imports.people.clear()
    imports.stored[started.import_id] = kept
    units = await run_to_end(deps)
    assert imports.imports[started.import_id]["status"] == "done"
    assert len(units.opened) >= 2, "validated again, then captured again"
    assert len(leads.captures) == 3 and all(u.events() == [] for u in units.opened)


async def test_bad_uploads_name_the_field_and_reason() -> None:
    deps, _, _ = capture()
    with pytest.raises(handlers.UnknownCampaign):
        await handlers.start_import(deps, FakeUnitOfWork(), Upload.of(CSV, "csv", "list_import", "nope", COLUMNS))
    with pytest.raises(BadImport) as unmapped:
        await handlers.start_import(deps, FakeUnitOfWork(), Upload.of(CSV, "csv", "list_import", "expo", None))
    assert unmapped.value.problems == [("mapping", "none given, and none saved for source 'list_import'")]
    with pytest.raises(BadImport) as unknown:
        await handlers.start_import(deps, FakeUnitOfWork(), Upload.of(CSV, "csv", "list_import", "expo",
                                                                   {**COLUMNS, "shoe": "Title"}))
    assert unknown.value.problems[0][0] == "mapping.shoe"
    small = CaptureDeps(leads=deps.leads, imports=deps.imports, keys=deps.keys, clock=lambda: T0, import_max_rows=5)
    with pytest.raises(BadImport) as too_many:
        await handlers.start_import(small, FakeUnitOfWork(), Upload.of(CSV, "csv", "list_import", "expo", COLUMNS))
    assert too_many.value.problems[0] == ("file", "has more than 5 rows; at most 5 are imported at once")


async def test_a_saved_mapping_serves_later_uploads_from_its_source() -> None:
    deps, _, imports = capture()
    with pytest.raises(BadImport):
        await handlers.save_mapping(deps, FakeUnitOfWork(), "list_import", {"email": "E-mail"})
    await handlers.save_mapping(deps, FakeUnitOfWork(), "list_import", COLUMNS)
    started = await handlers.start_import(deps, FakeUnitOfWork(), Upload.of(CSV, "csv", "list_import", "expo", None))
    assert imports.imports[started.import_id]["columns"] == COLUMNS


async def test_the_import_job_runs_again_at_once_while_an_import_is_running_and_waits_its_clock_after() -> None:
    deps, _, _ = capture(chunk_rows=2)
    job = next(p for p in registry(deps).periodic if p.name == "imports")
    assert job.next_due_in is not None
    assert await job.next_due_in(FakeUnits()) is None, "nothing to import: the clock's fallback poll"
    await handlers.start_import(deps, FakeUnitOfWork(), Upload.of(CSV, "csv", "list_import", "expo", COLUMNS))
    assert await job.next_due_in(FakeUnits()) == 0.0, "a running import: no pause between the worker's windows"
    await job.run(FakeUnits())
    assert await job.next_due_in(FakeUnits()) is None


async def test_every_records_fate_is_counted_and_reported_before_the_first_lead_is_captured() -> None:
    deps, leads, imports = capture(chunk_rows=2)
    started = await handlers.start_import(deps, FakeUnitOfWork(), Upload.of(CSV, "csv", "list_import", "expo", COLUMNS))
    validation = FakeUnitOfWork()
    imp = await imports.next_running(None)
    assert imp is not None
    await handlers.import_chunk(deps, validation, imp)
    progress = imports.imports[started.import_id]
    assert {k: progress[k] for k in ("position", "accepted", "rejected", "duplicates", "new_leads")} == {
        "position": 6, "accepted": 4, "rejected": 2, "duplicates": 1, "new_leads": 0}
    assert [(r["line"], r["field"]) for r in await imports.rejections(None, started.import_id)] == [
        (3, "email"), (6, "row")]
    assert validation.events() == [] and not leads.captures, "no lead yet: they follow, a chunk at a time"
    assert sorted(imports.kept[started.import_id]) == [2, 4, 7]  # the first of each person, by line


async def test_records_validated_in_small_chunks_come_to_the_same_counts_report_and_leads() -> None:
    """With chunks of two records (a duplicate's person kept by an earlier chunk) the
    outcome is the one a single chunk gives."""
    deps, leads, imports = capture(chunk_rows=2)
    small = CaptureDeps(leads=leads, imports=imports, keys=deps.keys, clock=lambda: T0, import_chunk_rows=2,
                        import_validate_rows=2)
    upload = Upload.of(CSV, "csv", "list_import", "expo", COLUMNS)
    started = await handlers.start_import(small, FakeUnitOfWork(), upload)
    units = await run_to_end(small)
    imp = imports.imports[started.import_id]
    assert {k: imp[k] for k in ("status", "position", "accepted", "rejected", "new_leads", "duplicates")} == {
        "status": "done", "position": 6, "accepted": 4, "rejected": 2, "new_leads": 3, "duplicates": 1}
    assert [(r["line"], r["field"]) for r in await imports.rejections(None, started.import_id)] == [
        (3, "email"), (6, "row")]
    captured = [e for u in units.opened for e in u.of(LeadCaptured)]
    assert sorted(e.profile.email for e in captured) == ["ann@x.com", "di@x.com", "known@x.com"]
