"""The OpenAPI document: generated from the protos, describing the JSON the gateway speaks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from google.api import annotations_pb2
from rewardmesh.authz.v1 import authz_pb2

from gateway.openapi import ERROR_RESPONSES, build, main, render
from services.common.access import MESH_SERVICES

Document = dict[str, Any]


@pytest.fixture(scope="module")
def document() -> Document:
    return build()


def operations(document: Document) -> dict[str, tuple[str, str, Document]]:
    """operationId -> (verb, path, operation)."""
    return {
        operation["operationId"]: (verb, path, operation)
        for path, item in document["paths"].items()
        for verb, operation in item.items()
    }


def schema(document: Document, name: str) -> Document:
    found: Document = document["components"]["schemas"][name]
    return found


def test_document_is_valid_openapi_3_0(document: Document) -> None:
    assert document["openapi"].startswith("3.0.")
    schemathesis.openapi.from_dict(document).validate()


def test_every_rpc_is_one_operation_named_after_it_at_its_http_rule() -> None:
    found = operations(build())
    expected = {}
    for service in MESH_SERVICES:
        for method in service.methods:
            rule = method.GetOptions().Extensions[annotations_pb2.http]
            verb = rule.WhichOneof("pattern")
            assert verb is not None
            expected[method.name] = (verb, getattr(rule, verb))
    assert {rpc: (verb, path) for rpc, (verb, path, _) in found.items()} == expected


def test_only_non_public_rpcs_require_a_bearer_token(document: Document) -> None:
    found = operations(document)
    for service in MESH_SERVICES:
        for method in service.methods:
            public = method.GetOptions().Extensions[authz_pb2.access].public
            security = found[method.name][2]["security"]
            assert security == ([] if public else [{"bearerAuth": []}]), method.name
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")


def test_summaries_and_descriptions_come_from_the_proto_comments(document: Document) -> None:
    _, _, claim = operations(document)["ClaimReward"]
    assert claim["summary"] == "Grants part or all of the remaining amount of one reward"
    assert "Safe to retry with the same request_id." in claim["description"]
    assert "Roles: USER, ADMIN." in claim["description"]
    _, _, get_event = operations(document)["GetEvent"]  # no comment in the proto
    assert get_event["summary"] == "Get event"
    assert schema(document, "Claim")["description"] == "One claim attempt, successful or not."


def test_json_uses_proto_field_names_and_proto3_json_types(document: Document) -> None:
    event = schema(document, "Event")["properties"]
    assert list(event) == [
        "id", "title", "description", "condition", "starts_at", "ends_at", "claim_deadline",
        "timezone", "status", "rewards", "created_by", "created_at",
    ]  # fmt: skip
    starts_at = event["starts_at"]
    assert (starts_at["type"], starts_at["format"]) == ("string", "date-time")
    assert starts_at["description"].startswith("Logins and activities count")
    assert event["created_at"] == {"type": "string", "format": "date-time"}
    assert event["rewards"] == {"type": "array", "items": {"$ref": "#/components/schemas/Reward"}}
    assert event["status"] == {"$ref": "#/components/schemas/EventStatus"}
    amount = schema(document, "Reward")["properties"]["amount"]
    assert (amount["type"], amount["format"], amount["maximum"]) == ("integer", "int32", 2**31 - 1)
    sequence = schema(document, "DeadLetter")["properties"]["stream_sequence"]
    assert (sequence["type"], sequence["format"]) == ("string", "uint64")
    assert schema(document, "AuditLog")["properties"]["changes"] == {
        "type": "object",
        "additionalProperties": True,
        "description": "What changed.",
    }


def test_enums_are_their_value_names(document: Document) -> None:
    assert schema(document, "EventStatus") == {
        "type": "string",
        "enum": ["EVENT_STATUS_UNSPECIFIED", "EVENT_STATUS_ACTIVE", "EVENT_STATUS_INACTIVE"],
    }
    assert "ROLE_ADMIN" in schema(document, "Role")["enum"]


def test_body_star_takes_every_field_but_the_path_parameters(document: Document) -> None:
    _, path, claim = operations(document)["ClaimReward"]
    assert path == "/v1/events/{event_id}/rewards/{reward_id}:claim"
    assert [(p["name"], p["in"], p["required"]) for p in claim["parameters"]] == [
        ("event_id", "path", True),
        ("reward_id", "path", True),
    ]
    body = claim["requestBody"]["content"]["application/json"]["schema"]
    assert list(body["properties"]) == ["request_id", "amount"]
    _, _, create = operations(document)["CreateEvent"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateEventRequest"
    }
    assert "parameters" not in create


def test_get_rpcs_take_their_scalar_and_enum_fields_as_query_parameters(
    document: Document,
) -> None:
    _, _, list_claims = operations(document)["ListClaims"]
    assert "requestBody" not in list_claims
    parameters = {p["name"]: p for p in list_claims["parameters"]}
    assert list(parameters) == [
        "user_id", "event_id", "reward_id", "status", "page_size", "page_token",
    ]  # fmt: skip
    assert {p["in"] for p in parameters.values()} == {"query"}
    assert parameters["status"]["schema"] == {"$ref": "#/components/schemas/ClaimStatus"}
    assert parameters["page_size"]["schema"]["type"] == "integer"


def test_proto3_optional_fields_say_that_absent_means_unchanged(document: Document) -> None:
    update = schema(document, "UpdateEventRequest")["properties"]
    assert "Optional" in update["title"]["description"]
    assert "description" not in update["event_id"]
    assert "required" not in schema(document, "UpdateEventRequest")


def test_every_operation_documents_the_json_error_responses(document: Document) -> None:
    status = schema(document, "Status")["properties"]
    assert status["code"]["type"] == "integer"
    assert status["message"]["type"] == "string"
    assert status["details"]["type"] == "array"
    assert status["details"]["items"]["properties"]["@type"] == {"type": "string"}
    for rpc, (_, _, operation) in operations(document).items():
        errors = {code for code in operation["responses"] if code != "200"}
        assert errors == {str(code) for code in ERROR_RESPONSES}, rpc
    for response in document["components"]["responses"].values():
        assert response["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Status"
        }


def test_every_reference_resolves(document: Document) -> None:
    text = json.dumps(document)
    for kind, name in re.findall(r'"#/components/(\w+)/([^"]+)"', text):
        assert name in document["components"][kind], f"{kind}/{name}"


def test_command_line_writes_the_rendered_document(tmp_path: Path) -> None:
    out = tmp_path / "openapi.json"
    main([f"--out={out}"])
    assert out.read_text() == render()
    assert json.loads(out.read_text()) == build()
