"""The one codec: an event's JSON body plus CloudEvents binary-mode headers.

On the wire a record is ``key = lead id``, ``value = JSON of the event`` and headers
``ce_id``, ``ce_source``, ``ce_type``, ``ce_specversion``, ``ce_time`` and
``content-type`` (CloudEvents Kafka protocol binding, binary content mode).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal, TypeVar

from shared.events import Encoded, Event

E = TypeVar("E", bound=Event)

Headers = list[tuple[str, bytes]]

CONTENT_TYPE = b"application/json"


class DecodeError(ValueError):
    """A record's bytes are not a valid event for its topic."""


__all__ = ["DeadLetterReason", "DecodeError", "Encoded", "cloudevent_headers", "dead_letter_headers", "decode",
           "encode", "event_source", "header_map", "without_dead_letter_headers"]


def encode(event: Event) -> bytes:
    # pydantic's own (Rust) JSON serialiser: no intermediate dict.
    return event.model_dump_json().encode()


def decode(model: type[E], value: bytes | None) -> E:
    if value is None:
        raise DecodeError(f"empty record where a {model.__name__} was expected")
    try:
        return model.model_validate_json(value)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
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
