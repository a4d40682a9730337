"""Every RPC x every role x REST and gRPC, expectations derived from the proto options.

A call counts as *denied* when the gateway or the service refuses the caller (401/403
without a business reason); any other answer — success, or an error about the empty
request — means the caller got through.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from google.api import annotations_pb2
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor

from services.common.access import MESH_SERVICES, ROLES, Policy, grpc_path, policies
from tests.helpers import account_with_role, error_reason, game_server_token, grpc_error_reason
from tools.mesh import Mesh

ANONYMOUS = "ANONYMOUS"
# Reasons that mean "who you are may not do this", as opposed to "what you sent is wrong".
DENIAL_REASONS = {
    None,
    "TOKEN_MISSING",
    "TOKEN_MALFORMED",
    "TOKEN_INVALID",
    "ROLE_NOT_ALLOWED",
    "NO_POLICY",
}
POLICIES: Mapping[str, Policy] = policies()


@dataclass(frozen=True)
class Rpc:
    path: str
    method: MethodDescriptor

    @property
    def http(self) -> tuple[str, str, bool]:
        """(verb, path with placeholders filled, has body)."""
        rule = self.method.GetOptions().Extensions[annotations_pb2.http]
        verb = rule.WhichOneof("pattern")
        assert verb is not None
        template = getattr(rule, verb)
        return verb.upper(), re.sub(r"\{[^}]+\}", "unknown-id", template), bool(rule.body)


RPCS = [Rpc(grpc_path(s, m.name), m) for s in MESH_SERVICES for m in s.methods]
CALLERS = [ANONYMOUS, *ROLES]


def expected_allowed(rpc: Rpc, caller: str) -> bool:
    policy = POLICIES[rpc.path]
    return policy.public or (caller != ANONYMOUS and policy.allows(caller))


@pytest.fixture(scope="session")
async def tokens(rest: httpx.AsyncClient, mesh: Mesh) -> dict[str, str | None]:
    result: dict[str, str | None] = {
        ANONYMOUS: None,
        "GAME_SERVER": await game_server_token(rest, mesh),
    }
    for role in ROLES:
        if role != "GAME_SERVER":
            result[role] = (await account_with_role(rest, mesh, role)).access_token
    return result


def _case_id(rpc: Rpc, caller: str) -> str:
    return f"{rpc.method.name}-{caller}"


CASES = [pytest.param(rpc, caller, id=_case_id(rpc, caller)) for rpc in RPCS for caller in CALLERS]


def test_matrix_covers_every_rpc_of_the_mesh() -> None:
    assert {r.path for r in RPCS} == set(POLICIES)
    assert len(RPCS) >= 24


@pytest.mark.parametrize(("rpc", "caller"), CASES)
async def test_rest_access_follows_the_proto_policy(
    rest: httpx.AsyncClient, tokens: dict[str, str | None], rpc: Rpc, caller: str
) -> None:
    verb, path, has_body = rpc.http
    token = tokens[caller]
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await rest.request(verb, path, headers=headers, json={} if has_body else None)
    body = response.json()
    denied = response.status_code in (401, 403) and error_reason(body) in DENIAL_REASONS
    assert denied != expected_allowed(rpc, caller), (response.status_code, body)
    if denied:
        assert response.status_code == (401 if caller == ANONYMOUS else 403)


@pytest.mark.parametrize(("rpc", "caller"), CASES)
async def test_grpc_access_follows_the_proto_policy(
    gateway_channel: grpc.aio.Channel, tokens: dict[str, str | None], rpc: Rpc, caller: str
) -> None:
    request_class = message_factory.GetMessageClass(rpc.method.input_type)
    response_class = message_factory.GetMessageClass(rpc.method.output_type)
    call: grpc.aio.UnaryUnaryMultiCallable[Any, Any] = gateway_channel.unary_unary(
        rpc.path,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response_class.FromString,
    )
    token = tokens[caller]
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    code = grpc.StatusCode.OK
    reason = None
    try:
        await call(request_class(), metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as error:
        code, reason = error.code(), grpc_error_reason(error)
    denied = (
        code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
        and reason in DENIAL_REASONS
    )
    assert denied != expected_allowed(rpc, caller), (code, reason)
    if denied:
        expected = (
            grpc.StatusCode.UNAUTHENTICATED
            if caller == ANONYMOUS
            else grpc.StatusCode.PERMISSION_DENIED
        )
        assert code == expected
