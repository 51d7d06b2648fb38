"""What every service's HTTP edge accepts as input: text of a bounded length, maps of
bounded size, instants PostgreSQL and the rest of the pipeline can hold, country
codes that exist, and nothing a database cannot store.

Pure: pydantic and pycountry only, so request models and domain rules can use it alike.

Two kinds of text never get past an edge (:func:`unsafe_text`): the NUL character
(PostgreSQL's ``text`` and ``jsonb`` cannot hold it; it answered 500) and an unpaired
UTF-16 surrogate (``"\\ud800"`` is valid JSON but not encodable as UTF-8). The
service factory refuses them in every path, query, header and body
(:func:`shared.responses.refuse_unsafe_text`); the types here bound the rest.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import pycountry
from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints
from pydantic_settings import BaseSettings, SettingsConfigDict


def _memoise_email_domain_checks() -> None:
    """Every ``EmailStr`` is checked by email-validator, and 85% of that is the domain's
    IDNA check (a profile of a list import: 100 µs of 124 per row). A list names a
    few thousand domains for a hundred thousand people, so the domain check (a pure
    function of its arguments) is memoised: the same answers, computed once per domain.
    email-validator 2.3 (pinned) calls it through this module global;
    ``shared/tests/test_validation.py`` fails if that moves."""
    module = importlib.import_module("email_validator.validate_email")
    check = module.validate_email_domain_name
    if not hasattr(check, "cache_info"):
        setattr(module, "validate_email_domain_name", functools.lru_cache(maxsize=100_000)(check))  # noqa: B010


_memoise_email_domain_checks()


class FieldLimits(BaseSettings):
    """How long a text field and how large a map may be (``LEADBRIDGE_LIMIT_*``).

    Read once when this module is imported, not per service: the request models are
    declared with these numbers, and so is every service's OpenAPI document. The
    request body as a whole and each emitted event have their own limits
    (``ServiceSettings.max_body_bytes``, ``max_event_bytes``)."""

    model_config = SettingsConfigDict(env_prefix="LEADBRIDGE_LIMIT_", extra="ignore")

    text_chars: int = Field(default=200, ge=1, description="a name, a company, a title, a campaign, a key")
    long_text_chars: int = Field(default=2000, ge=1, description="a note, a summary")
    map_entries: int = Field(default=50, ge=0, description="attributes of a lead, details of an activity")
    map_key_chars: int = Field(default=100, ge=1)
    map_value_chars: int = Field(default=2000, ge=1)


LIMITS = FieldLimits()

Text = Annotated[str, StringConstraints(max_length=LIMITS.text_chars)]
"""Short text: names, companies, titles, campaigns, ids and keys a client chooses."""

LongText = Annotated[str, StringConstraints(max_length=LIMITS.long_text_chars)]
"""Free text a person writes: a follow-up note, a collateral summary."""

MapKey = Annotated[str, StringConstraints(min_length=1, max_length=LIMITS.map_key_chars)]
MapValue = Annotated[str, StringConstraints(max_length=LIMITS.map_value_chars)]

TextMap = Annotated[dict[MapKey, MapValue], Field(max_length=LIMITS.map_entries)]
"""Free-form string pairs a source attaches (a lead's attributes, an activity's detail)."""


Count = Annotated[int, Field(ge=0, le=2**31 - 1)]
"""A non-negative whole number PostgreSQL's ``integer`` holds (an offset, a version):
a bigger one answered 500 (out of range for its parameter)."""


# ----------------------------------------------------------------------------- instants

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def bounded_instant(value: datetime) -> datetime:
    """The instant in UTC, if it lies in [1970-01-01, 2200-01-01).

    Nothing a lead pipeline records happened before the Unix epoch, and an instant
    near year 1 or 9999 cannot even be moved to UTC once it carries an offset
    (``OverflowError``: it answered 500)."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError(f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return utc


Instant = Annotated[AwareDatetime, AfterValidator(bounded_instant),
                    Field(description="an instant with its UTC offset, from 1970-01-01T00:00:00Z "
                                      "to 2200-01-01T00:00:00Z")]


# ----------------------------------------------------------------------------- countries

_ALPHA_2 = re.compile(r"[A-Za-z]{2}")
ISO_COUNTRIES: tuple[str, ...] = tuple(sorted(c.alpha_2 for c in pycountry.countries))


def country_code(value: str) -> str:
    """The ISO 3166-1 alpha-2 code, upper case; ``ValueError`` unless it is one.

    Two ASCII letters are checked before upper-casing, so ``ßß`` is refused rather
    than becoming ``SSSS``; the code must be assigned (``ZZ`` is not)."""
    if not _ALPHA_2.fullmatch(value):
        raise ValueError("must be a two-letter ISO 3166-1 country code")
    code = value.upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"'{value}' is not an ISO 3166-1 alpha-2 country code")
    return code


CountryCode = Annotated[str, StringConstraints(min_length=2, max_length=2), AfterValidator(country_code),
                        Field(description="ISO 3166-1 alpha-2 code (either case; stored upper case)",
                              json_schema_extra={"enum": list(ISO_COUNTRIES)})]


# ----------------------------------------------------------------------------- unsafe text

NUL_REASON = "must not contain the NUL character (\\u0000)"
SURROGATE_REASON = "must be valid Unicode text (it holds an unpaired surrogate)"


def unsafe_text(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None if it can."""
    if "\x00" in value:
        return NUL_REASON
    try:
        value.encode()
    except UnicodeEncodeError:
        return SURROGATE_REASON
    return None


def displayable(value: str) -> str:
    """``value`` as it can be shown in an answer: NUL and unpaired surrogates escaped
    (a field name in an error must not break the error itself)."""
    return value.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode()


def unsafe_text_in(document: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every (path, reason) of unsafe text in a parsed JSON document, keys included."""
    if isinstance(document, str):
        reason = unsafe_text(document)
        if reason:
            yield path, reason
    elif isinstance(document, dict):
        for key, value in document.items():
            where = (*path, displayable(str(key)))
            reason = unsafe_text(str(key))
            if reason:
                yield where, "key " + reason
            yield from unsafe_text_in(value, where)
    elif isinstance(document, list):
        for i, value in enumerate(document):
            yield from unsafe_text_in(value, (*path, str(i)))
