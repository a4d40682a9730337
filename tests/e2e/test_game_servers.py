"""Game servers (service accounts, activities over gRPC) and operators (grpcurl)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from rewardmesh.event.v1 import event_pb2, event_pb2_grpc

from tests.e2e.event_api import create_event
from tests.helpers import account_with_role, admin, error_reason, grpc_error_reason, new_player
from tools.mesh import ROOT, Mesh

GRPCURL = Path(sys.executable).parent / "grpcurl"


async def _service_account(rest: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    created = await rest.post("/v1/service-accounts", json={"name": "world-1"}, headers=headers)
    assert created.status_code == 200, created.text
    body: dict[str, Any] = created.json()
    return body


async def _token(rest: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    return await rest.post("/v1/auth/token", json={"client_id": client_id, "client_secret": secret})


async def test_service_account_lifecycle_rotate_and_disable(
    rest: httpx.AsyncClient, mesh: Mesh
) -> None:
    boss = await admin(rest, mesh)
    created = await _service_account(rest, boss.headers)
    account_id, first_secret = created["service_account"]["id"], created["client_secret"]
    token = await _token(rest, account_id, first_secret)
    assert token.status_code == 200
    assert token.json()["expires_in"] == 900

    rotated = await rest.post(
        f"/v1/service-accounts/{account_id}:rotateSecret", json={}, headers=boss.headers
    )
    new_secret = rotated.json()["client_secret"]
    assert new_secret != first_secret
    old = await _token(rest, account_id, first_secret)
    assert old.status_code == 401
    assert error_reason(old.json()) == "INVALID_CLIENT"
    assert (await _token(rest, account_id, new_secret)).status_code == 200

    disabled = await rest.post(
        f"/v1/service-accounts/{account_id}:disable", json={}, headers=boss.headers
    )
    assert disabled.json()["service_account"]["disabled"] is True
    refused = await _token(rest, account_id, new_secret)
    assert refused.status_code == 403
    assert error_reason(refused.json()) == "CLIENT_DISABLED"
    listed = (await rest.get("/v1/service-accounts", headers=boss.headers)).json()[
        "service_accounts"
    ]
    assert next(a for a in listed if a["id"] == account_id)["disabled"] is True
    assert "secret" not in json.dumps(listed)
    unknown = await rest.post("/v1/service-accounts/sa_nope:disable", json={}, headers=boss.headers)
    assert unknown.status_code == 404


async def test_activity_reports_are_idempotent_and_validated(
    rest: httpx.AsyncClient, mesh: Mesh, gateway_channel: grpc.aio.Channel
) -> None:
    boss = await admin(rest, mesh)
    created = await _service_account(rest, boss.headers)
    token = (await _token(rest, created["service_account"]["id"], created["client_secret"])).json()
    metadata = (("authorization", f"Bearer {token['access_token']}"),)
    operator = await account_with_role(rest, mesh, "OPERATOR")
    event = await create_event(rest, operator)
    player = await new_player(rest)
    stub = event_pb2_grpc.EventServiceStub(gateway_channel)
    report = event_pb2.RecordActivityRequest(
        user_id=player.user_id,
        activity="monster_kill",
        amount=4,
        idempotency_key="kill-report-0001",
    )
    await stub.RecordActivity(report, metadata=metadata)
    await stub.RecordActivity(report, metadata=metadata)
    other = event_pb2.RecordActivityRequest(
        user_id=player.user_id, activity="fishing", amount=50, idempotency_key="fish-report-0001"
    )
    await stub.RecordActivity(other, metadata=metadata)
    seen = await stub.GetPlayerProgress(
        event_pb2.GetPlayerProgressRequest(user_id=player.user_id, event_id=event["id"]),
        metadata=metadata,
    )
    assert seen.progress.activity_total == 4
    for bad in (
        event_pb2.RecordActivityRequest(
            user_id=player.user_id, activity="x", amount=0, idempotency_key="k" * 8
        ),
        event_pb2.RecordActivityRequest(
            user_id=player.user_id, activity="x", amount=-3, idempotency_key="k" * 8
        ),
        event_pb2.RecordActivityRequest(
            user_id=player.user_id, activity="x", amount=1, idempotency_key="short"
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.RecordActivity(bad, metadata=metadata)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await stub.GetMyProgress(
            event_pb2.GetMyProgressRequest(event_id=event["id"]), metadata=metadata
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert grpc_error_reason(denied.value) is None  # refused by the gateway's RBAC


def _grpcurl(mesh: Mesh, *args: str) -> str:
    result = subprocess.run(
        [str(GRPCURL), "-plaintext", *args], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_grpcurl_lists_describes_and_invokes_through_the_gateway(mesh: Mesh) -> None:
    services = _grpcurl(mesh, mesh.gateway_target, "list").split()
    assert {"rewardmesh.auth.v1.AuthService", "rewardmesh.event.v1.EventService"} <= set(services)
    described = _grpcurl(mesh, mesh.gateway_target, "describe", "rewardmesh.event.v1.EventService")
    assert "rpc ClaimReward" in described
    message = _grpcurl(mesh, mesh.gateway_target, "describe", "rewardmesh.event.v1.Claim")
    assert "request_id" in message
    login = json.loads(
        _grpcurl(
            mesh,
            "-d",
            json.dumps({"email": mesh.admin_email, "password": mesh.admin_password}),
            mesh.gateway_target,
            "rewardmesh.auth.v1.AuthService/Login",
        )
    )
    listed = json.loads(
        _grpcurl(
            mesh,
            "-H",
            f"authorization: Bearer {login['access_token']}",
            "-d",
            "{}",
            mesh.gateway_target,
            "rewardmesh.auth.v1.AuthService/ListUsers",
        )
    )
    assert any(u["email"] == mesh.admin_email for u in listed["users"])


async def test_the_game_server_client_example_runs_against_the_mesh(
    rest: httpx.AsyncClient, mesh: Mesh
) -> None:
    boss = await admin(rest, mesh)
    created = await _service_account(rest, boss.headers)
    operator = await account_with_role(rest, mesh, "OPERATOR")
    event = await create_event(rest, operator)
    player = await new_player(rest)
    argv = [
        sys.executable, str(ROOT / "examples" / "game_server_client.py"),
        "--target", mesh.gateway_target,
        "--client-id", created["service_account"]["id"],
        "--client-secret", created["client_secret"],
        "--user-id", player.user_id,
        "--event-id", event["id"],
        "--activity", "monster_kill",
        "--amount", "3",
    ]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    assert stdout.decode().strip() == "activity_total=3 status=PROGRESS_STATUS_IN_PROGRESS"
