"""The one codec: events to Kafka records and back, per the CloudEvents Kafka
protocol binding (version 1.0).

The services write **binary content mode**: ``key = lead id``, ``value = JSON of the
event`` and headers ``ce_specversion``, ``ce_id``, ``ce_source``, ``ce_type``,
``ce_time`` and ``content-type: application/json``.

Every consumer reads records through :func:`decode_record`, which also accepts what
producers other than the services send (docs/PRODUCERS.md is the producer's guide):

- **structured content mode**: ``content-type: application/cloudevents+json`` and the
  value a JSON envelope (``specversion``, ``id``, ``source``, ``type``, optional
  ``time``) whose ``data`` (or ``data_base64``) is the event body;
- **binary content mode**: ``ce_specversion`` present, so ``ce_id``, ``ce_source`` and
  ``ce_type`` are required, as the CloudEvents spec says;
- a **plain record** (no ``ce_specversion``): the value is the whole event; any
  ``ce_id``/``ce_type``/``ce_time`` headers present are used as below.

Rules, the same for every service because they live here only:

- the event's type (``ce_type`` or the envelope's ``type``) must be the topic's
  (``Event.TYPE``); another type is refused;
- the event id is the body's ``event_id``, else the CloudEvents id: a record sent twice
  has one id, so the inboxes drop the second copy. A body without ``event_id`` and
  without a CloudEvents id is refused (a fresh id on every read would handle a
  redelivered record again). A body ``event_id`` that differs from the CloudEvents id
  is refused: one event has one id, and picking either could silently drop distinct
  events as duplicates of one another;
- ``occurred_at``, when the body has none, is the CloudEvents ``time``, else the
  record's Kafka timestamp (the same on every read and in every service);
- whatever else follows from the body is filled by the model (``Event.fill_omitted``:
  a ``lead-captured`` without ``lead_id`` gets the person's, from the email).

A refused record raises :class:`DecodeError`; the runtime dead-letters it with that
message in ``dlq_error``. The official CloudEvents SDK is not used on this path: it
invents a random id when ``ce_id`` is missing (the very bug above) and costs a JSON
parse and an attribute object per record on every hop, while the services' own
records take one pydantic validation here.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import orjson

from shared import pii
from shared.events import Encoded, Event

E = TypeVar("E", bound=Event)

Headers = list[tuple[str, bytes]]

CONTENT_TYPE = b"application/json"
SPECVERSION = "1.0"
STRUCTURED_PREFIX = "application/cloudevents"
STRUCTURED_JSON = "application/cloudevents+json"


class DecodeError(ValueError):
    """A record's bytes are not a valid event for its topic."""


class EventTooLarge(ValueError):
    """An event whose record would be larger than the service lets it publish. Raised
    before the unit of work that emits it commits: refused, never accepted and then
    stuck in the outbox (the broker would refuse it for ever)."""

    def __init__(self, event_type: str, size: int, limit: int) -> None:
        super().__init__(f"the {event_type} event it makes would be {size:,} bytes on the wire; "
                         f"the limit is {limit:,}")
        self.event_type, self.size, self.limit = event_type, size, limit


def record_size(key: bytes | None, value: bytes, headers: Headers) -> int:
    """The bytes a record carries (key, value, header names and values): what the
    broker's message size limit counts, give or take a few bytes of framing."""
    return len(key or b"") + len(value) + sum(len(k) + len(v) for k, v in headers)


__all__ = ["DeadLetterReason", "DecodeError", "Encoded", "EventTooLarge", "cloudevent_headers",
           "dead_letter_headers", "decode", "decode_record", "encode", "encode_sealed", "event_source", "header_map",
           "personal_fields", "record_size", "without_dead_letter_headers"]


def encode(event: Event) -> bytes:
    """An event's JSON as it is, personal fields in the clear (what an outside producer
    sends; the services' runtime seals them, :func:`encode_sealed`)."""
    # pydantic's own (Rust) JSON serialiser: no intermediate dict.
    return event.model_dump_json().encode()


def personal_fields(event: Event | Encoded[Any]) -> dict[str, Any]:
    """The JSON fields of an event with personal fields, to seal (:func:`encode_sealed`)."""
    if isinstance(event, Encoded):
        if event.fields is not None:
            return event.fields
        return orjson.loads(event.value)  # type: ignore[no-any-return]
    return event.model_dump(mode="json")


def encode_sealed(model: type[Event], fields: dict[str, Any], key: pii.SubjectKey | None) -> bytes:
    """An event's JSON with its personal fields (``model.PERSONAL``) sealed by its
    person's ``key``; with no key (an erased person) they read as erased."""
    return orjson.dumps(pii.seal_fields(model.PERSONAL, fields, key), option=orjson.OPT_UTC_Z)


def decode(model: type[E], value: bytes | None) -> E:
    """A record's value as an event of ``model``, without opening sealed personal fields
    (they read as erased: :func:`decode_record` with the persons' keys opens them)."""
    if model.PERSONAL and pii.has_sealed(value):
        return decode_record(model, value)
    if value is None:
        raise DecodeError(f"empty record where a {model.__name__} was expected")
    try:
        return model.model_validate_json(value)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise DecodeError(f"not a valid {model.__name__}: {exc}") from exc


_NO_KEYS: Mapping[str, pii.SubjectKey] = {}


def decode_record(model: type[E], value: bytes | None, headers: Iterable[tuple[str, bytes]] = (),
                  timestamp_ms: int | None = None, keys: Mapping[str, pii.SubjectKey] = _NO_KEYS) -> E:
    """A consumed record as an event of ``model``, by the rules in the module docstring.
    Its sealed personal fields (:mod:`shared.pii`) are opened with ``keys`` (the persons'
    keys by subject, :func:`pii.subjects_in` says whose are needed); one whose key is
    absent reads as erased, one that does not open is refused."""
    attrs = _cloudevent_headers(headers)
    content_type = attrs.get("content-type", "")
    if content_type[:len(STRUCTURED_PREFIX)].lower() == STRUCTURED_PREFIX:
        return _decode_structured(model, value, content_type, timestamp_ms, keys)
    if "specversion" in attrs:
        _require_attributes(attrs, "ce_")
    if not _is_json(content_type):
        raise DecodeError(f"content-type {content_type!r} is not JSON; the value must be the event as JSON")
    _check_type(model, attrs.get("type"), "ce_type")
    ce_id = attrs.get("id")
    if model.PERSONAL and pii.has_sealed(value):  # opened as fields, before validation
        try:
            sealed = orjson.loads(value or b"")
        except ValueError as exc:
            raise DecodeError(f"not a valid {model.__name__}: {exc}") from exc
        return _complete(model, sealed, ce_id, "ce_id", attrs.get("time"), timestamp_ms, keys)
    event: E | None = None
    first_error: ValueError | None = None
    try:
        event = model.model_validate_json(value) if value is not None else None
    except ValueError as exc:  # perhaps only what an outside producer may omit: see below
        first_error = exc
    if event is not None and _COMPLETE <= event.model_fields_set:
        # The services' own records: a whole event, one validation.
        if ce_id is not None and ce_id != event.event_id:
            raise DecodeError(_id_conflict(event.event_id, ce_id, "ce_id"))
        return event
    if value is None:
        raise DecodeError(f"empty record where a {model.__name__} was expected")
    try:
        data = orjson.loads(value)
    except ValueError:
        raise DecodeError(f"not a valid {model.__name__}: {first_error}") from first_error
    return _complete(model, data, ce_id, "ce_id", attrs.get("time"), timestamp_ms, keys)


_COMPLETE = frozenset({"event_id", "occurred_at"})
_REQUIRED = ("id", "source", "type")
_HEADER_ATTRS = {"ce_id": "id", "ce_type": "type", "ce_source": "source", "ce_specversion": "specversion",
                 "ce_time": "time", "content-type": "content-type"}


def _cloudevent_headers(headers: Iterable[tuple[str, bytes]]) -> dict[str, str]:
    """The CloudEvents attributes this codec reads, from a record's headers (the first
    of each; header names matched case-insensitively). On every record of every hop:
    kept to a dictionary lookup per header."""
    found: dict[str, str] = {}
    attr_of = _HEADER_ATTRS.get
    for name, raw in headers:
        attr = attr_of(name) or attr_of(name.lower())
        if attr is None or attr in found:
            continue
        try:
            found[attr] = raw.decode()
        except AttributeError:  # a client that hands headers over as text
            found[attr] = str(raw)
        except UnicodeDecodeError:
            raise DecodeError(f"header {name} is not UTF-8") from None
    return found


def _require_attributes(attrs: Mapping[str, Any], prefix: str) -> None:
    if attrs.get("specversion") != SPECVERSION:
        raise DecodeError(f"{prefix}specversion {attrs.get('specversion')!r} is not supported; use {SPECVERSION!r}")
    if attrs.get("id") and attrs.get("source") and attrs.get("type"):
        return
    missing = [prefix + a for a in _REQUIRED if not (isinstance(attrs.get(a), str) and attrs[a])]
    if missing:
        raise DecodeError(f"a CloudEvent needs {', '.join(missing)} (required by the CloudEvents spec)")


def _check_type(model: type[Event], ce_type: str | None, where: str) -> None:
    if ce_type is not None and ce_type != model.TYPE:
        raise DecodeError(f"{where} {ce_type!r} is not this topic's event type {model.TYPE!r} ({model.__name__})")


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("", "application/json", "text/json") or media.endswith("+json")


def _id_conflict(body_id: str, ce_id: str, where: str) -> str:
    return (f"the body's event_id {body_id!r} differs from {where} {ce_id!r}; one event has one id "
            "(send the same id in both, or only one of them)")


def _decode_structured(model: type[E], value: bytes | None, content_type: str, timestamp_ms: int | None,
                       keys: Mapping[str, pii.SubjectKey]) -> E:
    if content_type.split(";", 1)[0].strip().lower() != STRUCTURED_JSON:
        raise DecodeError(f"content-type {content_type!r}: only the JSON event format ({STRUCTURED_JSON}) is "
                          "accepted in structured mode")
    try:
        envelope = orjson.loads(value or b"")
    except ValueError as exc:
        raise DecodeError(f"structured-mode value is not JSON: {exc}") from exc
    if not isinstance(envelope, dict):
        raise DecodeError("structured-mode value must be a JSON object (a CloudEvent)")
    _require_attributes(envelope, "")
    _check_type(model, envelope["type"], "type")
    if not _is_json(str(envelope.get("datacontenttype") or "")):
        raise DecodeError(f"datacontenttype {envelope['datacontenttype']!r} is not JSON; data must be the event")
    if "data" in envelope:
        data = envelope["data"]
    elif "data_base64" in envelope:
        try:
            data = orjson.loads(base64.b64decode(envelope["data_base64"], validate=True))
        except (ValueError, TypeError, binascii.Error) as exc:
            raise DecodeError(f"data_base64 is not base64 of a JSON event: {exc}") from exc
    else:
        raise DecodeError(f"a structured-mode {model.__name__} needs data (the event body)")
    time = envelope.get("time")
    return _complete(model, data, envelope["id"], "id", time if isinstance(time, str) else None, timestamp_ms, keys)


def _complete(model: type[E], data: Any, ce_id: str | None, where: str, ce_time: str | None,
              timestamp_ms: int | None, keys: Mapping[str, pii.SubjectKey] = _NO_KEYS) -> E:
    """Validate a body an outside producer wrote, filling what it may omit."""
    if not isinstance(data, dict):
        raise DecodeError(f"not a valid {model.__name__}: the event must be a JSON object")
    if "event_id" in data:
        if ce_id is not None and data["event_id"] != ce_id:
            raise DecodeError(_id_conflict(str(data["event_id"]), ce_id, where))
    elif ce_id is not None:
        data["event_id"] = ce_id
    else:
        raise DecodeError(f"a {model.__name__} needs an id: event_id in the body, or a CloudEvents id "
                          "(ce_id header)")
    if "occurred_at" not in data:
        if ce_time is not None:
            data["occurred_at"] = ce_time
        elif timestamp_ms is not None and timestamp_ms > 0:
            data["occurred_at"] = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    if model.PERSONAL:
        try:
            pii.open_fields(model.PERSONAL, data, model.pii_subject(data), keys)
        except pii.Refused as exc:
            raise DecodeError(f"not a valid {model.__name__}: {exc}") from exc
    model.fill_omitted(data)
    try:
        return model.model_validate(data)
    except ValueError as exc:
        raise DecodeError(f"not a valid {model.__name__}: {exc}") from exc


def event_source(service: str) -> str:
    """The CloudEvents ``source`` of everything a service publishes."""
    return f"leadbridge/{service}"


def cloudevent_headers(event: Event | Encoded[Event], source: str) -> Headers:
    model = event.model if isinstance(event, Encoded) else type(event)
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", event.event_id.encode()),
        ("ce_source", source.encode()),
        ("ce_type", model.TYPE.encode()),
        ("ce_time", event.occurred_at.isoformat().encode()),
        ("content-type", CONTENT_TYPE),
    ]


DEAD_LETTER_PREFIX = "dlq_"

# Why a record was dead-lettered: it was not a valid event for its topic, or its
# handler raised.
DeadLetterReason = Literal["decode", "handler"]


def dead_letter_headers(original: Iterable[tuple[str, bytes]], *, topic: str, partition: int, offset: int,
                        reason: DeadLetterReason, error: str, service: str) -> Headers:
    """A dead letter's headers: the original record's own (its CloudEvents headers; any
    ``dlq_*`` of an earlier dead-lettering dropped) plus where it came from and why it
    failed."""
    return [h for h in original if not h[0].startswith(DEAD_LETTER_PREFIX)] + [
        ("dlq_original_topic", topic.encode()),
        ("dlq_original_partition", str(partition).encode()),
        ("dlq_original_offset", str(offset).encode()),
        ("dlq_reason", reason.encode()),
        ("dlq_error", error.encode()),
        ("dlq_service", service.encode()),
    ]


def without_dead_letter_headers(headers: Iterable[tuple[str, bytes]]) -> Headers:
    """A dead letter's headers as the original record had them (what a replay sends)."""
    return [h for h in headers if not h[0].startswith(DEAD_LETTER_PREFIX)]


def header_map(headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None) -> dict[str, str]:
    """Headers as a str→str dict, whatever shape the client library handed us."""
    if not headers:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {k: (v.decode(errors="replace") if isinstance(v, bytes | bytearray) else str(v)) for k, v in items}
