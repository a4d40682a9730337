"""Small helpers shared by the tests: accounts, tokens, error details."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tools.mesh import Mesh


@dataclass(frozen=True)
class Account:
    user_id: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.access_token}"}

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.access_token}"),)


def unique_email(prefix: str = "player") -> str:
    return f"{prefix}-{secrets.token_hex(6)}@example.com"


async def login(rest: httpx.AsyncClient, email: str, password: str) -> Account:
    response = await rest.post("/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body = response.json()
    return Account(body["user"]["id"], email, password, body["access_token"], body["refresh_token"])


async def new_player(rest: httpx.AsyncClient, prefix: str = "player") -> Account:
    email, password = unique_email(prefix), secrets.token_urlsafe(12)
    response = await rest.post("/v1/auth/register", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return await login(rest, email, password)


async def admin(rest: httpx.AsyncClient, mesh: Mesh) -> Account:
    return await login(rest, mesh.admin_email, mesh.admin_password)


async def account_with_role(rest: httpx.AsyncClient, mesh: Mesh, role: str) -> Account:
    """A fresh account holding `role` (USER, OPERATOR, AUDITOR, ADMIN), freshly logged in."""
    player = await new_player(rest, role.lower())
    if role == "USER":
        return player
    boss = await admin(rest, mesh)
    response = await rest.post(
        f"/v1/users/{player.user_id}:setRole", json={"role": f"ROLE_{role}"}, headers=boss.headers
    )
    assert response.status_code == 200, response.text
    return await login(rest, player.email, player.password)


def error_reason(body: dict[str, Any]) -> str | None:
    """The ErrorInfo reason of a REST error body."""
    for detail in body.get("details", []):
        if detail.get("@type", "").endswith("google.rpc.ErrorInfo"):
            reason: str = detail["reason"]
            return reason
    return None


def grpc_error_reason(error: grpc.aio.AioRpcError) -> str | None:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return None


async def game_server_token(rest: httpx.AsyncClient, mesh: Mesh) -> str:
    """A GAME_SERVER access token from a fresh service account."""
    boss = await admin(rest, mesh)
    created = await rest.post(
        "/v1/service-accounts", json={"name": f"game-{secrets.token_hex(3)}"}, headers=boss.headers
    )
    assert created.status_code == 200, created.text
    body = created.json()
    issued = await rest.post(
        "/v1/auth/token",
        json={"client_id": body["service_account"]["id"], "client_secret": body["client_secret"]},
    )
    assert issued.status_code == 200, issued.text
    token: str = issued.json()["access_token"]
    return token


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    """Polls `check` until it holds; fails the test after `within` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"condition not reached within {within} s"
        await asyncio.sleep(0.05)
