"""The sales organisation and the routing rules, as data, and their validation.

Both documents are plain dicts (YAML files, JSON over HTTP). :func:`compile_config` turns
them into a :class:`RoutingConfig` or raises :class:`ConfigInvalid` listing every problem
with its path (``reps[3].hours``) and a reason a sales manager can act on. The live
configuration is only ever replaced by one that compiled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.routing.domain.calendar import CalendarError, WorkingCalendar, parse_zone
from shared.events import Grade, LeadSource
from shared.validation import country_code

DEFAULT_HOURS = "mon-fri 09:00-17:00"
QUALIFIED: Final = "qualified"
NEW: Final = "new"
Stage = Literal["new", "qualified"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


# --------------------------------------------------------------------------- organisation


class SlaPolicy(_Model):
    """How long a team has to follow up, counted in the owner's working calendar.

    Exactly one of ``business_hours``, ``business_days`` (a day is one working window) or
    ``seconds`` (wall clock: for tests and always-on teams)."""

    business_hours: float | None = Field(default=None, gt=0)
    business_days: float | None = Field(default=None, gt=0)
    seconds: float | None = Field(default=None, gt=0)
    reminder_before: float = Field(default=0.25, ge=0, lt=1,
                                   description="remind when this share of the budget is left; 0 = no reminder")

    @model_validator(mode="after")
    def _exactly_one(self) -> SlaPolicy:
        given = [n for n in ("business_hours", "business_days", "seconds") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of business_hours, business_days or seconds"
                             + (f" (got {', '.join(given)})" if given else ""))
        return self


class Manager(_Model):
    name: str
    email: str = ""
    phone: str = ""


class Team(_Model):
    """A group of reps with one follow-up policy and one manager."""

    id: str = Field(min_length=1)
    name: str = ""
    kind: str = Field(default="field", description="field, inside_sales, agency, ... (informative)")
    manager: Manager | None = None
    sla: SlaPolicy
    max_escalations: int = Field(default=2, ge=0)
    qualifies: bool = Field(default=False, description="members qualify leads and hand real ones to a field rep")
    owns_accounts: bool = Field(default=False, description="a member who gets a lead becomes its account owner")
    hours: str = DEFAULT_HOURS
    timezone: str = "UTC"


class Away(_Model):
    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")
    reason: str = ""


class Rep(_Model):
    """A sales rep: where and what they sell, how much they can hold, when they work."""

    id: str = Field(min_length=1)
    name: str
    team: str
    email: str = ""
    phone: str = ""
    countries: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    segments: tuple[str, ...] = Field(default=(), description="empty = every segment")
    channels: tuple[LeadSource, ...] = Field(default=(), description="lead sources handled; empty = any")
    capacity: int = Field(default=50, ge=0, description="most open leads held at once: a lead counts from its "
                          "assignment until it converts, is disqualified or is closed (README, Routing)")
    weight: float = Field(default=1.0, ge=0)
    hours: str | None = Field(default=None, description="defaults to the team's hours")
    timezone: str | None = Field(default=None, description="defaults to the team's time zone")
    holidays: tuple[date, ...] = ()
    away: tuple[Away, ...] = ()
    active: bool = True


class Org(_Model):
    name: str = "organisation"
    regions: dict[str, tuple[str, ...]] = Field(default_factory=dict, description="region → ISO countries")
    teams: tuple[Team, ...]
    reps: tuple[Rep, ...]
    accounts: dict[str, str] = Field(default_factory=dict, description="company → owning rep id")


# --------------------------------------------------------------------------- rules


class When(_Model):
    """Conditions of a rule; every given one must hold. ``None`` = not a condition."""

    grades: tuple[Grade, ...] | None = None
    hot: bool | None = None
    disqualified: bool | None = None
    sources: tuple[LeadSource, ...] | None = None
    segments: tuple[str, ...] | None = None
    countries: tuple[str, ...] | None = None
    campaigns: tuple[str, ...] | None = None
    stage: Stage = NEW


class Rule(_Model):
    """One routing rule: a condition and a destination (a team, or nurture)."""

    name: str = Field(min_length=1)
    when: When = Field(default_factory=When)
    team: str | None = None
    nurture: bool = False
    by_territory: bool = False
    by_segment: bool = False
    by_channel: bool = False
    respect_working_hours: bool = False
    account_match: bool = True
    sla: SlaPolicy | None = Field(default=None, description="a shorter follow-up clock for the leads this "
                                  "rule routes (hot leads: contacted at once); never longer than the team's")

    @model_validator(mode="after")
    def _one_destination(self) -> Rule:
        if (self.team is None) == (not self.nurture):
            raise ValueError("a rule needs exactly one destination: team: <id> or nurture: true")
        return self


class RuleSet(_Model):
    rules: tuple[Rule, ...]
    fallback_team: str = Field(description="whose queue gets a lead that no rule matches")


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class ConfigError:
    field: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


class ConfigInvalid(ValueError):
    """The organisation or rules are not valid; ``errors`` says every problem and where."""

    def __init__(self, errors: list[ConfigError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))
        self.errors = errors


def _pydantic_errors(prefix: str, exc: ValidationError) -> list[ConfigError]:
    out = []
    for err in exc.errors():
        path = prefix
        for part in err.get("loc", ()):
            path += f"[{part}]" if isinstance(part, int) else f".{part}"
        out.append(ConfigError(path, str(err.get("msg", "invalid")).removeprefix("Value error, ")))
    return out


# --------------------------------------------------------------------------- compiled


_COMPANY_SUFFIXES = re.compile(r"\b(inc|incorporated|ltd|limited|llc|plc|gmbh|corp|corporation|co|sa|ag|bv)\b\.?")


def company_key(company: str) -> str:
    """A company name normalised for account matching ('ACME Ltd.' == 'acme')."""
    text = _COMPANY_SUFFIXES.sub(" ", company.lower())
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def patterns_overlap(a: str, b: str) -> bool:
    """Whether two segment patterns written in the configuration can name the same leads:
    equal, or one is a hyphen-separated part of the other (``ent`` and ``ent-tech-na``).
    Only for checking the configuration; leads are matched on the parts scoring gives
    (:meth:`LeadFacts.in_segment`)."""
    return a == b or a in b.split("-") or b in a.split("-")


@dataclass(frozen=True)
class RoutingConfig:
    """A validated organisation and rule set, with indexes and calendars ready."""

    org: Org
    rules: RuleSet
    org_version: int = 0
    rules_version: int = 0
    calendars: dict[str, WorkingCalendar] = field(default_factory=dict)  # rep id → calendar
    team_calendars: dict[str, WorkingCalendar] = field(default_factory=dict)

    @cached_property
    def teams(self) -> dict[str, Team]:
        return {t.id: t for t in self.org.teams}

    @cached_property
    def reps(self) -> dict[str, Rep]:
        return {r.id: r for r in self.org.reps}

    @cached_property
    def team_reps(self) -> dict[str, tuple[Rep, ...]]:
        out: dict[str, list[Rep]] = {t.id: [] for t in self.org.teams}
        for rep in self.org.reps:
            out.setdefault(rep.team, []).append(rep)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def rules_by_name(self) -> dict[str, Rule]:
        return {r.name: r for r in self.rules.rules}

    @cached_property
    def static_accounts(self) -> dict[str, str]:
        return {company_key(c): rep for c, rep in self.org.accounts.items()}

    def territory(self, rep: Rep) -> frozenset[str]:
        """Every country a rep covers, directly or through a region."""
        countries = {c.upper() for c in rep.countries}
        for region in rep.regions:
            countries.update(c.upper() for c in self.org.regions.get(region, ()))
        return frozenset(countries)

    def calendar_of(self, rep_id: str | None, team_id: str | None) -> WorkingCalendar:
        if rep_id and rep_id in self.calendars:
            return self.calendars[rep_id]
        if team_id and team_id in self.team_calendars:
            return self.team_calendars[team_id]
        return WorkingCalendar.parse("mon-sun 00:00-24:00", "UTC")


def _covers(earlier: tuple[Any, ...] | None, later: tuple[Any, ...] | None) -> bool:
    """Whether every value allowed by ``later`` is also allowed by ``earlier``."""
    if earlier is None:
        return True
    if later is None:
        return False
    return set(later) <= set(earlier)


def shadowed_by(earlier: When, later: When) -> bool:
    """True when every lead ``later`` matches is already taken by ``earlier``."""
    if earlier.stage != later.stage:
        return False
    for name in ("hot", "disqualified"):
        a, b = getattr(earlier, name), getattr(later, name)
        if a is not None and a != b:
            return False
    return all(_covers(getattr(earlier, n), getattr(later, n))
               for n in ("grades", "sources", "segments", "countries", "campaigns"))


def compile_config(org_doc: dict[str, Any], rules_doc: dict[str, Any], *, org_version: int = 0,
                   rules_version: int = 0) -> RoutingConfig:
    """Parse and validate both documents together (rules refer to teams of the org).

    Raises :class:`ConfigInvalid` with every problem found."""
    errors: list[ConfigError] = []
    org: Org | None = None
    rules: RuleSet | None = None
    try:
        org = Org.model_validate(org_doc)
    except ValidationError as exc:
        errors += _pydantic_errors("org", exc)
    try:
        rules = RuleSet.model_validate(rules_doc)
    except ValidationError as exc:
        errors += _pydantic_errors("rules", exc)
    if org is None or rules is None:
        raise ConfigInvalid(errors)

    team_cals: dict[str, WorkingCalendar] = {}
    rep_cals: dict[str, WorkingCalendar] = {}
    errors += _check_org(org, team_cals, rep_cals)
    config = RoutingConfig(org, rules, org_version, rules_version, rep_cals, team_cals)
    errors += _check_rules(config)
    if errors:
        raise ConfigInvalid(errors)
    return config


def _defined_twice(names: Iterable[str], where: str, what: str, key: str) -> list[ConfigError]:
    """An error for each name already used by an earlier entry of the list at ``where``."""
    seen: set[str] = set()
    errors = []
    for i, name in enumerate(names):
        if name in seen:
            errors.append(ConfigError(f"{where}[{i}].{key}", f"{what} '{name}' is defined twice"))
        seen.add(name)
    return errors


def _not_countries(codes: Iterable[str], where: str) -> list[ConfigError]:
    """An error for each code that is not an assigned ISO 3166-1 alpha-2 country (the
    rule capture applies to every lead, stated once in shared.validation)."""
    errors = []
    for code in codes:
        try:
            country_code(code)
        except ValueError as exc:
            errors.append(ConfigError(where, f"'{code}': {exc}"))
    return errors


def _check_org(org: Org, team_cals: dict[str, WorkingCalendar],
               rep_cals: dict[str, WorkingCalendar]) -> list[ConfigError]:
    errors = _defined_twice((t.id for t in org.teams), "org.teams", "team", "id")
    errors += _defined_twice((r.id for r in org.reps), "org.reps", "rep", "id")
    for i, team in enumerate(org.teams):
        try:
            team_cals[team.id] = WorkingCalendar.parse(team.hours, team.timezone)
        except CalendarError as exc:
            errors.append(ConfigError(f"org.teams[{i}].hours", str(exc)))
    for region, countries in org.regions.items():
        if not countries:
            errors.append(ConfigError(f"org.regions.{region}", "a region needs at least one country"))
        errors += _not_countries(countries, f"org.regions.{region}")
    for i, rep in enumerate(org.reps):
        where = f"org.reps[{i}]"
        rep_team = next((t for t in org.teams if t.id == rep.team), None)
        if rep_team is None:
            errors.append(ConfigError(f"{where}.team", f"unknown team '{rep.team}' (teams: "
                                      f"{', '.join(t.id for t in org.teams) or 'none'})"))
        for region in rep.regions:
            if region not in org.regions:
                errors.append(ConfigError(f"{where}.regions", f"unknown region '{region}'"))
        errors += _not_countries(rep.countries, f"{where}.countries")
        if rep.weight == 0 and rep.capacity > 0:
            errors.append(ConfigError(f"{where}.weight", "weight 0 means never chosen; set capacity 0 or "
                                      "active: false to take a rep out of rotation"))
        hours = rep.hours or (rep_team.hours if rep_team else DEFAULT_HOURS)
        zone = rep.timezone or (rep_team.timezone if rep_team else "UTC")
        try:
            parse_zone(zone)
            rep_cals[rep.id] = WorkingCalendar.parse(hours, zone, rep.holidays)
        except CalendarError as exc:
            # Report each problem where it was written: inherited team hours are reported on the team.
            if "time zone" in str(exc) and rep.timezone:
                errors.append(ConfigError(f"{where}.timezone", str(exc)))
            elif rep.hours:
                errors.append(ConfigError(f"{where}.hours", str(exc)))
        for j, away in enumerate(rep.away):
            if away.end <= away.start:
                errors.append(ConfigError(f"{where}.away[{j}]", "'to' must be after 'from'"))
    for company, rep_id in org.accounts.items():
        if rep_id not in {r.id for r in org.reps}:
            errors.append(ConfigError(f"org.accounts.{company}", f"unknown rep '{rep_id}'"))
    return errors


def _check_rules(config: RoutingConfig) -> list[ConfigError]:
    errors: list[ConfigError] = []
    teams, rules = config.teams, config.rules
    if rules.fallback_team not in teams:
        errors.append(ConfigError("rules.fallback_team", f"unknown team '{rules.fallback_team}'"))
    errors += _defined_twice((r.name for r in rules.rules), "rules.rules", "rule", "name")
    for i, rule in enumerate(rules.rules):
        where = f"rules.rules[{i}]"
        for cond in ("grades", "sources", "segments", "countries", "campaigns"):
            if getattr(rule.when, cond) == ():
                errors.append(ConfigError(f"{where}.when.{cond}", f"rule '{rule.name}' can never match: "
                                          f"an empty {cond} list matches no lead"))
        empty = any(getattr(rule.when, c) == () for c in ("grades", "sources", "segments", "countries", "campaigns"))
        for j, earlier in enumerate(() if empty else rules.rules[:i]):
            if shadowed_by(earlier.when, rule.when):
                errors.append(ConfigError(f"{where}", f"rule '{rule.name}' can never match: every lead it "
                                          f"matches is taken first by rule '{earlier.name}' (rules[{j}])"))
                break
        if rule.team is None:
            if rule.sla is not None:
                errors.append(ConfigError(f"{where}.sla", f"rule '{rule.name}' nurtures: a nurtured lead has "
                                          "no follow-up clock"))
            continue
        if rule.team not in teams:
            errors.append(ConfigError(f"{where}.team", f"unknown team '{rule.team}'"))
            continue
        errors += _check_candidates(config, rule, where)
    qualifying = [t.id for t in config.org.teams if t.qualifies]
    if qualifying and not any(r.when.stage == QUALIFIED for r in rules.rules):
        errors.append(ConfigError("rules.rules", f"team(s) {', '.join(qualifying)} qualify leads but no rule has "
                                  "when.stage: qualified to say where a qualified lead goes"))
    return errors


def _check_candidates(config: RoutingConfig, rule: Rule, where: str) -> list[ConfigError]:
    """A rule whose every possible candidate can never take a lead is a configuration error."""
    assert rule.team is not None
    members = [r for r in config.team_reps.get(rule.team, ()) if r.active]
    if not members:
        return [ConfigError(f"{where}.team", f"team '{rule.team}' has no active rep: every lead of rule "
                            f"'{rule.name}' would only queue")]
    if rule.by_territory and rule.when.countries:
        wanted = {c.upper() for c in rule.when.countries}
        members = [r for r in members if config.territory(r) & wanted]
        if not members:
            return [ConfigError(f"{where}.when.countries", f"no rep of team '{rule.team}' covers "
                                f"{', '.join(sorted(wanted))}: rule '{rule.name}' can never reach a rep")]
    if rule.by_segment and rule.when.segments:
        wanted = set(rule.when.segments)
        members = [r for r in members if not r.segments or any(
            patterns_overlap(p, w) for p in r.segments for w in wanted)]
        if not members:
            return [ConfigError(f"{where}.when.segments", f"no rep of team '{rule.team}' sells to "
                                f"{', '.join(sorted(wanted))}: rule '{rule.name}' can never reach a rep")]
    if all(r.capacity == 0 for r in members):
        names = ", ".join(r.id for r in members)
        only = "the only candidate" if len(members) == 1 else "every candidate"
        return [ConfigError(f"{where}.team", f"{only} of rule '{rule.name}' ({names}) has zero capacity")]
    return []
