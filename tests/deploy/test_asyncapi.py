"""docs/asyncapi.yaml: what the code says, valid AsyncAPI, and the hand-kept publisher
map in shared.topics agreeing with what the services' handlers actually build."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pytest
import yaml

from deploy import asyncapi
from shared import codec, topics
from shared.events import LeadCaptured, LeadProfile, LeadScored, LeadSource
from shared.topics import TopicSpec
from tests.deploy import tools

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return yaml.safe_load(asyncapi.DOCUMENT.read_text())


def test_committed_document_is_what_the_code_says() -> None:
    assert asyncapi.DOCUMENT.read_text() == asyncapi.render(), (
        "docs/asyncapi.yaml is stale: a topic, event, header or subscription changed. "
        "Run `make generate` and commit the result.")


class LeadParked(LeadCaptured):
    """A made-up event, to show the document follows the registry."""

    TYPE: ClassVar[str] = "io.leadbridge.lead.parked.v1"


class LeadScoredWithMood(LeadScored):
    """LeadScored with one more field, as a change to the model would give."""

    mood: str = "sunny"


def test_a_new_topic_or_a_changed_event_changes_the_document() -> None:
    # What the staleness test above compares against really moves with the code.
    committed = asyncapi.DOCUMENT.read_text()
    services = asyncapi.discover_services()
    parked = TopicSpec("lead-parked", LeadParked)
    with_topic = asyncapi.render(asyncapi.build_document(
        (*topics.ALL, parked), {**topics.PUBLISHERS, parked: ("capture",)}, services))
    assert with_topic != committed
    assert "address: lead-parked" in with_topic and "io.leadbridge.lead.parked.v1" in with_topic

    moody = TopicSpec("lead-scored", LeadScoredWithMood)
    registry = [moody if s is topics.LEAD_SCORED else s for s in topics.ALL]
    publishers = {moody if s is topics.LEAD_SCORED else s: p for s, p in topics.PUBLISHERS.items()}
    with_field = asyncapi.render(asyncapi.build_document(registry, publishers, services))
    assert with_field != committed and "mood:" in with_field


def test_a_topic_without_publisher_is_refused() -> None:
    publishers = {s: p for s, p in topics.PUBLISHERS.items() if s is not topics.LEAD_ASSIGNED}
    with pytest.raises(ValueError, match="lead-assigned has no publisher"):
        asyncapi.build_document(topics.ALL, publishers, asyncapi.discover_services())


def test_every_topic_has_a_channel_and_each_consumer_its_operation(document: dict[str, Any]) -> None:
    channels = document["channels"]
    for spec in topics.ALL:
        channel = channels[spec.name]
        assert channel["address"] == spec.name
        assert channel["bindings"]["kafka"]["partitions"] == spec.partitions
        [message] = channel["messages"]
        assert message == spec.value_model.__name__
    receivers = {(op["tags"][0]["name"], op["channel"]["$ref"].rsplit("/", 1)[1])
                 for op in document["operations"].values() if op["action"] == "receive"}
    # Read from the services' own registries, not from the generator.
    from services.nurture.service import build_service as nurture
    from services.scoring.service import build_service as scoring

    assert {("scoring", s.spec.name) for s in scoring().subscriptions} <= receivers
    assert {("nurture", s.spec.name) for s in nurture().subscriptions} <= receivers
    assert ("scoring", "lead-scored") not in receivers  # scoring does not consume its own output


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """A validator for one schema of the document, its ``#/components/...`` references
    resolved within the document."""
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


def test_a_real_record_matches_its_message(document: dict[str, Any]) -> None:
    event = LeadCaptured(lead_id="L-1", capture_id="c-1", source=LeadSource.WEB_FORM, consent=True,
                         profile=LeadProfile(email="ana@example.com", name="Ana", company="Acme"))
    message = document["components"]["messages"]["LeadCaptured"]
    value = json.loads(codec.encode(event))
    _validator(document, message["payload"]).validate(value)
    headers = codec.header_map(codec.cloudevent_headers(event, codec.event_source("capture")))
    _validator(document, message["headers"]).validate(headers)
    _validator(document, message["bindings"]["kafka"]["key"]).validate(topics.LEAD_CAPTURED.key_of(event).decode())

    with pytest.raises(jsonschema.ValidationError):  # a record from the wrong service, or of the wrong type
        _validator(document, message["headers"]).validate({**headers, "ce_source": "leadbridge/routing"})
    with pytest.raises(jsonschema.ValidationError):
        _validator(document, message["payload"]).validate({**value, "surprise": 1})


def test_a_real_dead_letter_matches_its_message(document: dict[str, Any]) -> None:
    event = LeadCaptured(lead_id="L-1", capture_id="c-1", source=LeadSource.WEB_FORM, consent=True,
                         profile=LeadProfile(email="ana@example.com", name="Ana", company="Acme"))
    original = codec.cloudevent_headers(event, codec.event_source("capture"))
    letter = codec.dead_letter_headers(original, topic="lead-captured", partition=3, offset=41, reason="handler",
                                       error="RuntimeError: boom", service="scoring")
    schema = document["components"]["messages"]["DeadLetter"]["headers"]
    _validator(document, schema).validate(codec.header_map(letter))
    with pytest.raises(jsonschema.ValidationError):
        _validator(document, schema).validate(codec.header_map(original))  # no dlq_* headers


def _constructed_events(path: Path, names: set[str]) -> set[str]:
    """Event models a module builds: ``Model(...)``, ``Model.encoded(...)`` (any class
    method) or ``Encoded(Model, ...)``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if called in names:
            found.add(called)
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in names:
            found.add(func.value.id)
        elif called == "Encoded" and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id in names:
            found.add(node.args[0].id)
    return found


def test_publishers_are_the_services_whose_handlers_build_the_event() -> None:
    """shared.topics.PUBLISHERS is hand-kept; the handlers (handlers.py and the wiring in
    service.py, where the conventions put every emit) are what really publishes. A
    service that builds an event must be its declared publisher; a topic whose event no
    service builds yet (a contract ahead of its producer, or one written by a system
    outside) keeps its declaration until one does."""
    by_model = {spec.value_model.__name__: spec for spec in topics.ALL}
    built: dict[str, set[str]] = {spec.name: set() for spec in topics.ALL}
    for package in sorted(p for p in (ROOT / "services").iterdir() if (p / "service.py").exists()):
        for module in ("handlers.py", "service.py"):
            if (package / module).exists():
                for model in _constructed_events(package / module, set(by_model)):
                    built[by_model[model].name].add(package.name)
    declared = {spec.name: set(names) for spec, names in topics.PUBLISHERS.items()}
    assert set(declared) == set(built), "every topic needs an entry in shared.topics.PUBLISHERS"
    assert {t: b for t, b in built.items() if b} == {t: declared[t] for t, b in built.items() if b}
    assert built["lead-scored"] == {"scoring"} and built["lead-assigned"] == {"routing"}  # the scan sees emits


def test_asyncapi_cli_finds_the_document_valid() -> None:
    done = _validate(asyncapi.DOCUMENT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is valid" in done.stdout


def test_asyncapi_cli_rejects_a_broken_document(tmp_path: Path) -> None:
    # The validation above can fail: an operation pointing at a channel that does not exist.
    broken = tmp_path / "asyncapi.yaml"
    text = asyncapi.DOCUMENT.read_text()
    broken.write_text(text.replace("$ref: '#/channels/lead-scored'", "$ref: '#/channels/lead-scorred'", 1))
    done = _validate(broken)
    assert done.returncode != 0, done.stdout


def _validate(path: Path) -> Any:
    cli = tools.npm_bin() / "asyncapi"
    assert shutil.which(str(cli)), f"{cli} missing"
    # The CLI's usage analytics: off (a config file of ours, and CI=true), and never sent from here.
    return tools.run(cli, "validate", path, "--fail-severity=info", timeout=180, CI="true",
                     ASYNCAPI_METRICS_CONFIG_PATH=str(ROOT / "tools" / "asyncapi-analytics.json"))
