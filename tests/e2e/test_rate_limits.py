"""Two layers slow password guessing down: Envoy's per-endpoint token buckets, each with
a bucket per client address inside it (429 before the auth service is reached), and the
auth service's per-account lockout below them.

A gateway 429 carries no details; the service's carries ErrorInfo ACCOUNT_LOCKED and
RetryInfo. These tests run on a mesh of their own with very low limits.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from rewardmesh.auth.v1 import auth_pb2, auth_pb2_grpc

from gateway.layout import RateLimit
from tests.conftest import running_mesh
from tests.helpers import error_reason, unique_email
from tools.mesh import Mesh

LIMIT = RateLimit(per_second=5, burst=5)
PER_CLIENT = RateLimit(per_second=1, burst=3)
MAX_FAILURES = 3
BURST = 30  # far more than the bucket holds, sent at once

T = TypeVar("T")


@pytest.fixture(scope="module")
def limited_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with running_mesh(
        tmp_path_factory,
        "rate-limits",
        {"LOGIN_MAX_FAILURES": str(MAX_FAILURES), "LOGIN_LOCKOUT_SECONDS": "120"},
        gateway_overrides={"credential_rate_limit": LIMIT},
    ) as mesh:
        yield mesh


@pytest.fixture(scope="module")
def per_client_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """Only the per-client buckets are low here."""
    with running_mesh(
        tmp_path_factory,
        "per-client-limits",
        gateway_overrides={
            "credential_rate_limit": RateLimit(per_second=1000, burst=1000),
            "credential_rate_limit_per_client": PER_CLIENT,
        },
    ) as mesh:
        yield mesh


@pytest.fixture
async def client(limited_mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=limited_mesh.gateway_url, timeout=20) as c:
        yield c


@pytest.fixture
async def auth_stub(limited_mesh: Mesh) -> AsyncIterator[auth_pb2_grpc.AuthServiceAsyncStub]:
    async with grpc.aio.insecure_channel(limited_mesh.gateway_target) as channel:
        yield auth_pb2_grpc.AuthServiceStub(channel)


def is_gateway_limit(response: httpx.Response) -> bool:
    return response.status_code == 429 and response.json().get("details") == []


def grpc_details(error: grpc.aio.AioRpcError) -> list[Any]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    return list(status.details) if status is not None else []


async def below_gateway_limit(call: Callable[[], Awaitable[T]], limited: Callable[[T], bool]) -> T:
    """Calls until the gateway lets the call through (the bucket refills every second)."""
    for _ in range(100):
        result = await call()
        if not limited(result):
            return result
        await asyncio.sleep(0.2)
    raise AssertionError("the gateway kept rate limiting for 20 s")


async def registered(client: httpx.AsyncClient) -> tuple[str, str]:
    email, password = unique_email("limited"), secrets.token_urlsafe(12)
    response = await below_gateway_limit(
        lambda: client.post("/v1/auth/register", json={"email": email, "password": password}),
        is_gateway_limit,
    )
    assert response.status_code == 200, response.text
    return email, password


async def test_a_burst_of_rest_logins_gets_json_429_from_the_gateway(
    client: httpx.AsyncClient,
) -> None:
    email, password = await registered(client)
    body = {"email": email, "password": password}
    responses = await asyncio.gather(
        *(client.post("/v1/auth/login", json=body) for _ in range(BURST))
    )
    statuses = [r.status_code for r in responses]
    limited = [r for r in responses if r.status_code == 429]
    # The bucket holds LIMIT.burst tokens and may refill once while the burst is sent.
    assert 1 <= statuses.count(200) <= LIMIT.burst + LIMIT.per_second, statuses
    assert len(limited) >= BURST - LIMIT.burst - LIMIT.per_second, statuses
    assert set(statuses) == {200, 429}, statuses
    for response in limited:
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"code": 8, "message": "local_rate_limited", "details": []}


async def test_a_burst_of_grpc_logins_gets_resource_exhausted_from_the_gateway(
    client: httpx.AsyncClient, auth_stub: auth_pb2_grpc.AuthServiceAsyncStub
) -> None:
    email, password = await registered(client)
    request = auth_pb2.LoginRequest(email=email, password=password)

    async def login() -> grpc.aio.AioRpcError | None:
        try:
            await auth_stub.Login(request, timeout=20)
        except grpc.aio.AioRpcError as error:
            return error
        return None

    errors = await asyncio.gather(*(login() for _ in range(BURST)))
    for error in errors:
        if error is not None:
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
            assert grpc_details(error) == []  # Envoy's, not the service's
    codes = [grpc.StatusCode.OK if e is None else e.code() for e in errors]
    assert 1 <= codes.count(grpc.StatusCode.OK) <= LIMIT.burst + LIMIT.per_second, codes
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) >= BURST - 2 * LIMIT.burst, codes


async def test_each_credential_endpoint_has_its_own_bucket(client: httpx.AsyncClient) -> None:
    await asyncio.gather(
        *(
            client.post("/v1/auth/login", json={"email": unique_email(), "password": "x" * 12})
            for _ in range(BURST)
        )
    )
    # Logins are exhausted now; registering still goes through at once.
    email, password = unique_email("own-bucket"), secrets.token_urlsafe(12)
    response = await client.post("/v1/auth/register", json={"email": email, "password": password})
    assert response.status_code == 200, response.text


async def test_account_lockout_still_answers_below_the_gateway_limit(
    client: httpx.AsyncClient, auth_stub: auth_pb2_grpc.AuthServiceAsyncStub
) -> None:
    email, password = await registered(client)

    async def rest_login(secret: str) -> httpx.Response:
        return await below_gateway_limit(
            lambda: client.post("/v1/auth/login", json={"email": email, "password": secret}),
            is_gateway_limit,
        )

    for _ in range(MAX_FAILURES - 1):
        wrong = await rest_login("wrong-password")
        assert wrong.status_code == 401, wrong.text
        assert error_reason(wrong.json()) == "INVALID_CREDENTIALS"
    locked = await rest_login("wrong-password")
    assert locked.status_code == 429, locked.text
    body = locked.json()
    assert body["code"] == 8
    assert error_reason(body) == "ACCOUNT_LOCKED"
    assert any(d["@type"].endswith("google.rpc.RetryInfo") for d in body["details"]), body

    # Even the right password is refused while locked, over gRPC too.
    async def grpc_login() -> grpc.aio.AioRpcError | None:
        try:
            await auth_stub.Login(auth_pb2.LoginRequest(email=email, password=password))
        except grpc.aio.AioRpcError as error:
            return error
        return None

    error = await below_gateway_limit(grpc_login, lambda e: e is not None and grpc_details(e) == [])
    assert error is not None, "a locked account logged in"
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    details = grpc_details(error)
    info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
    assert any(d.Unpack(info) for d in details if d.Is(info.DESCRIPTOR))
    assert info.reason == "ACCOUNT_LOCKED"
    assert any(d.Unpack(retry) for d in details if d.Is(retry.DESCRIPTOR))
    assert retry.retry_delay.seconds > 0


async def test_one_client_address_cannot_use_up_an_endpoint_for_the_others(
    per_client_mesh: Mesh,
) -> None:
    body = {"email": unique_email("per-client"), "password": "x" * 12}

    def client_from(address: str) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=address)
        return httpx.AsyncClient(base_url=per_client_mesh.gateway_url, transport=transport)

    async with client_from("127.0.0.1") as noisy, client_from("127.0.0.2") as other:
        # Each call claims another address in x-forwarded-for: the gateway goes by the
        # TCP peer, so they all share one bucket.
        responses = await asyncio.gather(
            *(
                noisy.post(
                    "/v1/auth/login", json=body, headers={"x-forwarded-for": f"203.0.113.{n}"}
                )
                for n in range(BURST)
            )
        )
        statuses = [r.status_code for r in responses]
        # The bucket holds PER_CLIENT.burst tokens and may refill once meanwhile.
        assert statuses.count(429) >= BURST - PER_CLIENT.burst - PER_CLIENT.per_second, statuses
        assert all(is_gateway_limit(r) for r in responses if r.status_code == 429)
        # Another address still gets through at once, to the service's own answer.
        response = await other.post("/v1/auth/login", json=body)
        assert response.status_code == 401, response.text
        assert error_reason(response.json()) == "INVALID_CREDENTIALS"
