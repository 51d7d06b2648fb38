"""In-memory twins of the app's adapters, for its unit tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.app.repository import Account, StoredRefresh
from shared.principal import Principal


class InMemoryAccounts:
    """:class:`services.app.repository.AccountStore` in memory."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.tokens: dict[str, StoredRefresh] = {}

    async def account_ids(self, conn: Any) -> set[str]:
        return set(self.accounts)

    async def add_accounts(self, conn: Any, accounts: Sequence[Account], at: datetime) -> None:
        names = {a.username for a in self.accounts.values()}
        for a in accounts:
            if a.account_id not in self.accounts and a.username not in names:
                self.accounts[a.account_id] = a
                names.add(a.username)

    async def by_username(self, conn: Any, username: str) -> Account | None:
        return next((a for a in self.accounts.values() if a.username == username), None)

    async def by_id(self, conn: Any, account_id: str) -> Account | None:
        return self.accounts.get(account_id)

    async def add_refresh(self, conn: Any, token: StoredRefresh) -> None:
        assert token.token_hash not in self.tokens
        self.tokens[token.token_hash] = token

    async def refresh_for_update(self, conn: Any, token_hash: str) -> StoredRefresh | None:
        return self.tokens.get(token_hash)

    async def mark_used(self, conn: Any, token_hash: str, at: datetime) -> None:
        self.tokens[token_hash] = dataclasses.replace(self.tokens[token_hash], used_at=at)

    async def revoke_family(self, conn: Any, family_id: str, at: datetime) -> int:
        live = [t for t in self.tokens.values() if t.family_id == family_id and t.revoked_at is None]
        for t in live:
            self.tokens[t.token_hash] = dataclasses.replace(t, revoked_at=at)
        return len(live)

    async def prune_refresh(self, conn: Any, before: datetime) -> int:
        old = [h for h, t in self.tokens.items() if t.expires_at < before]
        for h in old:
            del self.tokens[h]
        return len(old)


class FakeSigner:
    """Signs nothing: a token naming the account and its lifetime, and a record of what was issued."""

    def __init__(self) -> None:
        self.issued: list[tuple[str, int]] = []

    def issue(self, account: Account, ttl_s: int) -> str:
        self.issued.append((account.account_id, ttl_s))
        return f"access-{account.account_id}-{len(self.issued)}"

    def grant(self, who: Principal, lead_id: str, ttl_s: int) -> str | None:
        return f"grant-{who.subject}-{lead_id}"

    @property
    def jwks(self) -> dict[str, Any]:
        return {"keys": []}
