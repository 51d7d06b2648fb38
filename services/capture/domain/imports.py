"""List imports, the pure part: which lead field each column fills (a mapping), how a
file (CSV or JSONL) reads as rows, and what becomes of each row. A row is judged by
:class:`LeadIn`, the very model ``POST /v1/leads`` validates with, so a row is valid
exactly when the same lead posted alone would be."""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, Literal

import orjson
from pydantic import ValidationError

from services.capture.domain.lead_input import LeadIn
from services.capture.domain.leads import InTheFuture, when_it_happened

Format = Literal["csv", "jsonl"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl")

# The import names source and campaign for every row; the key is derived from the row's place.
NOT_MAPPABLE = frozenset({"source", "campaign", "idempotency_key"})
FIELDS = frozenset(LeadIn.model_fields) - NOT_MAPPABLE
REQUIRED = frozenset(name for name, f in LeadIn.model_fields.items() if f.is_required()) - NOT_MAPPABLE

Problem = tuple[str, str]  # field, reason


class BadImport(ValueError):
    """An upload that cannot be imported at all: each problem names a field and why."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{f}: {r}" for f, r in problems))
        self.problems = problems


def check_mapping(columns: Mapping[str, str]) -> list[Problem]:
    """What is wrong with a mapping (lead field -> column name): fields no lead has (or
    that the import itself sets), and required fields it leaves unmapped."""
    problems: list[Problem] = []
    for name, column in columns.items():
        if name in NOT_MAPPABLE:
            problems.append((f"mapping.{name}", "is set by the import, not by a column"))
        elif name not in FIELDS:
            problems.append((f"mapping.{name}", f"is no lead field; lead fields are {', '.join(sorted(FIELDS))}"))
        elif not column.strip():
            problems.append((f"mapping.{name}", "names no column"))
    problems += [(f"mapping.{name}", "is required: map it to a column") for name in sorted(REQUIRED - set(columns))]
    return problems


def file_format(filename: str | None, content_type: str | None) -> Format | None:
    """CSV or JSONL, by the file's name (or, for a name without an extension, its
    content type), else None."""
    name = (filename or "").lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if "." in name.rpartition("/")[2]:
        return None  # named as something else: a .pdf sent as text/csv is no list
    kind = (content_type or "").partition(";")[0].strip()
    if kind == "text/csv":
        return "csv"
    if kind in ("application/jsonl", "application/x-ndjson"):
        return "jsonl"
    return None


def file_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


PIECE_BYTES = 1 << 20


def stream_hash(stream: BinaryIO) -> str:
    """The sha256 of a file read from ``stream`` piece by piece (never whole), which is
    left at its start again for reading."""
    digest = hashlib.sha256()
    stream.seek(0)
    while piece := stream.read(PIECE_BYTES):
        digest.update(piece)
    stream.seek(0)
    return digest.hexdigest()


def import_id_for(sha256: str, source: str, campaign: str) -> str:
    """The one import of this file for this source and campaign (uploading it again is the same import)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"leadbridge:import:{sha256}:{source}:{campaign}"))


def row_key(import_id: str, line: int) -> str:
    """The idempotency key of a row's capture: re-running a row adds nothing."""
    return f"import:{import_id}:{line}"


@dataclass(frozen=True)
class RawRow:
    """A record of the file: where it starts (1-based line) and its values by column,
    or the problem that makes it no record."""

    line: int
    values: dict[str, Any] | None
    problem: Problem | None = None


def read_rows(content: bytes, fmt: Format, columns: Mapping[str, str]) -> list[RawRow]:
    """The records of a file held in memory (a small one: see :func:`stream_rows`)."""
    return list(stream_rows(io.BytesIO(content), fmt, columns))


def stream_rows(stream: BinaryIO, fmt: Format, columns: Mapping[str, str]) -> Iterator[RawRow]:
    """The file's records, read from ``stream`` as they come (a file of a million rows is
    never held whole). Raises :class:`BadImport` for a file that is not UTF-8 text or
    holds NUL, or a CSV whose header lacks a mapped column; the records before the
    problem have been yielded by then, so a caller keeping them must undo that."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        lines = _text_lines(text)
        yield from (_stream_csv(lines, columns) if fmt == "csv" else _stream_jsonl(lines))
    finally:
        text.detach()  # the caller's stream stays open


def _text_lines(text: io.TextIOWrapper) -> Iterator[str]:
    number = 0
    try:
        for line in text:
            number += 1
            if "\x00" in line:
                raise BadImport([("file", f"must not contain the NUL character (line {number})")])
            yield line
    except UnicodeDecodeError:
        raise BadImport([("file", f"is not UTF-8 text (after line {number})")]) from None


def _stream_csv(lines: Iterator[str], columns: Mapping[str, str]) -> Iterator[RawRow]:
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise BadImport([("file", "is empty: a CSV starts with a header row")]) from None
    except csv.Error as e:
        raise BadImport([("file", f"is not CSV: {e}")]) from None
    header = [h.strip() for h in header]
    missing = [(f"mapping.{name}", f"column {column!r} is not in the file's header")
               for name, column in columns.items() if column not in header]
    if missing:
        raise BadImport(missing)
    start = reader.line_num + 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield RawRow(start, None, ("row", f"is not CSV: {e}"))
            start = reader.line_num + 1
            continue
        if record:  # a blank line is no record
            if len(record) != len(header):
                yield RawRow(start, None, ("row", f"has {len(record)} fields; the header has {len(header)}"))
            else:
                yield RawRow(start, dict(zip(header, record, strict=True)))
        start = reader.line_num + 1


def _stream_jsonl(lines: Iterator[str]) -> Iterator[RawRow]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            yield RawRow(number, None, ("row", "is not valid JSON"))
            continue
        if not isinstance(value, dict):
            yield RawRow(number, None, ("row", "is not a JSON object"))
        else:
            yield RawRow(number, value)


@dataclass(frozen=True)
class Rejected:
    line: int
    problems: list[Problem]


@dataclass(frozen=True)
class Valid:
    line: int
    lead: LeadIn
    occurred_at: datetime
    values: Mapping[str, Any]  # the record's values by column, as read (what the import keeps)


def mapped_lead(values: Mapping[str, Any], columns: Mapping[str, str], source: str, campaign: str) -> LeadIn:
    """The lead a record's mapped columns make (an empty cell is an absent field),
    validated as ``POST /v1/leads`` validates one; raises pydantic's ValidationError."""
    body: dict[str, Any] = {name: values[column] for name, column in columns.items()
                            if values.get(column) not in (None, "")}
    body.update(source=source, campaign=campaign)
    return LeadIn.model_validate(body)


def decide(row: RawRow, columns: Mapping[str, str], source: str, campaign: str, now: datetime,
           max_skew_s: float) -> Rejected | Valid:
    """What becomes of a row: the lead its mapped columns make (an empty cell is an
    absent field), validated as ``POST /v1/leads`` validates one, or why not."""
    if row.values is None:
        assert row.problem is not None
        return Rejected(row.line, [row.problem])
    try:
        lead = mapped_lead(row.values, columns, source, campaign)
    except ValidationError as bad:
        return Rejected(row.line, [(".".join(str(p) for p in e["loc"]) or "row", e["msg"]) for e in bad.errors()])
    try:
        return Valid(row.line, lead, when_it_happened(lead.occurred_at, now, max_skew_s), row.values)
    except InTheFuture:
        return Rejected(row.line, [("occurred_at", "is in the future")])


Outcome = Literal["new_lead", "known_person", "duplicate_in_file"]
