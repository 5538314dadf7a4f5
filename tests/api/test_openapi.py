"""The OpenAPI document: valid, complete, and generated from the validating schemas."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from app.api.schemas import ContactIn, InteractionIn


def document(client: FlaskClient) -> dict:
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    assert resp.content_type == "application/json"
    return resp.get_json()


def test_document_is_valid_openapi_31(client: FlaskClient) -> None:
    doc = document(client)
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_document_lists_every_api_route(app: Flask, client: FlaskClient) -> None:
    doc = document(client)
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    routed = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint == "api.openapi_json":
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        routed |= {(path, m) for m in rule.methods or () if m not in ("HEAD", "OPTIONS")}
    assert routed and routed == documented


def test_operations_declare_security_and_problem_responses(client: FlaskClient) -> None:
    doc = document(client)
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["security"] == [{"bearerAuth": [op["security"][0]["bearerAuth"][0]]}]
            for code in ("401", "403"):
                content = op["responses"][code]["content"]
                assert "application/problem+json" in content, (path, method)
            if "requestBody" in op:
                assert {"400", "422"} <= set(op["responses"]), (path, method)
    ingest = doc["paths"]["/api/v1/interactions"]["post"]["responses"]
    assert {"200", "201", "409", "422"} <= set(ingest)


def test_schemas_are_the_validating_models(client: FlaskClient) -> None:
    schemas = document(client)["components"]["schemas"]
    assert set(schemas["InteractionIn"]["required"]) == set(
        InteractionIn.model_json_schema()["required"]
    )
    channel = schemas["InteractionIn"]["properties"]["channel"]
    assert "shop" in channel["enum"]
    assert set(schemas["ContactIn"]["properties"]) == set(ContactIn.model_fields)
    refs = re.findall(r'"\$ref": "#/components/schemas/(\w+)"', str(schemas).replace("'", '"'))
    assert set(refs) <= set(schemas)


def test_document_needs_no_token(client: FlaskClient) -> None:
    assert client.get("/api/v1/openapi.json").status_code == 200
