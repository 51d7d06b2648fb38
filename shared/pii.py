"""Personal data in events, crypto-shredded: every personal field of an event is
encrypted with its person's own key before the event leaves a service, and a person's
erasure destroys that key, so every copy of their events in Kafka (topics, dead
letters, a replay, a consumer started next year) is unreadable at once, without
rewriting the log.

What is personal is declared once, on the event model (``Event.PERSONAL``: dotted
paths into the event's JSON, ``*`` for every value of a map), and whose it is by
``Event.pii_subject`` (the lead id: a pseudonym, it stays readable as the record key).
The runtime seals on the way out (:meth:`shared.runtime.Runtime.to_rows`) and opens on
the way in (``codec.decode_record``); no service encrypts or decrypts anything itself.

The wire form of a sealed field is one string (docs/asyncapi.yaml, docs/PRIVACY.md)::

    pii:v1:<subject>:<kid>:<base64url(nonce(12) || AES-256-GCM ciphertext and tag)>

with associated data ``leadbridge-pii/v1 | subject | event_id | path``: a sealed value
moved to another person's event, to another event of the same person, or to another
field is refused (:class:`Refused`, the record is dead-lettered), and so is a flipped
bit. A value whose key is gone (the person was erased, or the key is from before a
re-capture) opens as :data:`ERASED_TEXT` (:data:`ERASED_EMAIL` for an email): the
handler sees an erased person and does nothing personal with it (:func:`is_erased`).
Plain strings (an outside producer's records, docs/PRODUCERS.md) pass through as they are.

Where the keys live, and why: one table, ``pii.subject_keys`` (one row per person:
the live key, or the tombstone of an erased one), in its own schema beside the
services' own, read by every service through :class:`KeyRing` (an in-process cache
with a short time to live, emptied for a person when their erasure event arrives).
A key is read from the database once per person and process, not once per event, so
the table is no bottleneck and no service waits on another's HTTP answer (an HTTP key
service would put one more process on every hop's critical path and be down exactly
when the rest is busy). The key table is the one shared table in Leadbridge, owned by
this module as a KMS would own it: services reach it only through it, never with SQL
of their own. Any service may mint a person's key (the first producer of their data
does); erasure replaces the key by a tombstone in the same row, so a mint racing an
erasure waits on the row and then sees the tombstone, and nobody mints for an erased
person again until capture re-admits them (a new capture: a new consent, a new key).
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"
TOKEN_PREFIX = f"pii:{VERSION}:"
_MARK = b'"' + TOKEN_PREFIX.encode()
_TOKEN_IN_JSON = re.compile(rb'"pii:v1:([0-9A-Za-z_.-]{1,100}):')
ERASED_TEXT = "[erased]"
ERASED_EMAIL = "erased@erased.invalid"  # RFC 2606: no mail is ever delivered there
SCHEMA = "pii"


class Refused(ValueError):
    """A sealed value that does not open with its person's key for this event and
    field: tampered with, or moved from another person, event or field."""


@dataclass(frozen=True, slots=True)
class SubjectKey:
    """One person's data key: ``kid`` tells its generations apart (a re-captured person
    gets a new one; what the old one sealed stays erased)."""

    subject: str
    kid: str
    secret: bytes

    @classmethod
    def new(cls, subject: str) -> SubjectKey:
        return cls(subject, secrets.token_hex(8), AESGCM.generate_key(bit_length=256))


_AEADS: dict[bytes, AESGCM] = {}


def _aead(key: SubjectKey) -> AESGCM:
    aead = _AEADS.get(key.secret)
    if aead is None:
        if len(_AEADS) > 100_000:
            _AEADS.clear()
        aead = _AEADS[key.secret] = AESGCM(key.secret)
    return aead


def _aad(subject: str, event_id: str, path: str) -> bytes:
    return f"leadbridge-pii/{VERSION}|{subject}|{event_id}|{path}".encode()


def seal(key: SubjectKey, event_id: str, path: str, plaintext: str) -> str:
    """``plaintext`` as a token only ``key`` opens, for this event and field."""
    nonce = os.urandom(12)
    sealed = _aead(key).encrypt(nonce, plaintext.encode(), _aad(key.subject, event_id, path))
    return f"{TOKEN_PREFIX}{key.subject}:{key.kid}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX)


def unseal(token: str, subject: str, event_id: str, path: str, keys: Mapping[str, SubjectKey]) -> str | None:
    """The plaintext of a token found at ``path`` of the event ``event_id`` of person
    ``subject``; None when the key is gone (erased). Raises :class:`Refused` when the
    token does not open (tampered, or another person's, event's or field's)."""
    try:
        token_subject, kid, body = token[len(TOKEN_PREFIX):].split(":", 2)
        raw = base64.urlsafe_b64decode(body.encode())
    except (ValueError, binascii.Error):
        raise Refused(f"{path}: not a sealed value") from None
    if token_subject != subject:
        raise Refused(f"{path}: sealed for another person than this event's")
    key = keys.get(subject)
    if key is None or key.kid != kid:
        return None
    if len(raw) < 12 + 16:
        raise Refused(f"{path}: sealed value too short")
    try:
        return _aead(key).decrypt(raw[:12], raw[12:], _aad(subject, event_id, path)).decode()
    except InvalidTag:
        raise Refused(f"{path}: sealed value does not open with its person's key (tampered or moved)") from None


def erased_value(path: str) -> str:
    """What an erased field reads as: an address nothing is delivered to for an email,
    else :data:`ERASED_TEXT`."""
    return ERASED_EMAIL if path.rsplit(".", 1)[-1] in ("email", "to") else ERASED_TEXT


def is_erased(value: object) -> bool:
    """Whether a field's value is what an erased person's field reads as."""
    return value in (ERASED_TEXT, ERASED_EMAIL)


# --------------------------------------------------------------------------- fields of an event


@functools.cache
def _compiled(paths: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((path, tuple(path.split("."))) for path in paths)


def _apply(data: dict[str, Any], paths: tuple[str, ...], fn: Callable[[str, str], str]) -> None:
    """Replace, in place, each string at one of ``paths`` (dotted, ``*`` for every value
    of a map) below ``data`` by ``fn(path, value)``; on every event of every hop, so the
    one- and two-level paths the events declare take a short way."""
    for path, parts in _compiled(paths):
        if len(parts) == 1:
            value = data.get(path)
            if isinstance(value, str):
                data[path] = fn(path, value)
        elif len(parts) == 2 and isinstance(inner := data.get(parts[0]), dict):
            if parts[1] == "*":
                for name, value in inner.items():
                    if isinstance(value, str):
                        inner[name] = fn(f"{parts[0]}.{name}", value)
            elif isinstance(value := inner.get(parts[1]), str):
                inner[parts[1]] = fn(path, value)
        elif len(parts) > 2:
            _visit(data, parts, "", fn)


def _visit(data: Any, parts: Sequence[str], path: str, fn: Callable[[str, str], Any]) -> None:
    """Replace, in place, each string at ``parts`` below ``data`` by ``fn(path, value)``."""
    if not isinstance(data, dict) or not parts:
        return
    head, rest = parts[0], parts[1:]
    names = list(data) if head == "*" else [head]
    for name in names:
        if name not in data:
            continue
        here = f"{path}.{name}" if path else name
        if rest:
            _visit(data[name], rest, here, fn)
        elif isinstance(data[name], str):
            data[name] = fn(here, data[name])


def _copy_along(data: dict[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """``data`` with every dict on the way to ``paths`` copied (the caller's stay as they were)."""
    out = dict(data)
    for path in paths:
        head, dot, _ = path.partition(".")
        if dot and isinstance(out.get(head), dict) and out[head] is data.get(head):
            out[head] = dict(out[head])
    return out


def seal_fields(paths: Sequence[str], data: dict[str, Any], key: SubjectKey | None) -> dict[str, Any]:
    """A copy of an event's JSON fields with each personal one sealed by ``key``; with
    no key (the person is erased) each reads as erased. Values already erased, already
    sealed or empty stay as they are."""
    out = _copy_along(data, paths)
    event_id = str(out["event_id"])

    def one(path: str, value: str) -> str:
        if not value or value.startswith(TOKEN_PREFIX) or is_erased(value):
            return value
        return erased_value(path) if key is None else seal(key, event_id, path, value)

    _apply(out, tuple(paths), one)
    return out


def open_fields(paths: Sequence[str], data: dict[str, Any], subject: str | None,
                keys: Mapping[str, SubjectKey]) -> None:
    """Open, in place, the sealed personal fields of an event's JSON (erased ones read
    as erased; plain ones stay). Raises :class:`Refused`."""
    event_id = str(data.get("event_id"))

    def one(path: str, value: str) -> str:
        if not value.startswith(TOKEN_PREFIX):
            return value
        if subject is None:
            raise Refused(f"{path}: sealed, but the event names no person")
        plain = unseal(value, subject, event_id, path, keys)
        return erased_value(path) if plain is None else plain

    _apply(data, tuple(paths), one)


def has_sealed(value: bytes | None) -> bool:
    """Whether a record's JSON holds a sealed value (a byte search, no parse)."""
    return value is not None and _MARK in value


def subjects_in(value: bytes | None) -> set[str]:
    """The persons whose sealed values a record's JSON holds."""
    return set() if value is None else {m.decode() for m in _TOKEN_IN_JSON.findall(value)}


# --------------------------------------------------------------------------- the key table

DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
-- One row per person: the live data key (kid, secret), or the tombstone of an erased one
-- (kid and secret NULL, erased_at set). Only shared/pii.py reads or writes it.
CREATE TABLE IF NOT EXISTS {SCHEMA}.subject_keys (
    subject    text PRIMARY KEY,
    kid        text,
    secret     bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    erased_at  timestamptz,
    CHECK ((secret IS NULL) = (erased_at IS NOT NULL))
);
"""


async def ensure_schema(conn: Any) -> None:
    """Create the key table if it is not there (every service does at start; an
    advisory lock keeps replicas starting together from racing on the catalog; in the
    secure profile ``deploy/postgres/postgres.sh secure`` makes it and grants its use)."""
    lock_id = 0x7069695F6B657973  # "pii_keys"
    if await conn.fetchval(f"SELECT to_regclass('{SCHEMA}.subject_keys') IS NOT NULL"):
        return  # (the secure profile made it: a service's role may not create schemas)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_id)
        await conn.execute(DDL)


class KeyRing:
    """Every process's view of the key table: keys cached for ``ttl_s`` (so a person's
    key is read once per process and minute, not per event), a person's entry dropped
    when their erasure event arrives (:meth:`forget`). Its SQL is the only SQL that
    touches ``pii.subject_keys``."""

    def __init__(self, ttl_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[SubjectKey, float]] = {}

    def cached(self, subjects: Iterable[str]) -> tuple[dict[str, SubjectKey], list[str]]:
        now, found, missing = self._clock(), {}, []
        for subject in subjects:
            entry = self._cache.get(subject)
            if entry is not None and now - entry[1] < self.ttl_s:
                found[subject] = entry[0]
            else:
                missing.append(subject)
        return found, missing

    def remember(self, keys: Iterable[SubjectKey]) -> None:
        """Cache keys known to be committed."""
        now = self._clock()
        if len(self._cache) > 200_000:
            self._cache.clear()
        for key in keys:
            self._cache[key.subject] = (key, now)

    def forget(self, subjects: Iterable[str]) -> None:
        for subject in subjects:
            self._cache.pop(subject, None)

    async def for_opening(self, conn: Any, subjects: Iterable[str]) -> dict[str, SubjectKey]:
        """The live keys of these persons (erased ones are absent)."""
        found, missing = self.cached(subjects)
        if missing:
            loaded = await self._load(conn, missing)
            self.remember(loaded.values())
            found.update(loaded)
        return found

    async def for_sealing(self, conn: Any, subjects: Iterable[str]) -> tuple[dict[str, SubjectKey], list[SubjectKey]]:
        """The keys to seal these persons' fields with, minting one for a person who has
        none (in the caller's transaction: a rolled-back mint leaves nothing behind);
        erased persons are absent. Returns the keys and those minted now, which the
        caller :meth:`remember`\\ s once its transaction has committed."""
        found, missing = self.cached(subjects)
        if not missing:
            return found, []
        loaded = await self._load(conn, missing)
        self.remember(loaded.values())
        found.update(loaded)
        unknown = [s for s in missing if s not in loaded]
        minted: list[SubjectKey] = []
        if unknown:
            fresh = [SubjectKey.new(s) for s in unknown]
            rows = await conn.fetch(
                f"INSERT INTO {SCHEMA}.subject_keys(subject, kid, secret) "
                "SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[]) ON CONFLICT (subject) DO NOTHING "
                "RETURNING subject", [k.subject for k in fresh], [k.kid for k in fresh], [k.secret for k in fresh])
            inserted = {r["subject"] for r in rows}
            minted = [k for k in fresh if k.subject in inserted]
            found.update({k.subject: k for k in minted})
            raced = [s for s in unknown if s not in inserted]  # minted meanwhile by another, or erased
            if raced:
                found.update(await self._load(conn, raced))
        return found, minted

    async def _load(self, conn: Any, subjects: Sequence[str]) -> dict[str, SubjectKey]:
        rows = await conn.fetch(f"SELECT subject, kid, secret FROM {SCHEMA}.subject_keys "
                                "WHERE subject = ANY($1::text[]) AND secret IS NOT NULL", list(subjects))
        return {r["subject"]: SubjectKey(r["subject"], r["kid"], bytes(r["secret"])) for r in rows}



class KeyTable(Protocol):
    """What capture, which owns identity, does to a person's key (the port;
    :class:`PostgresKeyTable` is the real one, ``shared.testing.FakeKeyTable`` the fake)."""

    async def destroy(self, conn: Any, subject: str) -> None:
        """Destroy a person's key (in the caller's transaction): from its commit on, nothing
        sealed for them opens anywhere, and no service mints them a new one. (Each process
        drops its cached copy when the erasure event reaches it: :class:`KeyRing`.)"""

    async def readmit(self, conn: Any, subject: str) -> None:
        """A person erased earlier is captured again (a new consent): they get a new key,
        and what the old one sealed stays erased. Nothing for a person never erased."""

    async def readmit_many(self, conn: Any, subjects: Sequence[str]) -> None:
        """:meth:`readmit` for many people at once (a chunk of a list import)."""


class PostgresKeyTable:
    """:class:`KeyTable` on ``pii.subject_keys``."""

    async def destroy(self, conn: Any, subject: str) -> None:
        await conn.execute(
            f"INSERT INTO {SCHEMA}.subject_keys(subject, kid, secret, erased_at) VALUES ($1, NULL, NULL, now()) "
            "ON CONFLICT (subject) DO UPDATE SET kid = NULL, secret = NULL, erased_at = now()", subject)

    async def readmit_many(self, conn: Any, subjects: Sequence[str]) -> None:
        if not subjects:
            return
        erased = [r["subject"] for r in await conn.fetch(
            f"SELECT subject FROM {SCHEMA}.subject_keys WHERE subject = ANY($1::text[]) AND secret IS NULL",
            list(subjects))]
        for subject in erased:  # (rare: people erased before)
            await self.readmit(conn, subject)

    async def readmit(self, conn: Any, subject: str) -> None:
        key = SubjectKey.new(subject)
        await conn.execute(f"UPDATE {SCHEMA}.subject_keys SET kid = $2, secret = $3, erased_at = NULL, "
                           "created_at = now() WHERE subject = $1 AND secret IS NULL", subject, key.kid, key.secret)
