"""Fuzzes the REST surface from the OpenAPI document the gateway serves (schemathesis).

Valid and invalid requests alike must never get a 5xx, and every 4xx must be the
gateway's JSON error body, whoever answered it (Envoy, the transcoder or a service).
The runs are small and derandomized so `make test` stays fast and repeatable; for a
deeper hunt: `FUZZ_MAX_EXAMPLES=200 pytest -m fuzz`.
"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import BaseSchema, Case, CheckContext, CheckFunction, GenerationMode, Response
from schemathesis.checks import not_a_server_error

from gateway.openapi import build
from tests.helpers import Account
from tools.mesh import Mesh

pytestmark = pytest.mark.fuzz

REQUEST_TIMEOUT = 10.0  # seconds; a hang fails the request instead of the whole run
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_MAX_EXAMPLES", "12")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)

# Known at collection time from the protos; each test then fuzzes the copy of the
# operation in the document the gateway serves. (schemathesis' loader for a schema that
# only a fixture can provide, `schemathesis.pytest.from_fixture`, fails on pytest 9.)
ROUTES = [(method, path) for path, item in build()["paths"].items() for method in item]
PLAYER_PATHS = ("/v1/events", "/v1/me/", "/v1/users/me")


def _params(routes: list[tuple[str, str]]) -> list[Any]:
    return [pytest.param(method, path, id=f"{method.upper()} {path}") for method, path in routes]


OPERATIONS = _params(ROUTES)
PLAYER_OPERATIONS = _params([(m, p) for m, p in ROUTES if p.startswith(PLAYER_PATHS)])


def client_errors_are_json_statuses(
    ctx: CheckContext, response: Response, case: Case[Any]
) -> bool | None:
    """A 4xx carries `application/json` and a google.rpc.Status-shaped body."""
    if not 400 <= response.status_code < 500:
        return None
    (content_type, *_) = response.headers.get("content-type", [""])
    assert content_type.split(";")[0].strip() == "application/json", (
        f"{response.status_code} with content-type {content_type!r}: {response.text[:200]!r}"
    )
    try:
        body: Any = json.loads(response.text)
    except ValueError as error:
        raise AssertionError(
            f"{response.status_code} body is not JSON: {response.text[:200]!r}"
        ) from error
    assert isinstance(body, dict), body
    assert type(body.get("code")) is int, body  # not a bool, not a string
    assert isinstance(body.get("message"), str), body
    return True


CHECKS: list[CheckFunction] = [not_a_server_error, client_errors_are_json_statuses]


@pytest.fixture(scope="session")
def api_schema(mesh: Mesh) -> BaseSchema:
    schema = schemathesis.openapi.from_url(f"{mesh.gateway_url}/openapi.json", timeout=10)
    schema.config.update(base_url=mesh.gateway_url)
    return schema


def fuzz(schema: BaseSchema, method: str, path: str, caller: Account) -> None:
    operation = schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @FUZZ
    @given(case=cases)
    def run(case: Case[Any]) -> None:
        case.call_and_validate(headers=caller.headers, checks=CHECKS, timeout=REQUEST_TIMEOUT)

    run()


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_request_from_an_admin_gets_a_server_error_or_a_non_json_error(
    api_schema: BaseSchema, fuzz_admin: Account, method: str, path: str
) -> None:
    fuzz(api_schema, method, path, fuzz_admin)


@pytest.mark.parametrize(("method", "path"), PLAYER_OPERATIONS)
def test_no_request_from_a_player_gets_a_server_error_or_a_non_json_error(
    api_schema: BaseSchema, fuzz_player: Account, method: str, path: str
) -> None:
    fuzz(api_schema, method, path, fuzz_player)


@pytest.mark.parametrize(
    "header",
    [("x*y", "1"), ("bp'gw%~u-p", "2"), ("x-trace-bin", "!!! not base64"), ("-*un", "")],
)
async def test_a_header_grpc_cannot_carry_is_dropped_rather_than_failing_the_call(
    rest: httpx.AsyncClient, fuzz_player: Account, header: tuple[str, str]
) -> None:
    # Found by the fuzzer: gRPC refuses such metadata, and every REST call carrying it
    # answered 500 "Illegal header key" before the gateway dropped them.
    response = await rest.get("/v1/users/me", headers=[*fuzz_player.headers.items(), header])
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("header", "malformed", "valid", "message"),
    [
        *(
            (
                "grpc-timeout",
                value,
                "5S",
                "grpc-timeout must be 1 to 8 digits followed by a "
                "unit (H, M, S, m, u or n), e.g. 5S",
            )
            for value in ("bogus", "5", "-5S", "123456789S")
        ),
        ("grpc-encoding", "bogus", "gzip", "grpc-encoding must be identity, gzip or deflate"),
    ],
)
async def test_a_malformed_grpc_header_is_a_clear_400_and_harms_no_later_call(
    rest: httpx.AsyncClient,
    fuzz_player: Account,
    header: str,
    malformed: str,
    valid: str,
    message: str,
) -> None:
    response = await rest.get("/v1/users/me", headers={**fuzz_player.headers, header: malformed})
    assert response.status_code == 400, response.text
    assert response.json() == {"code": 3, "message": message, "details": []}
    # Found by hand: the gateway forwarded such a value, the services' gRPC runtime failed
    # the call with INTERNAL (a 500) and then also later calls on that upstream connection
    # that carried a valid value of the header, whoever sent them.
    for _ in range(3):
        after = await rest.get("/v1/users/me", headers={**fuzz_player.headers, header: valid})
        assert after.status_code == 200, after.text


@pytest.mark.parametrize(
    "header",
    [
        "grpc-status",
        "grpc-previous-rpc-attempts",
        "grpc-retry-pushback-ms",
        "grpc-internal-encoding-request",
    ],
)
async def test_reserved_grpc_headers_no_request_needs_are_dropped(
    rest: httpx.AsyncClient, fuzz_player: Account, header: str
) -> None:
    # Each answered 500 "Error parsing '<header>' metadata" when its value was malformed.
    response = await rest.get("/v1/users/me", headers={**fuzz_player.headers, header: "x"})
    assert response.status_code == 200, response.text


# Every metadata key gRPC's runtime reserves or parses itself (besides the pseudo-headers
# and the content type, which the gateway sets): any of them, malformed, could fail a call.
GRPC_RUNTIME_HEADERS = (
    "grpc-timeout",
    "grpc-encoding",
    "grpc-accept-encoding",
    "grpc-status",
    "grpc-message",
    "grpc-previous-rpc-attempts",
    "grpc-retry-pushback-ms",
    "grpc-internal-encoding-request",
    "grpc-internal-stream-encoding-request",
    "grpc-lb-client-stats",
    "grpc-tags-bin",
    "grpc-trace-bin",
    "grpc-server-stats-bin",
    "grpc-status-details-bin",
    "lb-token",
    "lb-cost-bin",
    "endpoint-load-metrics-bin",
    "x-envoy-peer-metadata",
    "te",
    "traceparent",
    "user-agent",
)
HEADER_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=24)


def test_no_value_of_a_grpc_runtime_header_gets_a_server_error(
    mesh: Mesh, fuzz_player: Account
) -> None:
    with httpx.Client(base_url=mesh.gateway_url, timeout=REQUEST_TIMEOUT) as client:

        @settings(FUZZ, max_examples=5 * FUZZ.max_examples)
        @given(st.dictionaries(st.sampled_from(GRPC_RUNTIME_HEADERS), HEADER_VALUES, min_size=1))
        def run(headers: dict[str, str]) -> None:
            response = client.get("/v1/users/me", headers={**fuzz_player.headers, **headers})
            assert response.status_code in (200, 400, 504), (headers, response.text)
            if response.status_code != 200:
                assert response.json()["code"] in (3, 4), (headers, response.text)  # 504: "0S"

        run()
