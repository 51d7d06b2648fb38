"""The Helm chart (deploy/helm/leadbridge): `helm lint`, `helm template`, every rendered
manifest against its schema (Kubernetes' own from kubernetes-validate; KEDA's
ScaledObject against deploy/helm/schemas), and the chart agreeing with the code it
deploys: ports, settings, probes, topics, consumer groups and partition bounds."""

from __future__ import annotations

import base64
import copy
import json
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import jwt
import kubernetes_validate
import pytest
import yaml

from deploy import asyncapi, generate
from services.app import api as app_api
from shared import auth, topics
from shared.consumer import group_id
from shared.privacy import PRIVACY_SERVICES
from shared.service import create_app
from tests.deploy import tools

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "leadbridge"
# The Kubernetes version the manifests are rendered for and checked against.
KUBE_VERSION = "1.33.0"
# Kinds Kubernetes' schemas do not cover, each with the schema it is checked against.
CUSTOM_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): ROOT / "deploy/helm/schemas/scaledobject-keda.sh-v1alpha1.json",
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): ROOT / "deploy/helm/schemas/kafkatopic-kafka.strimzi.io-v1beta2.json",
}
SERVICES = {s.name: s for s in asyncapi.discover_services()}


def helm(*argv: str) -> Any:
    return tools.run(tools.helm(), *argv, timeout=120)


def render(*sets: str) -> list[dict[str, Any]]:
    args = [a for s in sets for a in ("--set", s)]
    done = helm("template", "lb", str(CHART), "--kube-version", KUBE_VERSION, *args)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def schema_error(manifest: dict[str, Any]) -> str | None:
    """Why a manifest does not match its kind's schema (strict: no unknown fields), or None."""
    custom = CUSTOM_SCHEMAS.get((manifest.get("apiVersion"), manifest.get("kind")))
    try:
        if custom is not None:
            jsonschema.Draft202012Validator(json.loads(custom.read_text())).validate(manifest)
        else:
            kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)
    except jsonschema.ValidationError as exc:
        return f"{manifest['kind']}/{manifest['metadata']['name']}: {'.'.join(map(str, exc.path))}: {exc.message}"
    except kubernetes_validate.SchemaNotFoundError as exc:  # a kind with no schema is an error, not a pass
        return exc.message
    return None


def of_kind(manifests: Sequence[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["labels"]["app.kubernetes.io/component"]: m for m in manifests if m["kind"] == kind}


@pytest.fixture(scope="module")
def default() -> list[dict[str, Any]]:
    return render()


@pytest.fixture(scope="module")
def autoscaled() -> list[dict[str, Any]]:
    return render("autoscaling.enabled=true", "topicPrefix=stage-")


@pytest.fixture(scope="module")
def strimzi() -> list[dict[str, Any]]:
    return render("topics.strimzi.enabled=true", "topics.job.enabled=false", "topicPrefix=stage-")


@pytest.mark.parametrize("values", [[], ["autoscaling.enabled=true"],
                                    ["topics.job.enabled=false", "lagwatch.enabled=false"]])
def test_helm_lint_strict(values: list[str]) -> None:
    done = helm("lint", "--strict", str(CHART), *[a for v in values for a in ("--set", v)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


def test_values_are_checked_against_the_chart_schema() -> None:
    done = helm("template", "lb", str(CHART), "--kube-version", KUBE_VERSION, "--set", "services.capture.port=http")
    assert done.returncode != 0 and "/services/capture/port" in done.stderr


def test_every_rendered_manifest_matches_its_schema(default: list[dict[str, Any]], autoscaled: list[dict[str, Any]],
                                                     strimzi: list[dict[str, Any]]) -> None:
    kinds = {m["kind"] for m in default + autoscaled + strimzi}
    assert kinds == {"Deployment", "Service", "Job", "ScaledObject", "KafkaTopic", "Secret"}
    errors = [e for m in default + autoscaled + strimzi if (e := schema_error(m))]
    assert errors == []


def test_the_schema_check_catches_wrong_manifests(autoscaled: list[dict[str, Any]]) -> None:
    deployment = copy.deepcopy(of_kind(autoscaled, "Deployment")["scoring"])
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8002"
    assert "containerPort" in (schema_error(deployment) or "")
    deployment = copy.deepcopy(of_kind(autoscaled, "Deployment")["scoring"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}  # strict: unknown field
    assert "livenessprobe" in (schema_error(deployment) or "")
    scaled = copy.deepcopy(of_kind(autoscaled, "ScaledObject")["scoring"])
    scaled["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 500  # KEDA wants strings
    assert "lagThreshold" in (schema_error(scaled) or "")
    assert schema_error({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
    topic = copy.deepcopy(next(m for m in render("topics.strimzi.enabled=true") if m["kind"] == "KafkaTopic"))
    del topic["metadata"]["labels"]["strimzi.io/cluster"]  # the Topic Operator would ignore it
    assert "strimzi.io/cluster" in (schema_error(topic) or "")


def test_one_deployment_and_service_per_service_as_its_code_runs(default: list[dict[str, Any]]) -> None:
    deployments, services = of_kind(default, "Deployment"), of_kind(default, "Service")
    assert set(SERVICES) <= set(deployments) and set(SERVICES) <= set(services)
    for name, svc in SERVICES.items():
        settings = svc.settings_class.model_construct()
        pod = deployments[name]["spec"]["template"]["spec"]
        [container] = pod["containers"]
        assert container["image"].split("/")[-1].split(":")[0] == f"leadbridge-{name}"  # deploy/Dockerfile's tag
        [port] = container["ports"]
        assert port["containerPort"] == settings.http_port
        env = {e["name"]: e for e in container["env"]}
        assert env["LEADBRIDGE_HTTP_PORT"]["value"] == str(settings.http_port)
        prefix = svc.settings_class.model_config["env_prefix"]
        fields = {prefix + f.upper() for f in svc.settings_class.model_fields}
        assert set(env) <= fields, f"{name}: {set(env) - fields} are not settings of {svc.settings_class.__name__}"
        for secret in ("LEADBRIDGE_DATABASE_URL", "LEADBRIDGE_KAFKA_BOOTSTRAP"):
            assert "secretKeyRef" in env[secret]["valueFrom"]  # from the cluster, never from values
        assert svc.definition is not None
        routes = {getattr(r, "path", None) for r in create_app(svc.definition).routes}
        expected = {"startupProbe": "/healthz", "readinessProbe": "/healthz", "livenessProbe": "/livez"}
        for probe, path in expected.items():
            assert container[probe]["httpGet"]["path"] in routes
            assert container[probe]["httpGet"]["path"] == path
        assert container["resources"]["requests"] and container["resources"]["limits"]
        assert services[name]["spec"]["ports"][0]["port"] == settings.http_port


def test_chart_registry_is_what_the_code_says() -> None:
    assert generate.CHART_REGISTRY.read_text() == generate.render_chart_registry(), (
        "deploy/helm/leadbridge/registry.yaml is stale: a topic or subscription changed. Run `make generate`.")
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values["services"]) == set(SERVICES)


def test_autoscaling_follows_each_service_consumer_group_and_topics(autoscaled: list[dict[str, Any]]) -> None:
    scaled, deployments = of_kind(autoscaled, "ScaledObject"), of_kind(autoscaled, "Deployment")
    for name, svc in SERVICES.items():
        settings = svc.settings_class.model_construct(topic_prefix="stage-")
        spec = scaled[name]["spec"]
        assert spec["scaleTargetRef"]["name"] == deployments[name]["metadata"]["name"]
        assert "replicas" not in deployments[name]["spec"]  # KEDA owns the count
        triggers = spec["triggers"]
        assert {t["type"] for t in triggers} == {"kafka"}
        assert [t["metadata"]["topic"] for t in triggers] == [f"stage-{s.name}" for s in svc.consumes]
        assert {t["metadata"]["consumerGroup"] for t in triggers} == {group_id(settings)}
        env = {e["name"] for e in deployments[name]["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert {t["metadata"]["bootstrapServersFromEnv"] for t in triggers} <= env
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= max(s.partitions for s in svc.consumes)


def test_max_replicas_never_exceed_the_partitions() -> None:
    scaled = of_kind(render("autoscaling.enabled=true", "services.scoring.autoscaling.maxReplicas=50"), "ScaledObject")
    assert scaled["scoring"]["spec"]["maxReplicaCount"] == max(s.partitions for s in SERVICES["scoring"].consumes)


def test_a_consumed_topic_the_registry_does_not_list_is_refused(tmp_path: Path) -> None:
    chart = tmp_path / "leadbridge"
    shutil.copytree(CHART, chart)
    registry = yaml.safe_load((chart / "registry.yaml").read_text())
    registry["services"]["content"]["consumes"].append("lead-parked")
    (chart / "registry.yaml").write_text(yaml.safe_dump(registry))
    done = helm("template", "lb", str(chart), "--kube-version", KUBE_VERSION, "--set", "autoscaling.enabled=true")
    assert done.returncode != 0 and "lead-parked" in done.stderr


def test_topics_job_runs_the_registry_command(default: list[dict[str, Any]]) -> None:
    [job] = of_kind(default, "Job").values()
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["command"][:3] == ["python", "-m", "shared.topics"]
    args = topics.parser().parse_args(container["command"][3:])
    assert (args.command, args.replication_factor) == ("create", 3)
    assert {e["name"] for e in container["env"]} == {"LEADBRIDGE_KAFKA_BOOTSTRAP", "LEADBRIDGE_TOPIC_PREFIX"}


@pytest.mark.integration
def test_the_jobs_replication_factor_reaches_the_broker(infra: Any) -> None:
    """The local broker is a single node: a replication factor of 2 must be refused by
    it, which shows the job's value is what the topics are created with."""
    prefix = f"rf-{uuid.uuid4().hex[:8]}-"
    done = tools.run(ROOT / ".venv/bin/python", "-m", "shared.topics", "create", "--replication-factor", "2",
                     timeout=120, LEADBRIDGE_KAFKA_BOOTSTRAP=infra.bootstrap, LEADBRIDGE_TOPIC_PREFIX=prefix)
    try:
        assert done.returncode != 0
        assert "InvalidReplicationFactor" in done.stderr, done.stderr[-2000:]
    finally:
        topics.delete_with_prefix(infra.bootstrap, prefix)


def test_strimzi_topics_are_the_registry(strimzi: list[dict[str, Any]]) -> None:
    rendered = {m["spec"]["topicName"]: m for m in strimzi if m["kind"] == "KafkaTopic"}
    expected = {f"stage-{s.name}": s.partitions for s in topics.ALL}
    expected |= {f"stage-{s.dlq}": topics.DLQ_PARTITIONS for s in topics.ALL}
    assert {name: m["spec"]["partitions"] for name, m in rendered.items()} == expected
    for spec in topics.ALL:
        for name in (spec.name, spec.dlq):
            topic = rendered[f"stage-{name}"]
            assert {k: str(v) for k, v in topic["spec"]["config"].items()} == spec.configs()
            assert topic["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert not [m for m in strimzi if m["kind"] == "Job"]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _signing_key_source(deployment: dict[str, Any]) -> tuple[str, str]:
    """The Secret and key the file in LEADBRIDGE_AUTH_SIGNING_KEY_FILE comes from, through
    the container's mounts and the pod's volumes."""
    container = _container(deployment)
    path = Path({e["name"]: e.get("value") for e in container["env"]}["LEADBRIDGE_AUTH_SIGNING_KEY_FILE"])
    [mount] = [m for m in container["volumeMounts"] if path.is_relative_to(m["mountPath"])]
    assert mount["readOnly"] is True
    [volume] = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]]
    [item] = [i for i in volume["secret"]["items"] if Path(mount["mountPath"]) / i["path"] == path]
    return volume["secret"]["secretName"], item["key"]


def test_the_app_signs_with_the_generated_key_and_every_service_verifies_with_its_jwks(
        default: list[dict[str, Any]], tmp_path: Path) -> None:
    deployments, services = of_kind(default, "Deployment"), of_kind(default, "Service")
    secret_name, key = _signing_key_source(deployments["app"])
    [secret] = [m for m in default if m["kind"] == "Secret" and m["metadata"]["name"] == secret_name]
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    pem = tmp_path / "signing.pem"
    pem.write_bytes(base64.b64decode(secret["data"][key]))
    jwks = auth.jwks_of(pem)  # a key shared.auth signs with
    assert [k["alg"] for k in jwks["keys"]] == ["EdDSA"]
    token = auth.issue_token(pem, "us-1", [auth.Role.rep])
    claims = jwt.decode(token, jwt.PyJWK(jwks["keys"][0]).key, algorithms=["EdDSA"], audience="leadbridge")
    assert claims["sub"] == "us-1"

    app_port = services["app"]["spec"]["ports"][0]["port"]
    app_routes = {getattr(r, "path", None) for r in app_api.router.routes}
    for name in SERVICES:
        container = _container(deployments[name])
        env = {e["name"]: e.get("value") for e in container["env"]}
        url = urlsplit(env["LEADBRIDGE_AUTH_JWKS_URL"])
        expected_host = "127.0.0.1" if name == "app" else services["app"]["metadata"]["name"]
        assert (url.hostname, url.port) == (expected_host, app_port), name
        assert url.path in app_routes
        if name != "app":  # the private key only where tokens are signed
            assert "LEADBRIDGE_AUTH_SIGNING_KEY_FILE" not in env, name
            assert "volumes" not in deployments[name]["spec"]["template"]["spec"], name


def test_a_signing_key_secret_of_yours_and_an_outside_jwks() -> None:
    manifests = render("auth.existingSecret=my-keys", "auth.signingKeyKey=key.pem",
                       "auth.jwksUrl=https://sso.example.com/jwks")
    assert not [m for m in manifests if m["kind"] == "Secret"]  # the chart makes none of its own
    deployments = of_kind(manifests, "Deployment")
    assert _signing_key_source(deployments["app"]) == ("my-keys", "key.pem")
    for name in SERVICES:
        env = {e["name"]: e.get("value") for e in _container(deployments[name])["env"]}
        assert env["LEADBRIDGE_AUTH_JWKS_URL"] == "https://sso.example.com/jwks", name


def test_capture_gets_its_peers_and_source_credentials(default: list[dict[str, Any]]) -> None:
    services = of_kind(default, "Service")
    env = {e["name"]: e for e in _container(of_kind(default, "Deployment")["capture"])["env"]}
    peers = json.loads(env["LEADBRIDGE_PEER_URLS"]["value"])
    assert set(peers) == set(PRIVACY_SERVICES) - {"capture"}
    for name, url in peers.items():
        parts = urlsplit(url)
        assert (parts.hostname, parts.port) == (services[name]["metadata"]["name"],
                                                services[name]["spec"]["ports"][0]["port"])
    assert "LEADBRIDGE_SOURCE_KEYS" not in env  # issued over HTTP unless a Secret is named
    manifests = render("sourceCredentials.secretName=capture-creds")
    env = {e["name"]: e for e in _container(of_kind(manifests, "Deployment")["capture"])["env"]}
    for name, key in {"LEADBRIDGE_SOURCE_KEYS": "source-keys", "LEADBRIDGE_WEBHOOK_SECRETS": "webhook-secrets",
                      "LEADBRIDGE_SOURCE_KEY_PEPPER": "source-key-pepper"}.items():
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "capture-creds", "key": key, "optional": True}
    assert errors_of(manifests) == []


def errors_of(manifests: Sequence[dict[str, Any]]) -> list[str]:
    return [e for m in manifests if (e := schema_error(m))]
