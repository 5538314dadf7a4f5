"""Declaring API operations once: the same pydantic models validate requests and describe them.

`@api_route(...)` registers a view on the blueprint, wraps it with token authentication, body and
query validation and one transaction, and records the operation so `openapi_document()` can
generate the OpenAPI 3.1 document from exactly what the views accept and return.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ValidationError

from app.api.auth import authenticate
from app.api.schemas import MAX_ID, FieldError, Problem
from app.auth.service import API_SCOPES
from app.errors import DomainError, Invalid, NotFound
from app.extensions import db

PROBLEM_JSON = "application/problem+json"

ERROR_DESCRIPTIONS = {
    400: "The body is not a JSON object.",
    401: "No valid token (missing, unknown or revoked).",
    403: "The token lacks the scope, or its user may not do this.",
    404: "No such resource (or not visible to the token's user).",
    409: "Conflicts with an existing record.",
    422: "The input is invalid; `errors` lists each field and why.",
}


class BadRequest(DomainError):
    status = 400
    title = "Bad request"


@dataclass
class Operation:
    rule: str
    method: str
    endpoint: str
    summary: str
    scope: str
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    statuses: dict[int, str]
    errors: tuple[int, ...]
    tag: str
    description: str = ""
    path_params: dict[str, str] = field(default_factory=dict)


# Operations per blueprint name, in declaration order.
OPERATIONS: dict[str, list[Operation]] = {}

# Flask rule variables: <name>, <int:name>, <int(max=9):name>.
_RULE_PARAM = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")


def _openapi_path(prefix: str, rule: str) -> tuple[str, dict[str, str]]:
    params: dict[str, str] = {}

    def _sub(match: re.Match[str]) -> str:
        params[match["name"]] = match["converter"] or "string"
        return "{" + match["name"] + "}"

    return (prefix.rstrip("/") + _RULE_PARAM.sub(_sub, rule)), params


def field_errors(exc: ValidationError, where: str = "") -> list[dict[str, str]]:
    out = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(part) for part in err["loc"])
        out.append({"field": path or where or "body", "message": err["msg"]})
    return out


def _invalid(errors: list[dict[str, str]]) -> Invalid:
    names = ", ".join(dict.fromkeys(e["field"] for e in errors))
    return Invalid(f"Invalid input: {names}.", details=errors)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


MAX_JSON_DEPTH = 32


def _bad_text(text: str) -> str | None:
    if "\x00" in text:
        return "Text cannot contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "Text must be valid Unicode (no lone surrogates)"
    return None


def _check_json(data: Any) -> None:
    """Refuse what no column can store, before it reaches the database: NUL characters
    (PostgreSQL text), lone surrogates (not UTF-8), and nesting too deep to handle safely."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise _invalid([{"field": path or "body", "message": "Nested too deeply"}])
        if isinstance(value, str):
            items: list[tuple[Any, str]] = []
            problem = _bad_text(value)
        elif isinstance(value, dict):
            items = [(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()]
            problem = next((_bad_text(str(k)) for k in value if _bad_text(str(k))), None)
        elif isinstance(value, list):
            items = [(v, f"{path}.{i}" if path else str(i)) for i, v in enumerate(value)]
            problem = None
        else:
            continue
        if problem:
            raise _invalid([{"field": path or "body", "message": problem}])
        stack.extend((item, where, depth + 1) for item, where in items)


def parse_body(model: type[BaseModel]) -> BaseModel:
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise BadRequest("The request needs a JSON object as its body.")
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise BadRequest("The body is not valid JSON (UTF-8).") from exc
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.")
    _check_json(data)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(field_errors(exc)) from exc


def parse_query(model: type[BaseModel]) -> BaseModel:
    # An empty parameter (?tier=) means "not given", as HTML forms send it.
    data = {key: value for key, value in request.args.items() if value != ""}
    _check_json(data)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(field_errors(exc)) from exc


def _json_response(result: Any, status: int) -> Response:
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json")
    response = jsonify(result)
    response.status_code = status
    return response


def api_route(
    bp: Blueprint,
    rule: str,
    *,
    methods: Iterable[str],
    scope: str,
    summary: str,
    tag: str,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    statuses: Mapping[int, str] | None = None,
    errors: Iterable[int] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
    """Register an authenticated JSON operation.

    The view receives the path parameters, plus `body` and/or `query` (validated models), and
    returns a model (sent with `status`) or `(model, status)`. It runs inside one transaction,
    committed after the response body was built and rolled back on any error.
    """
    if scope not in API_SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    methods = [m.upper() for m in methods]

    def decorator(view: Callable[..., Any]) -> Callable[..., Response]:
        path, params = _openapi_path(bp.url_prefix or "", rule)

        @functools.wraps(view)
        def wrapper(**kwargs: Any) -> Response:
            with db.transaction() as session:
                authenticate(session, scope)
                for name, value in kwargs.items():
                    if params.get(name) == "int" and value > MAX_ID:
                        raise NotFound("No such resource.")
                if query is not None:
                    kwargs["query"] = parse_query(query)
                if body is not None:
                    kwargs["body"] = parse_body(body)
                result = view(**kwargs)
                code = status
                if isinstance(result, tuple):
                    result, code = result
                out = _json_response(result, code)
            return out

        bp.add_url_rule(rule, endpoint=view.__name__, view_func=wrapper, methods=methods)
        for method in methods:
            OPERATIONS.setdefault(bp.name, []).append(
                Operation(
                    rule=path,
                    method=method.lower(),
                    endpoint=f"{bp.name}.{view.__name__}",
                    summary=summary,
                    description=(view.__doc__ or "").strip(),
                    scope=scope,
                    body=body,
                    query=query,
                    response=response,
                    statuses=dict(statuses or {status: "OK" if status == 200 else "Created"}),
                    errors=tuple(errors),
                    tag=tag,
                    path_params=params,
                )
            )
        return wrapper

    return decorator


# ---------------------------------------------------------------- the document


class _Components:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def ref(self, model: type[BaseModel], mode: str) -> dict[str, str]:
        name = model.__name__
        if name not in self.schemas:
            schema = model.model_json_schema(
                ref_template="#/components/schemas/{model}",
                mode=mode,  # type: ignore[arg-type]
            )
            for def_name, definition in schema.pop("$defs", {}).items():
                self.schemas.setdefault(def_name, definition)
            self.schemas[name] = schema
        return {"$ref": f"#/components/schemas/{name}"}

    def query_parameters(self, model: type[BaseModel]) -> list[dict[str, Any]]:
        schema = model.model_json_schema(
            ref_template="#/components/schemas/{model}", mode="validation"
        )
        for def_name, definition in schema.pop("$defs", {}).items():
            self.schemas.setdefault(def_name, definition)
        required = set(schema.get("required", []))
        params = []
        for name, prop in schema.get("properties", {}).items():
            prop = dict(prop)
            description = prop.pop("description", None)
            prop.pop("title", None)
            param: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": prop,
            }
            if description:
                param["description"] = description
            params.append(param)
        return params


_PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "int": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    "string": {"type": "string"},
}


def _problem_response(status: int) -> dict[str, Any]:
    return {
        "description": ERROR_DESCRIPTIONS.get(status, "Error."),
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def openapi_document(bp: Blueprint, *, title: str, version: str) -> dict[str, Any]:
    components = _Components()
    components.ref(Problem, "serialization")
    components.ref(FieldError, "serialization")
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS.get(bp.name, []):
        operation: dict[str, Any] = {
            "operationId": op.endpoint.split(".", 1)[1],
            "summary": op.summary,
            "tags": [op.tag],
            "security": [{"bearerAuth": [op.scope]}],
        }
        scope_note = f"Requires a token with the `{op.scope}` scope."
        operation["description"] = f"{op.description}\n\n{scope_note}".strip()
        parameters = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": dict(_PATH_SCHEMAS.get(converter, _PATH_SCHEMAS["string"])),
            }
            for name, converter in op.path_params.items()
        ]
        if op.query is not None:
            parameters += components.query_parameters(op.query)
        if parameters:
            operation["parameters"] = parameters
        if op.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": components.ref(op.body, "validation")}},
            }
        responses: dict[str, Any] = {}
        for code, description in sorted(op.statuses.items()):
            responses[str(code)] = {"description": description}
            if op.response is not None:
                schema = components.ref(op.response, "serialization")
                responses[str(code)]["content"] = {"application/json": {"schema": schema}}
        error_codes = {401, 403, *op.errors}
        if op.body is not None:
            error_codes |= {400, 422}
        if op.query is not None:
            error_codes.add(422)
        if op.path_params:
            error_codes.add(404)
        for code in sorted(error_codes):
            responses[str(code)] = _problem_response(code)
        operation["responses"] = responses
        paths.setdefault(op.rule, {})[op.method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": (
                "Contacts, accounts and interactions for other systems (a shop, a website). "
                "Authenticate with `Authorization: Bearer cer_...`; errors are "
                "`application/problem+json` bodies."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.schemas.items())),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token (cer_...); its scopes are "
                    + ", ".join(f"`{s}`" for s in API_SCOPES)
                    + ".",
                }
            },
        },
    }


def problem_with_errors(exc: DomainError) -> tuple[Response, int]:
    """A problem body for the API; single-field domain errors also fill `errors`."""
    from app.errors import problem

    errors = exc.details
    if errors is None and exc.field:
        errors = [FieldError(field=exc.field, message=exc.message).model_dump()]
    response, status = problem(exc.status, exc.title, exc.message, field=exc.field, errors=errors)
    challenge = getattr(exc, "www_authenticate", None)
    if challenge:
        response.headers["WWW-Authenticate"] = challenge
    return response, status
