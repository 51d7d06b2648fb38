"""The shared HTTP edge on an in-process app (no broker, no database): the one error
model, the body limit, text a database cannot store, bounded instants, country codes,
and the OpenAPI document that says so."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, File, Form, HTTPException, UploadFile
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shared import codec, responses
from shared.codec import EventTooLarge
from shared.events import LeadEngaged
from shared.validation import (
    LIMITS,
    CountryCode,
    Instant,
    Text,
    TextMap,
    country_code,
    unsafe_text_in,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


class ThingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1)
    country: CountryCode | None = None
    at: Instant | None = None
    attributes: TextMap = Field(default_factory=dict)


def app(max_body_bytes: int = 10_000, larger: dict[str, int] | None = None) -> FastAPI:
    api = FastAPI(dependencies=[Depends(responses.refuse_unsafe_text)])
    responses.install(api, max_body_bytes, larger)
    router = APIRouter()

    @router.post("/things", status_code=201, responses=responses.responses(409, links={201: {
        "GetThing": responses.link("GET", "/things/{name}", name="$response.body#/name")}}))
    async def create(thing: ThingIn) -> dict[str, Any]:
        if thing.name == "taken":
            raise HTTPException(409, detail={"field": "name", "reason": "taken already"})
        if thing.name == "huge":
            raise EventTooLarge("thing-created", 2_000_000, 1_000_000)
        return {"name": thing.name, "country": thing.country, "at": thing.at.isoformat() if thing.at else None}

    @router.get("/things/{name}", responses=responses.responses(404))
    async def get(name: str, q: str = "") -> dict[str, Any]:
        raise HTTPException(404, detail={"field": "name", "reason": f"no thing {name}"})

    @router.post("/uploads")
    async def upload(file: Annotated[UploadFile, File()], note: Annotated[str, Form()]) -> dict[str, Any]:
        return {"size": len(await file.read()), "note": note}

    @router.get("/pages/{name}", response_class=HTMLResponse, responses=responses.responses(404))
    async def page(name: str) -> HTMLResponse:
        raise HTTPException(404, detail={"field": "name", "reason": "no page"})

    api.include_router(router)
    return api


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(app()) as c:
        yield c


def refused(r: Any, status: int = 422) -> dict[str, str]:
    """The answer's fields as {field: reason}, after checking it is the one error model."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "fields"} and isinstance(body["error"], str), body
    return {f["field"]: f["reason"] for f in body["fields"]}


# ----------------------------------------------------------------------------- one error model

def test_validation_route_and_router_errors_share_one_shape(client: TestClient) -> None:
    assert refused(client.post("/things", json={"name": ""})) == {"name": "String should have at least 1 character"}
    assert refused(client.post("/things", json={"name": "taken"}), 409) == {"name": "taken already"}
    assert refused(client.get("/things/x"), 404) == {"name": "no thing x"}
    assert refused(client.get("/nowhere"), 404) == {}
    assert client.get("/nowhere").json()["error"] == "not found"
    assert refused(client.delete("/things/x"), 405) == {}


def test_a_body_that_is_not_json_names_the_body(client: TestClient) -> None:
    for raw in (b"{name: ", b'{"name": "\xff"}', b"[" * 5000):
        fields = refused(client.post("/things", content=raw, headers={"content-type": "application/json"}))
        assert fields["body"].startswith("not valid JSON"), fields


def test_an_event_too_large_to_publish_is_413_naming_the_body(client: TestClient) -> None:
    fields = refused(client.post("/things", json={"name": "huge"}), 413)
    assert "2,000,000 bytes" in fields["body"] and "1,000,000" in fields["body"]


# ----------------------------------------------------------------------------- body limit

def test_a_body_over_the_limit_is_413_whether_its_length_is_declared_or_not() -> None:
    with TestClient(app(max_body_bytes=100)) as c:
        declared = c.post("/things", json={"name": "x" * 200})
        assert "larger than 100 bytes" in refused(declared, 413)["body"]

        def chunks() -> Iterator[bytes]:
            yield b'{"name": "'
            yield from (b"x" * 50 for _ in range(4))
            yield b'"}'

        streamed = c.post("/things", content=chunks(), headers={"content-type": "application/json"})
        assert "larger than 100 bytes" in refused(streamed, 413)["body"]
        assert c.post("/things", json={"name": "small"}).status_code == 201


def test_a_path_given_a_larger_limit_takes_a_body_over_the_app_wide_one_up_to_its_own() -> None:
    with TestClient(app(max_body_bytes=100, larger={"/things": 1_000})) as c:
        def thing(size: int) -> dict[str, Any]:
            return {"name": "big", "attributes": {f"k{i}": "x" * 90 for i in range(size // 100)}}

        assert c.post("/things", json=thing(500)).status_code == 201
        assert "larger than 1,000 bytes" in refused(c.post("/things", json=thing(2000)), 413)["body"]
        assert "larger than 100 bytes" in refused(c.put("/other", json=thing(500)), 413)["body"]


# ----------------------------------------------------------------------------- unsafe text

@pytest.mark.parametrize(("request_kw", "field"), [
    ({"json": {"name": "a\x00b"}}, "name"),
    ({"json": {"name": "ok", "attributes": {"k": "v\x00"}}}, "attributes.k"),
    ({"json": {"name": "ok", "attributes": {"k\x00": "v"}}}, "attributes.k\\u0000"),
    ({"content": b'{"name": "\\ud800"}'}, "name"),
    ({"content": b'{"name": "ok", "attributes": {"\\udfff": "v"}}'}, "attributes.\\udfff"),
    ({"content": b'{"name": "ok\x00"}'}, "body"),
])
def test_nul_and_lone_surrogates_in_a_body_are_refused_naming_the_field(
        client: TestClient, request_kw: dict[str, Any], field: str) -> None:
    if "content" in request_kw:
        request_kw["headers"] = {"content-type": "application/json"}
    fields = refused(client.post("/things", **request_kw))
    assert field in fields, fields


def test_nul_in_a_path_or_query_parameter_is_refused_naming_it(client: TestClient) -> None:
    assert "NUL" in refused(client.get("/things/a%00b"))["name"]
    assert "NUL" in refused(client.get("/things/a", params={"q": "x\x00"}))["q"]


def test_an_uploaded_files_bytes_may_hold_nul_but_its_form_fields_may_not(client: TestClient) -> None:
    binary = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    r = client.post("/uploads", files={"file": ("a.png", binary, "image/png")}, data={"note": "ok"})
    assert (r.status_code, r.json()) == (200, {"size": len(binary), "note": "ok"})
    assert "NUL" in refused(client.post("/uploads", files={"file": ("a.png", binary, "image/png")},
                                        data={"note": "x\x00"}))["note"]


def test_unsafe_text_is_found_anywhere_in_a_document() -> None:
    found = dict(unsafe_text_in({"a": [{"b": "ok"}, {"c": "\x00"}], "d\ud800": 1}))
    assert set(found) == {("a", "1", "c"), ("d\\ud800",)}


# ----------------------------------------------------------------------------- sizes, instants, countries

def test_text_and_maps_are_bounded_by_the_field_limits(client: TestClient) -> None:
    assert "at most" in refused(client.post("/things", json={"name": "x" * (LIMITS.text_chars + 1)}))["name"]
    many = {f"k{i}": "v" for i in range(LIMITS.map_entries + 1)}
    assert "attributes" in refused(client.post("/things", json={"name": "ok", "attributes": many}))
    long_value = {"k": "v" * (LIMITS.map_value_chars + 1)}
    assert "attributes.k" in refused(client.post("/things", json={"name": "ok", "attributes": long_value}))


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+05:00", "0001-01-01T00:00:00Z",
                                   "9999-12-31T23:59:59-05:00", "1969-12-31T23:59:59Z"])
def test_instants_outside_the_bounds_are_refused(client: TestClient, value: str) -> None:
    assert "must be between" in refused(client.post("/things", json={"name": "ok", "at": value}))["at"]


def test_an_instant_inside_the_bounds_comes_back_in_utc() -> None:
    parsed = TypeAdapter(Instant).validate_python("2026-03-01T10:00:00+02:00")
    assert parsed == datetime(2026, 3, 1, 8, tzinfo=UTC) and parsed.utcoffset() is not None


@pytest.mark.parametrize("value", ["ZZ", "ßß", "1!", "G1", "UK", "gbr"])
def test_only_assigned_iso_country_codes_are_accepted(value: str) -> None:
    with pytest.raises((ValueError, ValidationError)):
        TypeAdapter(CountryCode).validate_python(value)


def test_a_country_code_is_upper_cased() -> None:
    assert country_code("gb") == "GB"
    assert TypeAdapter(CountryCode).validate_python("de") == "DE"


# ----------------------------------------------------------------------------- the OpenAPI document

def test_the_document_declares_the_error_model_for_every_refusal() -> None:
    doc = app().openapi()
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert set(doc["components"]["schemas"]["ErrorBody"]["required"]) == {"error"}
    error = {"$ref": "#/components/schemas/ErrorBody"}
    create, get = doc["paths"]["/things"]["post"]["responses"], doc["paths"]["/things/{name}"]["get"]["responses"]
    assert {s: r["content"]["application/json"]["schema"] for s, r in create.items() if s[0] == "4"} == {
        "409": error, "413": error, "422": error}
    assert {s for s in get if s[0] == "4"} == {"404", "422"}  # no body: no 413
    page = doc["paths"]["/pages/{name}"]["get"]["responses"]
    assert page["404"]["content"] == {"application/json": {"schema": error}}  # an HTML page's 404 is JSON too
    assert create["201"]["links"]["GetThing"] == {"operationRef": "#/paths/~1things~1{name}/get",
                                                  "parameters": {"name": "$response.body#/name"}}


def test_a_record_whose_instant_cannot_be_moved_to_utc_is_a_decode_error_not_a_crash() -> None:
    """A producer outside the services can write any instant; OverflowError used to
    escape the codec and take the consumer (and so the service) down on every restart."""
    value = (b'{"lead_id": "x", "activity_id": "a", "behaviour": "page_visit", '
             b'"occurred_at": "0001-01-01T00:00:00+05:00"}')
    with pytest.raises(codec.DecodeError, match="UTC"):
        codec.decode(LeadEngaged, value)


def test_a_body_the_framework_cannot_parse_is_422_not_an_undocumented_400() -> None:
    api = FastAPI()
    responses.install(api, 10_000)

    @api.post("/upload")
    async def upload(file: UploadFile) -> dict[str, Any]:
        return {"name": file.filename}

    with TestClient(api) as c:
        broken = c.post("/upload", content=b"--x\r\nnot a part--x--\r\n",
                        headers={"content-type": "multipart/form-data; boundary=x"})
    assert refused(broken)["body"].startswith("cannot be read")
