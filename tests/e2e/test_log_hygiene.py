"""No secret reaches a log file: every auth flow is driven on a mesh of its own (services
at DEBUG), then every log (nats, auth, event, envoy) is searched for every password,
token and client secret the run used, whole and by their distinctive parts."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import httpx
import pytest
from rewardmesh.auth.v1 import auth_pb2, auth_pb2_grpc
from rewardmesh.event.v1 import event_pb2, event_pb2_grpc

from tests.conftest import running_mesh
from tests.e2e.event_api import create_event
from tests.helpers import admin, unique_email
from tools.mesh import LOOPBACK, Mesh

# Shorter fragments would match by chance; every secret here is far longer.
MIN_FRAGMENT = 12


@pytest.fixture(scope="module")
def hygiene_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with running_mesh(
        tmp_path_factory, "log-hygiene", {"LOG_LEVEL": "DEBUG", "LOGIN_MAX_FAILURES": "2"}
    ) as mesh:
        yield mesh


@pytest.fixture
async def client(hygiene_mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=hygiene_mesh.gateway_url, timeout=20) as c:
        yield c


class Secrets:
    """Everything secret the run handled, with the parts that identify each one."""

    def __init__(self) -> None:
        self.fragments: dict[str, str] = {}  # fragment -> what it belongs to

    def add(self, what: str, value: str) -> str:
        parts = [value]
        if value.count(".") == 2:  # a JWT: the payload (has the jti) and the signature
            parts += value.split(".")[1:]
        if "_" in value[:4]:  # an opaque secret: its random part without the prefix
            parts.append(value.split("_", 1)[1])
        for part in parts:
            if len(part) >= MIN_FRAGMENT:
                self.fragments[part] = what
        return value

    def body(self, what: str, response: httpx.Response) -> dict[str, Any]:
        """The JSON body, after recording every token/secret field in it."""
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        for field in ("access_token", "refresh_token", "client_secret"):
            if field in body:
                self.add(f"{what}: {field}", body[field])
        return body


async def drive_every_auth_flow(mesh: Mesh, client: httpx.AsyncClient, found: Secrets) -> None:
    found.add("bootstrap admin password (env)", mesh.admin_password)
    boss_body = found.body(
        "admin login",
        await client.post(
            "/v1/auth/login", json={"email": mesh.admin_email, "password": mesh.admin_password}
        ),
    )
    boss = {"authorization": f"Bearer {boss_body['access_token']}"}

    email = unique_email("hygiene")
    password = found.add("player password", secrets.token_urlsafe(16))
    found.body(
        "register",
        await client.post("/v1/auth/register", json={"email": email, "password": password}),
    )
    too_long = found.add("rejected password", "TooLong-" + secrets.token_urlsafe(200))
    refused = await client.post(
        "/v1/auth/register", json={"email": unique_email(), "password": too_long}
    )
    assert refused.status_code == 400
    for _ in range(3):  # the last attempts hit the lockout
        wrong = found.add("wrong password", secrets.token_urlsafe(16))
        failed = await client.post("/v1/auth/login", json={"email": email, "password": wrong})
        assert failed.status_code in (401, 429)
    other_email = unique_email("hygiene")
    other_password = found.add("second player password", secrets.token_urlsafe(16))
    found.body(
        "register",
        await client.post(
            "/v1/auth/register", json={"email": other_email, "password": other_password}
        ),
    )
    first = found.body(
        "login",
        await client.post(
            "/v1/auth/login", json={"email": other_email, "password": other_password}
        ),
    )
    player = {"authorization": f"Bearer {first['access_token']}"}
    second = found.body(
        "refresh",
        await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}),
    )
    reused = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401  # reuse detection: the whole family is revoked
    third = found.body(
        "login again",
        await client.post(
            "/v1/auth/login", json={"email": other_email, "password": other_password}
        ),
    )
    player = {"authorization": f"Bearer {third['access_token']}"}
    assert (await client.get("/v1/users/me", headers=player)).status_code == 200
    logout = await client.post(
        "/v1/auth/logout", json={"refresh_token": third["refresh_token"]}, headers=player
    )
    assert logout.status_code == 200, logout.text
    after_logout = await client.post(
        "/v1/auth/refresh", json={"refresh_token": third["refresh_token"]}
    )
    assert after_logout.status_code == 401
    stale = await client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert stale.status_code == 401

    user_id = first["user"]["id"]
    role = await client.post(
        f"/v1/users/{user_id}:setRole", json={"role": "ROLE_OPERATOR"}, headers=boss
    )
    assert role.status_code == 200, role.text

    account = found.body(
        "create service account",
        await client.post("/v1/service-accounts", json={"name": "hygiene-1"}, headers=boss),
    )
    account_id = account["service_account"]["id"]
    rotated = found.body(
        "rotate secret",
        await client.post(f"/v1/service-accounts/{account_id}:rotateSecret", json={}, headers=boss),
    )
    old_secret = await client.post(
        "/v1/auth/token",
        json={"client_id": account_id, "client_secret": account["client_secret"]},
    )
    assert old_secret.status_code == 401
    service = found.body(
        "service token",
        await client.post(
            "/v1/auth/token",
            json={"client_id": account_id, "client_secret": rotated["client_secret"]},
        ),
    )
    event = await create_event(client, await admin(client, mesh))

    # Bearer tokens over gRPC, through Envoy and straight at each service.
    game = (("authorization", f"Bearer {service['access_token']}"),)
    as_admin = (("authorization", boss["authorization"]),)
    bogus = found.add("garbage bearer", "not-a-jwt-" + secrets.token_urlsafe(24))
    progress = event_pb2.GetPlayerProgressRequest(user_id=user_id, event_id=event["id"])
    for address in (mesh.gateway_target, f"{LOOPBACK}:{mesh.ports.event_grpc}"):
        async with grpc.aio.insecure_channel(address) as channel:
            stub = event_pb2_grpc.EventServiceStub(channel)
            await stub.GetPlayerProgress(progress, metadata=game)
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.GetPlayerProgress(progress, metadata=(("authorization", bogus),))
    for address in (mesh.gateway_target, f"{LOOPBACK}:{mesh.ports.auth_grpc}"):
        async with grpc.aio.insecure_channel(address) as channel:
            users = auth_pb2_grpc.AuthServiceStub(channel)
            await users.ListUsers(auth_pb2.ListUsersRequest(), metadata=as_admin)
            with pytest.raises(grpc.aio.AioRpcError):
                await users.GetMe(
                    auth_pb2.GetMeRequest(), metadata=(("authorization", f"Bearer {bogus}"),)
                )
    rest = await client.get(
        f"/v1/players/{user_id}/events/{event['id']}/progress",
        headers={"authorization": f"Bearer {service['access_token']}"},
    )
    assert rest.status_code == 200, rest.text
    denied = await client.get("/v1/users/me", headers={"authorization": f"Bearer {bogus}"})
    assert denied.status_code == 401
    disabled = await client.post(
        f"/v1/service-accounts/{account_id}:disable", json={}, headers=boss
    )
    assert disabled.status_code == 200, disabled.text


async def test_no_password_token_or_client_secret_appears_in_any_log(
    hygiene_mesh: Mesh, client: httpx.AsyncClient
) -> None:
    found = Secrets()
    await drive_every_auth_flow(hygiene_mesh, client, found)
    hygiene_mesh.stop()  # flushes every log

    logs = {
        path.name: path.read_text(errors="replace") for path in hygiene_mesh.log_dir.glob("*.log")
    }
    assert set(logs) == {"nats.log", "auth.log", "event.log", "envoy.log"}
    assert all(logs.values()), "a log is empty: the scan would prove nothing"
    assert '"msg": "rpc"' in logs["auth.log"]  # the services did log each RPC
    leaks = [
        f"{name}: {what}"
        for name, text in logs.items()
        for fragment, what in found.fragments.items()
        if fragment in text
    ]
    assert not leaks, leaks
    assert len(found.fragments) > 20
