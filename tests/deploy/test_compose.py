"""docker-compose.yml: valid under the Compose Specification's JSON schema (the copy the
npm package dclint ships, installed by tools/install.sh), and every image, port,
environment variable and dependency matching what the code reads."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from deploy import asyncapi
from shared import auth, topics
from shared.lagwatch import LagwatchSettings
from shared.privacy import PRIVACY_SERVICES
from shared.service import create_app
from shared.settings import ServiceSettings
from tests.deploy import tools

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SERVICES = {s.name: s for s in asyncapi.discover_services()}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    # PyYAML resolves the anchors and `<<` merge keys as compose does.
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    path = tools.npm_bin().parent / "dclint" / "schemas" / "compose.schema.json"
    loaded: dict[str, Any] = json.loads(path.read_text())
    assert loaded["title"] == "Compose Specification"
    return loaded


def errors(schema: dict[str, Any], document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(document)]


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any], schema: dict[str, Any]) -> None:
    assert errors(schema, compose) == []


def test_the_schema_check_catches_a_wrong_compose_file(compose: dict[str, Any], schema: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["capture"]["healthcheck"]["interval"] = [5]
    broken["services"]["scoring"]["restart_policy"] = "always"  # not a service key (that is deploy.restart_policy)
    broken["services"]["routing"]["depends_on"] = {"kafka": {"condition": "service_up"}}
    found = errors(schema, broken)
    assert any(e.startswith("services.capture.healthcheck.interval") for e in found)
    assert any(e.startswith("services.scoring") and "restart_policy" in e for e in found)
    assert any(e.startswith("services.routing.depends_on") for e in found)


def _env_names_are_settings(env: dict[str, Any], settings_class: type[ServiceSettings], where: str) -> None:
    prefix = settings_class.model_config["env_prefix"]
    fields = {prefix + f.upper() for f in settings_class.model_fields}
    ours = {k for k in env if k.startswith(prefix)}
    assert ours <= fields, f"{where}: {sorted(ours - fields)} are not settings of {settings_class.__name__}"


def _port_of(url_or_host: str) -> tuple[str, int]:
    parts = urlsplit(url_or_host if "//" in url_or_host else f"//{url_or_host}")
    assert parts.hostname and parts.port, url_or_host
    return parts.hostname, parts.port


def test_each_service_is_built_run_and_exposed_as_its_code_says(compose: dict[str, Any]) -> None:
    services = compose["services"]
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^ARG SERVICE$", dockerfile, re.M)
    assert re.search(r"^CMD exec python -m services\.\$\{SERVICE\}$", dockerfile, re.M)
    for name, svc in SERVICES.items():
        entry = services[name]
        assert (ROOT / entry["build"]["context"] / entry["build"]["dockerfile"]).resolve() == ROOT / "deploy/Dockerfile"
        assert entry["build"]["args"]["SERVICE"] == name
        assert (ROOT / "services" / name / "__main__.py").exists()

        settings = svc.settings_class.model_construct()
        env = entry["environment"]
        _env_names_are_settings(env, svc.settings_class, name)
        port = int(env.get("LEADBRIDGE_HTTP_PORT", settings.http_port))
        assert port == settings.http_port, f"{name} listens on {settings.http_port} by default"
        assert env["LEADBRIDGE_HTTP_HOST"] == "0.0.0.0"  # reachable through the port mapping
        assert f"{port}:{port}" in entry["ports"]

        assert svc.definition is not None
        routes = {getattr(r, "path", None) for r in create_app(svc.definition).routes}
        [probe_url] = [u for arg in entry["healthcheck"]["test"] for u in re.findall(r"http://[^'\"]+", arg)]
        assert _port_of(probe_url)[1] == port and urlsplit(probe_url).path in routes

        depends = entry["depends_on"]
        assert depends["kafka"]["condition"] == "service_healthy"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["topics"]["condition"] == "service_completed_successfully"


def test_broker_and_database_addresses_point_at_the_compose_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    kafka_env = services["kafka"]["environment"]
    internal = [a for a in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",") if a.startswith("PLAINTEXT://")]
    [advertised] = [_port_of(a.split("://", 1)[1]) for a in internal]
    pg_env = services["postgres"]["environment"]
    for name in [*SERVICES, "topics", "lagwatch"]:
        env = services[name]["environment"]
        assert _port_of(env["LEADBRIDGE_KAFKA_BOOTSTRAP"]) == advertised, name
        assert "kafka" in services[name]["depends_on"], name
        if "LEADBRIDGE_DATABASE_URL" in env:
            url = urlsplit(env["LEADBRIDGE_DATABASE_URL"])
            assert (url.hostname, url.port or 5432) == ("postgres", 5432)
            assert (url.username, url.password, url.path.lstrip("/")) == (
                pg_env["POSTGRES_USER"], pg_env["POSTGRES_PASSWORD"], pg_env["POSTGRES_DB"])
    assert kafka_env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # so the topics job must run first


def test_topics_job_and_lagwatch_run_the_shared_commands(compose: dict[str, Any]) -> None:
    services = compose["services"]
    command = services["topics"]["command"]
    assert command[:3] == ["python", "-m", "shared.topics"]
    assert topics.parser().parse_args(command[3:]).command == "create"
    _env_names_are_settings(services["topics"]["environment"], ServiceSettings, "topics")

    lagwatch = services["lagwatch"]
    assert lagwatch["command"] == ["python", "-m", "shared.lagwatch"]
    _env_names_are_settings(lagwatch["environment"], LagwatchSettings, "lagwatch")
    assert int(lagwatch["environment"]["LEADBRIDGE_HTTP_PORT"]) == LagwatchSettings.model_construct().http_port


def test_prometheus_scrapes_every_service_on_its_port(compose: dict[str, Any]) -> None:
    mounts = {m.split(":")[1]: m.split(":")[0] for m in compose["services"]["prometheus"]["volumes"] if ":" in m}
    targets_file = ROOT / mounts["/etc/prometheus/targets.json"]
    targets = {t for group in json.loads(targets_file.read_text()) for t in group["targets"]}
    expected = {f"{n}:{s.settings_class.model_construct().http_port}" for n, s in SERVICES.items()}
    expected.add(f"lagwatch:{LagwatchSettings.model_construct().http_port}")
    assert expected <= targets


def test_images_are_the_versions_the_project_runs(compose: dict[str, Any]) -> None:
    services = compose["services"]
    pom = (ROOT / "deploy" / "kafka" / "pom.xml").read_text()
    [kafka_version] = re.findall(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert services["kafka"]["image"] == f"apache/kafka:{kafka_version}"  # the broker the tests run
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    [python] = re.findall(r"^FROM python:(\d+\.\d+)", dockerfile, re.M)
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == f">={python}", "the image runs the oldest Python the project supports"


def _volume_holding(entry: dict[str, Any], path: str) -> tuple[str, bool]:
    """The named volume a service sees ``path`` in, and whether it is mounted read-only."""
    for mount in entry.get("volumes", []):
        source, target, *options = mount.split(":")
        if PurePosixPath(path).is_relative_to(target):
            return source, "ro" in ",".join(options).split(",")
    raise AssertionError(f"{path} is in none of the mounts {entry.get('volumes')}")


def test_the_app_signs_with_the_keygen_key_and_every_service_verifies_its_jwks(compose: dict[str, Any],
                                                                               tmp_path: Path) -> None:
    services = compose["services"]
    keygen = services["keygen"]
    command = keygen["command"]
    assert command[:4] == ["python", "-m", "shared.auth", "keypair"]
    key_dir, jwks_file = command[4], command[command.index("--jwks-to") + 1]
    key_volume, _ = _volume_holding(keygen, f"{key_dir}/signing.pem")
    jwks_volume, _ = _volume_holding(keygen, jwks_file)
    assert key_volume != jwks_volume and {key_volume, jwks_volume} <= set(compose["volumes"])

    # keygen's command, with its container paths under tmp_path: a second run keeps the key
    local = [str(tmp_path / a.lstrip("/")) if a.startswith("/") else a for a in command[3:]]
    runs = [subprocess.run([sys.executable, "-m", "shared.auth", *local], cwd=ROOT, capture_output=True, text=True,
                           timeout=60) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    pem = tmp_path / key_dir.lstrip("/") / "signing.pem"
    assert runs[0].stdout.splitlines()[0] == runs[1].stdout.splitlines()[0] == str(pem)
    assert json.loads((tmp_path / jwks_file.lstrip("/")).read_text()) == auth.jwks_of(pem)

    app = services["app"]
    signing_key = app["environment"]["LEADBRIDGE_AUTH_SIGNING_KEY_FILE"]
    assert PurePosixPath(signing_key) == PurePosixPath(key_dir) / "signing.pem"
    assert _volume_holding(app, signing_key) == (key_volume, True)
    for name in SERVICES:
        entry = services[name]
        assert entry["environment"]["LEADBRIDGE_AUTH_JWKS_FILE"] == jwks_file, name
        assert _volume_holding(entry, jwks_file) == (jwks_volume, True), name
        assert entry["depends_on"]["keygen"]["condition"] == "service_completed_successfully", name
        if name != "app":  # the private key only where tokens are signed
            assert "LEADBRIDGE_AUTH_SIGNING_KEY_FILE" not in entry["environment"], name
            assert key_volume not in {m.split(":")[0] for m in entry.get("volumes", [])}, name


def test_capture_asks_every_other_service_holding_personal_data(compose: dict[str, Any]) -> None:
    services = compose["services"]
    peers = json.loads(services["capture"]["environment"]["LEADBRIDGE_PEER_URLS"])
    assert set(peers) == set(PRIVACY_SERVICES) - {"capture"}
    for name, url in peers.items():
        assert _port_of(url) == (name, int(services[name]["environment"]["LEADBRIDGE_HTTP_PORT"]))
