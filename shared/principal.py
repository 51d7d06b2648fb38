"""Who a caller is, without the web framework: the roles a person may hold and the
verified caller a route gets (:class:`Principal`). Pure, so a service's domain can state
its visibility rules on it; :mod:`shared.auth` verifies tokens and builds it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What a person may do (a person may hold several)."""

    rep = "rep"                        # their own leads and tasks
    manager = "manager"                # their teams' leads, reps and queues
    marketing = "marketing"            # campaigns, tracks, collateral drafts, rubric drafts
    sales_approver = "sales_approver"  # approves rubric versions and collateral for sales
    operator = "operator"              # organisation, rules, dead letters, replay


ALL_ROLES = frozenset(Role)
PEOPLE: tuple[Role, ...] = tuple(Role)
"""Every role: a route any signed-in person may call is ``allow(*PEOPLE)``."""
ROLE_NAMES = frozenset(str(r) for r in Role)


@dataclass(frozen=True)
class Principal:
    """The verified caller of a route: a person (from a token) or a capture source."""

    subject: str
    name: str = ""
    roles: frozenset[Role] = frozenset()
    rep_id: str | None = None
    teams: frozenset[str] = frozenset()
    # Set for a capture source (per-source keys, engineer capkeys), never for a person.
    source: str | None = None
    campaign_id: str | None = None
    # Leads a rep was granted for a moment by the issuer (the app), after routing, which
    # owns assignments, confirmed with the rep's own token that the lead is theirs.
    leads: frozenset[str] = frozenset()

    def has(self, *roles: Role) -> bool:
        """Holds at least one of ``roles``."""
        return not self.roles.isdisjoint(roles)

    @property
    def only_rep(self) -> bool:
        """A rep and nothing wider: sees only the leads assigned to them."""
        return Role.rep in self.roles and self.roles <= {Role.rep}

    # ------------------------------------------------------------------ which leads

    @property
    def sees_every_lead(self) -> bool:
        """Not scoped to assignments: a caller holding any role besides rep and manager
        (an operator, marketing, a sales approver; what a route lets them reach at all is
        its ``allow``)."""
        return not self.roles <= SCOPED_ROLES

    def may_see(self, *, rep_id: str | None, team: str | None) -> bool:
        """Whether this caller may see a lead (its assignment, its rep's queue) assigned to
        ``rep_id`` in ``team``: a rep only their own (the token's ``rep_id``), a manager
        their teams' (the ``teams`` claim), anyone wider every one. The one statement of
        issue 12's rule; routing, which owns assignments, applies it."""
        if self.sees_every_lead:
            return True
        if Role.manager in self.roles and team is not None and team in self.teams:
            return True
        return Role.rep in self.roles and rep_id is not None and rep_id == self.rep_id


SCOPED_ROLES = frozenset({Role.rep, Role.manager})
"""The roles that see only some leads: a rep their own, a manager their teams'."""
