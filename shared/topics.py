"""The one topic registry: each topic's name, key, value model and partition count.

Services import topic specs from here; nobody spells a topic name twice. Every lead
topic is keyed by ``lead_id`` so all of one lead's events share a partition number,
and every topic has a dead-letter twin ``<name>.dlq`` for records that could not be
handled.

``python -m shared.topics create`` creates them all (the broker runs with topic
auto-creation off); ``python -m shared.topics list`` shows them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.events import (
    AuditRecorded,
    CampaignDefined,
    CampaignMemberChanged,
    CollateralRetirementWarned,
    CollateralShared,
    CollateralStatusChanged,
    CollateralViewed,
    ConsentWithdrawn,
    CrmOutcomeReported,
    DealOutcomeRecorded,
    Event,
    FollowUpEscalated,
    FollowUpMissed,
    FollowUpRecorded,
    FollowUpReminderIssued,
    LeadAssigned,
    LeadCaptured,
    LeadEngaged,
    LeadScored,
    NurtureMessageEngaged,
    NurtureMessageSent,
    RepTaskCreated,
    RoutingConfigChanged,
    RubricActivated,
    SubjectErased,
    SubjectErasureCompleted,
    SubjectErasureRequested,
)

DLQ_SUFFIX = ".dlq"
# Dead letters are few and replayed in order: one partition.
DLQ_PARTITIONS = 1
DEFAULT_PARTITIONS = 4
# How long the broker keeps a record (Kafka's default, set on every topic created here),
# and how long a log segment stays open. A record is deleted with its segment, once the
# segment's newest record is older than the retention, so it can still be read up to
# retention + segment time after it was written: that is how long a consumer must
# remember that it handled it (the inbox's retention, shared.settings).
RETENTION_MS = 7 * 24 * 3600 * 1000
SEGMENT_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    value_model: type[Event]
    key_field: str = "lead_id"
    partitions: int = DEFAULT_PARTITIONS
    retention_ms: int = RETENTION_MS

    @property
    def dlq(self) -> str:
        return self.name + DLQ_SUFFIX

    @property
    def readable_ms(self) -> int:
        """How long after it was written a record of this topic can still be read."""
        return self.retention_ms + SEGMENT_MS

    def configs(self) -> dict[str, str]:
        """The broker-side settings of this topic (and of its dead-letter twin)."""
        return {"retention.ms": str(self.retention_ms), "segment.ms": str(SEGMENT_MS)}

    def key_of(self, event: Event) -> bytes:
        return str(getattr(event, self.key_field)).encode()


LEAD_CAPTURED = TopicSpec("lead-captured", LeadCaptured)
LEAD_ENGAGED = TopicSpec("lead-engaged", LeadEngaged)
LEAD_SCORED = TopicSpec("lead-scored", LeadScored)
LEAD_ASSIGNED = TopicSpec("lead-assigned", LeadAssigned)
FOLLOW_UP_RECORDED = TopicSpec("follow-up-recorded", FollowUpRecorded)
FOLLOW_UP_MISSED = TopicSpec("follow-up-missed", FollowUpMissed)
RUBRIC_ACTIVATED = TopicSpec("rubric-activated", RubricActivated, key_field="version", partitions=1)
FOLLOW_UP_REMINDERS = TopicSpec("follow-up-reminders", FollowUpReminderIssued)
FOLLOW_UP_ESCALATED = TopicSpec("follow-up-escalated", FollowUpEscalated)
ROUTING_CONFIG_CHANGED = TopicSpec("routing-config-changed", RoutingConfigChanged, key_field="kind", partitions=1)
CAMPAIGN_DEFINED = TopicSpec("campaign-defined", CampaignDefined, key_field="campaign_id", partitions=1)
CAMPAIGN_MEMBER_CHANGED = TopicSpec("campaign-member-changed", CampaignMemberChanged)
CRM_OUTCOMES = TopicSpec("crm-outcomes", CrmOutcomeReported, key_field="opportunity_id")
DEAL_OUTCOME_RECORDED = TopicSpec("deal-outcome-recorded", DealOutcomeRecorded)
NURTURE_MESSAGE_SENT = TopicSpec("nurture-message-sent", NurtureMessageSent)
NURTURE_MESSAGE_ENGAGED = TopicSpec("nurture-message-engaged", NurtureMessageEngaged)
REP_TASK_CREATED = TopicSpec("rep-task-created", RepTaskCreated)
COLLATERAL_STATUS_CHANGED = TopicSpec("collateral-status-changed", CollateralStatusChanged, key_field="item_id")
COLLATERAL_RETIREMENT_WARNED = TopicSpec("collateral-retirement-warned", CollateralRetirementWarned,
                                         key_field="item_id")
COLLATERAL_SHARED = TopicSpec("collateral-shared", CollateralShared)
COLLATERAL_VIEWED = TopicSpec("collateral-viewed", CollateralViewed)
# Every service's audit trail (shared.audit), in one order for whoever gathers them.
AUDIT_RECORDED = TopicSpec("audit-recorded", AuditRecorded, key_field="subject_id", partitions=1)
SUBJECT_ERASURE_REQUESTED = TopicSpec("subject-erasure-requested", SubjectErasureRequested)
SUBJECT_ERASED = TopicSpec("subject-erased", SubjectErased)
SUBJECT_ERASURE_COMPLETED = TopicSpec("subject-erasure-completed", SubjectErasureCompleted)
CONSENT_WITHDRAWN = TopicSpec("consent-withdrawn", ConsentWithdrawn)

ALL: tuple[TopicSpec, ...] = (
    LEAD_CAPTURED,
    LEAD_ENGAGED,
    LEAD_SCORED,
    LEAD_ASSIGNED,
    FOLLOW_UP_RECORDED,
    FOLLOW_UP_MISSED,
    RUBRIC_ACTIVATED,
    FOLLOW_UP_REMINDERS,
    FOLLOW_UP_ESCALATED,
    ROUTING_CONFIG_CHANGED,
    CAMPAIGN_DEFINED,
    CAMPAIGN_MEMBER_CHANGED,
    CRM_OUTCOMES,
    DEAL_OUTCOME_RECORDED,
    NURTURE_MESSAGE_SENT,
    NURTURE_MESSAGE_ENGAGED,
    REP_TASK_CREATED,
    COLLATERAL_STATUS_CHANGED,
    COLLATERAL_RETIREMENT_WARNED,
    COLLATERAL_SHARED,
    COLLATERAL_VIEWED,
    AUDIT_RECORDED,
    SUBJECT_ERASURE_REQUESTED,
    SUBJECT_ERASED,
    SUBJECT_ERASURE_COMPLETED,
    CONSENT_WITHDRAWN,
)

# Which services publish each topic. Consumers are read from each service's registry
# (docs/asyncapi.yaml is generated from both); what a service emits is not declared
# anywhere else, so this is the one hand-kept map. tests/deploy/test_asyncapi.py checks
# it against the events each service's handlers construct.
PUBLISHERS: dict[TopicSpec, tuple[str, ...]] = {
    LEAD_CAPTURED: ("capture",),
    LEAD_ENGAGED: ("capture",),
    LEAD_SCORED: ("scoring",),
    LEAD_ASSIGNED: ("routing",),
    FOLLOW_UP_RECORDED: ("routing",),
    FOLLOW_UP_MISSED: ("routing",),
    RUBRIC_ACTIVATED: ("scoring",),
    FOLLOW_UP_REMINDERS: ("routing",),
    FOLLOW_UP_ESCALATED: ("routing",),
    ROUTING_CONFIG_CHANGED: ("routing",),
    CAMPAIGN_DEFINED: ("nurture",),
    CAMPAIGN_MEMBER_CHANGED: ("nurture",),
    # CRM connectors may also write crm-outcomes straight to Kafka (not a service here)
    CRM_OUTCOMES: ("capture",),
    DEAL_OUTCOME_RECORDED: ("capture",),
    NURTURE_MESSAGE_SENT: ("nurture",),
    NURTURE_MESSAGE_ENGAGED: ("nurture",),
    REP_TASK_CREATED: ("nurture",),
    COLLATERAL_STATUS_CHANGED: ("content",),
    COLLATERAL_RETIREMENT_WARNED: ("content",),
    COLLATERAL_SHARED: ("content",),
    COLLATERAL_VIEWED: ("content",),
    # every service: shared.audit.record, in the transaction of the change it records
    AUDIT_RECORDED: ("capture", "content", "nurture", "routing", "scoring"),
    SUBJECT_ERASURE_REQUESTED: ("capture",),
    # every service confirms its own part (shared.privacy builds the event for each)
    SUBJECT_ERASED: ("capture", "content", "nurture", "routing", "scoring"),
    SUBJECT_ERASURE_COMPLETED: ("capture",),
    CONSENT_WITHDRAWN: ("capture",),
}

BY_NAME: dict[str, TopicSpec] = {spec.name: spec for spec in ALL}
BY_MODEL: dict[type[Event], TopicSpec] = {spec.value_model: spec for spec in ALL}


def spec_for(event: Event) -> TopicSpec:
    """The topic an event belongs on."""
    return spec_for_model(type(event))


def spec_for_model(model: type[Event]) -> TopicSpec:
    """The topic events of this model belong on."""
    try:
        return BY_MODEL[model]
    except KeyError:
        raise LookupError(f"no topic registered for {model.__name__}") from None


def longest_readable_ms() -> int:
    """How long after it was written a record of any registered topic can still be read."""
    return max(spec.readable_ms for spec in ALL)


def create_all(bootstrap: str, *, prefix: str = "", replication_factor: int = 1,
               timeout_s: float = 30.0, security: Mapping[str, Any] | None = None) -> list[str]:
    """Create every registered topic and its dead-letter twin, with their retention;
    existing ones are kept, their retention set to the registry's. ``replication_factor``
    is 1 for the single local broker; a cluster's deployment passes its own (the Helm
    chart's topics job: 3). ``security``: the SASL options of a secure broker
    (:meth:`shared.settings.ServiceSettings.kafka_security`, an admin principal's).

    Returns the names created now."""
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="leadbridge-topics",
                             request_timeout_ms=int(timeout_s * 1000), **(security or {}))
    try:
        existing = set(admin.list_topics())
        rf = replication_factor
        wanted = [NewTopic(prefix + s.name, s.partitions, rf, topic_configs=s.configs()) for s in ALL]
        wanted += [NewTopic(prefix + s.dlq, DLQ_PARTITIONS, rf, topic_configs=s.configs()) for s in ALL]
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            admin.create_topics(missing, timeout_ms=int(timeout_s * 1000))
            _wait_until_led(admin, [t.name for t in missing], timeout_s)
        kept = [t for t in wanted if t.name in existing]
        if kept:  # made before the registry set retention, or changed by hand
            admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, t.name, configs=dict(t.topic_configs))
                                 for t in kept], incremental=True)
        return [t.name for t in missing]
    finally:
        admin.close()


def _wait_until_led(admin: Any, names: list[str], timeout_s: float) -> None:
    """Until every partition of the topics just created has a leader: the controller
    answers a creation before the broker serves the topics, and a consumer that
    subscribes meanwhile may not see them until its next metadata refresh (minutes).
    Gives up quietly after ``timeout_s``: a caller that produces then retries anyway."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            described = admin.describe_topics(names)
        except Exception:  # (not known to the broker yet: ask again)
            described = []
        if len(described) == len(names) and all(
                t.get("error_code", 0) == 0 and t["partitions"]
                and all(p.get("leader_id", -1) >= 0 for p in t["partitions"]) for t in described):
            return
        time.sleep(0.1)


def delete_with_prefix(bootstrap: str, prefix: str, *, timeout_s: float = 30.0,
                       security: Mapping[str, Any] | None = None) -> list[str]:
    """Delete every topic whose name starts with ``prefix`` (a test run's or a bench's
    namespace, dead-letter topics included). Refuses an empty prefix: that would
    be the live pipeline."""
    if not prefix:
        raise ValueError("refusing to delete topics without a prefix")
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="leadbridge-topics",
                             request_timeout_ms=int(timeout_s * 1000), **(security or {}))
    try:
        mine = [t for t in admin.list_topics() if t.startswith(prefix)]
        if mine:
            admin.delete_topics(mine, timeout_ms=int(timeout_s * 1000))
        return mine
    finally:
        admin.close()


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m shared.topics`` (the Helm chart's topics job runs it)."""
    p = argparse.ArgumentParser(prog="python -m shared.topics", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["create", "list"])
    p.add_argument("--bootstrap", default=None, help="defaults to LEADBRIDGE_KAFKA_BOOTSTRAP")
    p.add_argument("--replication-factor", type=int, default=1,
                   help="for topics created now (default 1: the single local broker)")
    return p


def main(argv: list[str] | None = None) -> int:
    from shared.settings import ServiceSettings

    args = parser().parse_args(argv)
    settings = ServiceSettings()
    bootstrap = args.bootstrap or settings.kafka_bootstrap
    if args.command == "create":
        created = create_all(bootstrap, prefix=settings.topic_prefix, replication_factor=args.replication_factor,
                             security=settings.kafka_security())
        print(f"[topics] created {len(created)}: {', '.join(created) or '(all existed)'}")
    else:
        for spec in ALL:
            print(f"{spec.name:22} key={spec.key_field:14} partitions={spec.partitions} "
                  f"retention={spec.retention_ms // 3_600_000}h value={spec.value_model.__name__} dlq={spec.dlq}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
