"""The app's handlers on the fake unit of work and the in-memory accounts, driven through
the registry the service runs (the accounts seed at start, ``lead-assigned``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from services.app import handlers
from services.app.domain.accounts import RefreshVerdict
from services.app.handlers import AppDeps, registry
from services.app.tests.fakes import FakeSigner, InMemoryAccounts
from services.app.tokens import NoSigningKey
from shared import testing, topics
from shared.events import LeadAssigned
from shared.testing import FakeUnitOfWork, FakeUnits

ROOT = Path(__file__).resolve().parents[3]
E2E_ACCOUNTS = ROOT / "tests" / "e2e" / "accounts.yaml"
T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T

    def __call__(self) -> datetime:
        return self.now


def make_deps(seed_file: Path | None = E2E_ACCOUNTS) -> AppDeps:
    # Cheap argon2 parameters: the same algorithm, fast enough for unit tests.
    return AppDeps(accounts=InMemoryAccounts(), signer=FakeSigner(),
                   passwords=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
                   clock=Clock(), seed_file=seed_file, access_ttl_s=900, refresh_ttl_s=3600)


async def seeded() -> AppDeps:
    deps = make_deps()
    await testing.start(registry(deps))
    return deps


async def test_seeding_makes_every_rep_a_manager_per_team_and_the_listed_people() -> None:
    deps = await seeded()
    accounts = deps.accounts.accounts  # type: ignore[attr-defined]
    reps = {a.rep_id for a in accounts.values() if "rep" in a.roles}
    assert reps == {"us-1", "us-2", "uk-1", "ag-1", "is-1", "is-2"}
    managers = {a.account_id: a.teams for a in accounts.values() if "manager" in a.roles}
    assert managers == {"mgr-field": ("field",), "mgr-inside_sales": ("inside_sales",), "mgr-agency": ("agency",)}
    assert {a.roles for a in accounts.values() if a.account_id in {"mkt-1", "sa-1", "op-1"}} == {
        ("marketing",), ("sales_approver",), ("operator",)}
    assert all(a.password_hash.startswith("$argon2id$") for a in accounts.values())
    assert not any("test-pass" in a.password_hash for a in accounts.values())


async def test_seeding_again_adds_nothing_and_keeps_changed_passwords() -> None:
    deps = await seeded()
    before = dict(deps.accounts.accounts)  # type: ignore[attr-defined]
    assert await handlers.seed_accounts(deps, FakeUnits()) == 0
    assert deps.accounts.accounts == before  # type: ignore[attr-defined]


async def test_sign_in_checks_the_password_and_names_compare_without_case() -> None:
    deps = await seeded()
    session = await handlers.sign_in(deps, FakeUnitOfWork(), "  IS-1 ", "rep-test-pass")
    assert session.account.rep_id == "is-1" and session.access_ttl_s == 900
    assert deps.signer.issued == [("is-1", 900)]  # type: ignore[attr-defined]
    for name, password in [("is-1", "wrong"), ("nobody", "rep-test-pass"), ("is-1", "")]:
        with pytest.raises(handlers.SignInRefused):
            await handlers.sign_in(deps, FakeUnitOfWork(), name, password)


async def test_a_refresh_token_rotates_and_its_reuse_revokes_the_session() -> None:
    deps = await seeded()
    first = await handlers.sign_in(deps, FakeUnitOfWork(), "us-1", "rep-test-pass")
    second = await handlers.refresh(deps, FakeUnitOfWork(), first.refresh_token)
    assert second.session is not None and second.session.refresh_token != first.refresh_token
    assert second.session.access_token != first.access_token

    replayed = await handlers.refresh(deps, FakeUnitOfWork(), first.refresh_token)
    assert replayed == handlers.Refreshed(None, RefreshVerdict.REUSED)
    # the thief's replay ends the session: the rightful holder's newer token is dead too
    after = await handlers.refresh(deps, FakeUnitOfWork(), second.session.refresh_token)
    assert after.session is None and after.verdict is RefreshVerdict.REVOKED


async def test_an_expired_or_unknown_refresh_token_gives_no_session() -> None:
    deps = await seeded()
    session = await handlers.sign_in(deps, FakeUnitOfWork(), "us-1", "rep-test-pass")
    deps.clock.now = T + timedelta(seconds=3601)  # type: ignore[attr-defined]
    assert (await handlers.refresh(deps, FakeUnitOfWork(), session.refresh_token)).verdict is RefreshVerdict.EXPIRED
    assert await handlers.refresh(deps, FakeUnitOfWork(), "made-up") == handlers.Refreshed(None, None)


async def test_sign_out_ends_the_session() -> None:
    deps = await seeded()
    session = await handlers.sign_in(deps, FakeUnitOfWork(), "us-1", "rep-test-pass")
    await handlers.sign_out(deps, FakeUnitOfWork(), session.refresh_token)
    assert (await handlers.refresh(deps, FakeUnitOfWork(), session.refresh_token)).verdict is RefreshVerdict.REVOKED


async def test_expired_tokens_are_pruned_a_day_later() -> None:
    deps = await seeded()
    await handlers.sign_in(deps, FakeUnitOfWork(), "us-1", "rep-test-pass")
    deps.clock.now = T + timedelta(hours=2)  # type: ignore[attr-defined]
    await testing.run_job(registry(deps), "refresh-prune")
    assert len(deps.accounts.tokens) == 1  # type: ignore[attr-defined]
    deps.clock.now = T + timedelta(days=1, hours=2)  # type: ignore[attr-defined]
    await testing.run_job(registry(deps), "refresh-prune")
    assert deps.accounts.tokens == {}  # type: ignore[attr-defined]


def assigned(rep_id: str | None, owner_kind: str = "rep", lead_id: str = "lead-1") -> LeadAssigned:
    return LeadAssigned(lead_id=lead_id, assignment_id=f"as-{lead_id}", owner_kind=owner_kind, rep_id=rep_id,
                        team="inside_sales", due_at=T, rule="b-to-inside-sales", reason="test", grade="B",
                        segment="smb", occurred_at=T)


async def test_a_lead_assigned_reaches_only_that_reps_open_pages() -> None:
    deps = make_deps(seed_file=None)
    async with deps.live.listen("is-1") as mine, deps.live.listen("is-2") as theirs:
        await testing.deliver(registry(deps), topics.LEAD_ASSIGNED,
                              [assigned("is-1", lead_id="L1"), assigned(None, "queue", "L2")])
        assert mine.get_nowait().data == "L1"
        assert mine.empty() and theirs.empty()
    assert deps.live.listeners("is-1") == 0


async def test_without_a_signing_key_embedded_sign_in_is_refused_saying_why() -> None:
    deps = await seeded()
    deps.signer = NoSigningKey()
    with pytest.raises(handlers.SignInUnavailable, match="identity provider"):
        await handlers.sign_in(deps, FakeUnitOfWork(), "us-1", "rep-test-pass")
