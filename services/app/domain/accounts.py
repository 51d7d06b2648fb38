"""Who may sign in, and the rules of a session.

The embedded accounts are seeded from a file (:func:`seeds_from`): every rep of the
sales organisation it names (role ``rep``, their routing rep id), a manager for each
team (role ``manager``, that team), and the people it lists (marketing, a sales
approver, an operator...). A session is a chain of refresh tokens: each use rotates it
(:func:`decide_refresh`), and a token used twice means it was stolen, so the whole
chain is revoked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

ROLES: tuple[str, ...] = ("rep", "manager", "marketing", "sales_approver", "operator")
"""The roles a token may carry (the same names as ``shared.auth.Role``)."""


class SeedInvalid(ValueError):
    """The accounts file is wrong; the message says where."""


@dataclass(frozen=True)
class AccountSeed:
    """One account to create when missing. ``password`` is the seed's plain text (a
    demo's); only its hash is stored."""

    account_id: str
    username: str
    name: str
    roles: tuple[str, ...]
    password: str
    rep_id: str | None = None
    teams: tuple[str, ...] = ()


def normalise_username(username: str) -> str:
    """Sign-in names compare without case or surrounding blanks."""
    return username.strip().casefold()


def _text(entry: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = entry.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise SeedInvalid(f"{where}: '{key}' must be a non-empty string")
    return value.strip()


def _names(value: Any, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SeedInvalid(f"{where}: '{key}' must be a list of names")
    return tuple(value)


def seeds_from(seed: Mapping[str, Any], org: Mapping[str, Any] | None) -> list[AccountSeed]:
    """The accounts a seed document asks for: ``org``'s reps and one manager per team
    (with ``passwords.rep`` / ``passwords.manager``) when it names an organisation,
    then its ``accounts`` list. Ids and sign-in names are unique; every role is known."""
    passwords = seed.get("passwords") or {}
    found: list[AccountSeed] = []
    if org is not None:
        body = org.get("org", org)
        for i, team in enumerate(body.get("teams") or []):
            where = f"org teams[{i}]"
            team_id = _text(team, "id", where)
            found.append(AccountSeed(account_id=f"mgr-{team_id}", username=f"mgr-{team_id}",
                                     name=_manager_name(team, team_id), roles=("manager",),
                                     password=_text(passwords, "manager", "passwords"), teams=(team_id,)))
        for i, rep in enumerate(body.get("reps") or []):
            where = f"org reps[{i}]"
            rep_id = _text(rep, "id", where)
            found.append(AccountSeed(account_id=rep_id, username=rep_id, name=_text(rep, "name", where, rep_id),
                                     roles=("rep",), password=_text(passwords, "rep", "passwords"), rep_id=rep_id))
    for i, entry in enumerate(seed.get("accounts") or []):
        where = f"accounts[{i}]"
        roles = _names(entry.get("roles"), where, "roles")
        if not roles:
            raise SeedInvalid(f"{where}: 'roles' must name at least one role")
        found.append(AccountSeed(account_id=_text(entry, "id", where), username=_text(entry, "username", where),
                                 name=_text(entry, "name", where), roles=roles,
                                 password=_text(entry, "password", where),
                                 rep_id=entry.get("rep_id"), teams=_names(entry.get("teams"), where, "teams")))
    _check(found)
    return found


def _manager_name(team: Mapping[str, Any], team_id: str) -> str:
    manager = team.get("manager")
    if isinstance(manager, Mapping) and isinstance(manager.get("name"), str):
        return str(manager["name"])
    return f"{team.get('name', team_id)} manager"


def _check(seeds: Sequence[AccountSeed]) -> None:
    ids: set[str] = set()
    names: set[str] = set()
    for s in seeds:
        unknown = [r for r in s.roles if r not in ROLES]
        if unknown:
            raise SeedInvalid(f"account '{s.account_id}': unknown role(s) {unknown}; known: {list(ROLES)}")
        if "rep" in s.roles and not s.rep_id:
            raise SeedInvalid(f"account '{s.account_id}': a rep needs the routing 'rep_id'")
        if s.account_id in ids:
            raise SeedInvalid(f"account id '{s.account_id}' appears twice")
        username = normalise_username(s.username)
        if username in names:
            raise SeedInvalid(f"username '{s.username}' appears twice")
        ids.add(s.account_id)
        names.add(username)


def missing(seeds: Iterable[AccountSeed], existing_ids: set[str]) -> list[AccountSeed]:
    """The seeds not yet accounts: seeding adds, never overwrites (a changed password stays)."""
    return [s for s in seeds if s.account_id not in existing_ids]


class RefreshVerdict(StrEnum):
    ROTATE = "rotate"      # valid: issue the next token of the chain, retire this one
    REUSED = "reused"      # already rotated: someone replays it; revoke the whole chain
    EXPIRED = "expired"
    REVOKED = "revoked"    # signed out, or the chain was revoked


@dataclass(frozen=True)
class RefreshState:
    """A stored refresh token, as the rule needs it."""

    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


def decide_refresh(token: RefreshState, now: datetime) -> RefreshVerdict:
    """What presenting this refresh token at ``now`` does. Reuse is checked before
    expiry: a replayed token revokes its chain even when it has since expired."""
    if token.revoked_at is not None:
        return RefreshVerdict.REVOKED
    if token.used_at is not None:
        return RefreshVerdict.REUSED
    if now >= token.expires_at:
        return RefreshVerdict.EXPIRED
    return RefreshVerdict.ROTATE
