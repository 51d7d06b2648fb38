"""The app's tables (schema ``app``): the embedded accounts and their refresh tokens.

:class:`AccountStore` states what the app's handlers need; :class:`AccountRepository`
is the PostgreSQL one (``AccountRepository(schema).method(conn, ...)``) and
``tests/fakes.py`` has the in-memory twin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.app.domain.accounts import RefreshState


@dataclass(frozen=True)
class Account:
    """A person who may sign in, as a token describes them."""

    account_id: str
    username: str
    name: str
    password_hash: str
    roles: tuple[str, ...]
    rep_id: str | None
    teams: tuple[str, ...]
    disabled: bool = False


@dataclass(frozen=True)
class StoredRefresh:
    """A refresh token's row (by the hash of the token)."""

    token_hash: str
    family_id: str
    account_id: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def state(self) -> RefreshState:
        return RefreshState(self.expires_at, self.used_at, self.revoked_at)


class AccountStore(Protocol):
    """What the app's handlers need of its tables. Every method takes the connection
    of the caller's unit of work first."""

    async def account_ids(self, conn: Any) -> set[str]:
        """Every account id there is."""

    async def add_accounts(self, conn: Any, accounts: Sequence[Account], at: datetime) -> None:
        """Add accounts; one already there (by id or username) is left as it is."""

    async def by_username(self, conn: Any, username: str) -> Account | None:
        """The account signing in with this (normalised) name."""

    async def by_id(self, conn: Any, account_id: str) -> Account | None: ...

    async def add_refresh(self, conn: Any, token: StoredRefresh) -> None: ...

    async def refresh_for_update(self, conn: Any, token_hash: str) -> StoredRefresh | None:
        """The stored token, locked until the transaction ends (two tabs refreshing at once
        see each other's rotation)."""

    async def mark_used(self, conn: Any, token_hash: str, at: datetime) -> None: ...

    async def revoke_family(self, conn: Any, family_id: str, at: datetime) -> int:
        """Revoke every token of a session; how many were still live."""

    async def prune_refresh(self, conn: Any, before: datetime) -> int:
        """Forget tokens that expired before ``before``."""


def _account(row: Any) -> Account:
    return Account(account_id=row["account_id"], username=row["username"], name=row["name"],
                   password_hash=row["password_hash"], roles=tuple(row["roles"]), rep_id=row["rep_id"],
                   teams=tuple(row["teams"]), disabled=row["disabled"])


class AccountRepository:
    """The accounts and refresh tokens in PostgreSQL."""

    def __init__(self, schema: str) -> None:
        self.s = schema

    async def account_ids(self, conn: Any) -> set[str]:
        return {r["account_id"] for r in await conn.fetch(f"SELECT account_id FROM {self.s}.accounts")}

    async def add_accounts(self, conn: Any, accounts: Sequence[Account], at: datetime) -> None:
        await conn.executemany(
            f"INSERT INTO {self.s}.accounts(account_id, username, name, password_hash, roles, rep_id, teams, "
            "disabled, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
            [(a.account_id, a.username, a.name, a.password_hash, list(a.roles), a.rep_id, list(a.teams), a.disabled,
              at) for a in accounts])

    async def by_username(self, conn: Any, username: str) -> Account | None:
        row = await conn.fetchrow(f"SELECT * FROM {self.s}.accounts WHERE username = $1", username)
        return _account(row) if row else None

    async def by_id(self, conn: Any, account_id: str) -> Account | None:
        row = await conn.fetchrow(f"SELECT * FROM {self.s}.accounts WHERE account_id = $1", account_id)
        return _account(row) if row else None

    async def add_refresh(self, conn: Any, token: StoredRefresh) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.refresh_tokens(token_hash, family_id, account_id, issued_at, expires_at) "
            "VALUES ($1, $2, $3, $4, $5)", token.token_hash, token.family_id, token.account_id, token.issued_at,
            token.expires_at)

    async def refresh_for_update(self, conn: Any, token_hash: str) -> StoredRefresh | None:
        row = await conn.fetchrow(f"SELECT * FROM {self.s}.refresh_tokens WHERE token_hash = $1 FOR UPDATE",
                                  token_hash)
        if row is None:
            return None
        return StoredRefresh(token_hash=row["token_hash"], family_id=row["family_id"], account_id=row["account_id"],
                             issued_at=row["issued_at"], expires_at=row["expires_at"], used_at=row["used_at"],
                             revoked_at=row["revoked_at"])

    async def mark_used(self, conn: Any, token_hash: str, at: datetime) -> None:
        await conn.execute(f"UPDATE {self.s}.refresh_tokens SET used_at = $2 WHERE token_hash = $1", token_hash, at)

    async def revoke_family(self, conn: Any, family_id: str, at: datetime) -> int:
        status: str = await conn.execute(
            f"UPDATE {self.s}.refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
            family_id, at)
        return int(status.split()[-1])

    async def prune_refresh(self, conn: Any, before: datetime) -> int:
        status: str = await conn.execute(f"DELETE FROM {self.s}.refresh_tokens WHERE expires_at < $1", before)
        return int(status.split()[-1])
