"""Accounts, sessions and access control through the real mesh: Envoy in front of the
auth service, driven over REST (transcoded) and over native gRPC on the same port.

Envoy rejects bad tokens itself (401 with an empty `details`); errors the service
produced carry its ErrorInfo reason. Every token kind Envoy must refuse is also sent to
the auth service directly, which must refuse it as well.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import grpc
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from rewardmesh.auth.v1 import auth_pb2, auth_pb2_grpc
from rewardmesh.authz.v1 import authz_pb2

from services.auth.crypto import Keyring
from services.common.settings import CommonSettings
from tests.helpers import (
    Account,
    admin,
    error_reason,
    eventually,
    grpc_error_reason,
    login,
    new_player,
    unique_email,
)
from tools.mesh import LOOPBACK, Mesh

PASSWORD = "correct horse battery"
Metadata = tuple[tuple[str, str], ...]
Code = grpc.StatusCode
# What the gateway says when it refuses a request itself: a google.rpc.Status without details.
UNAUTHENTICATED, PERMISSION_DENIED = 16, 7


# --- fixtures and helpers -------------------------------------------------------------


@pytest.fixture(scope="module")
def stub(gateway_channel: grpc.aio.Channel) -> auth_pb2_grpc.AuthServiceAsyncStub:
    return auth_pb2_grpc.AuthServiceStub(gateway_channel)


@pytest.fixture(scope="module")
async def direct_channel(mesh: Mesh) -> AsyncIterator[grpc.aio.Channel]:
    """Straight to the auth service, bypassing Envoy."""
    async with grpc.aio.insecure_channel(f"{LOOPBACK}:{mesh.ports.auth_grpc}") as channel:
        yield channel


@pytest.fixture(scope="module")
def direct(direct_channel: grpc.aio.Channel) -> auth_pb2_grpc.AuthServiceAsyncStub:
    return auth_pb2_grpc.AuthServiceStub(direct_channel)


@pytest.fixture(scope="module")
async def boss(rest: httpx.AsyncClient, mesh: Mesh) -> Account:
    return await admin(rest, mesh)


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value).encode())


def payload_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def rpc_error(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


def rest_detail(body: dict[str, Any], kind: str) -> dict[str, Any]:
    for detail in body.get("details", []):
        if detail.get("@type", "").endswith(f"google.rpc.{kind}"):
            found: dict[str, Any] = detail
            return found
    raise AssertionError(f"no {kind} in {body}")


def assert_rest_error(response: httpx.Response, status: int, reason: str | None) -> dict[str, Any]:
    """`reason` None: the gateway refused the call itself (no service ErrorInfo)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body: dict[str, Any] = response.json()
    assert set(body) >= {"code", "message", "details"}, body
    assert error_reason(body) == reason, body
    if reason is None:
        assert body["details"] == []
    return body


def assert_grpc_error(
    error: grpc.aio.AioRpcError, code: grpc.StatusCode, reason: str | None
) -> None:
    assert (error.code(), grpc_error_reason(error)) == (code, reason), error.details()


def retry_delay_seconds(error: grpc.aio.AioRpcError) -> float:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return float(info.retry_delay.ToTimedelta().total_seconds())
    raise AssertionError("no RetryInfo in the error details")


def violated_fields(body: dict[str, Any]) -> set[str]:
    return {v["field"] for v in rest_detail(body, "BadRequest")["field_violations"]}


async def grpc_player(stub: auth_pb2_grpc.AuthServiceAsyncStub) -> auth_pb2.LoginResponse:
    email = unique_email("grpc")
    await stub.Register(auth_pb2.RegisterRequest(email=email, password=PASSWORD))
    return await stub.Login(auth_pb2.LoginRequest(email=email, password=PASSWORD))


async def registered_email(rest: httpx.AsyncClient) -> str:
    email = unique_email()
    response = await rest.post("/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return email


# --- forged and unusable tokens -------------------------------------------------------


class Forge:
    """Tokens the mesh must refuse, built against its real issuer, audience and key."""

    def __init__(self, mesh: Mesh) -> None:
        settings = CommonSettings()
        self.issuer, self.audience = settings.jwt_issuer, settings.jwt_audience
        key_file = mesh.data_dir / "auth" / "signing-key.pem"
        self.kid = Keyring.load(key_file, [], issuer=self.issuer, audience=self.audience).kid
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        self.key = key

    def claims(self, subject: str, role: str, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "role": role,
            "jti": secrets.token_hex(8),
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            **changes,
        }

    def genuine(self, subject: str, role: str, **changes: Any) -> str:
        return jwt.encode(
            self.claims(subject, role, **changes), self.key, "ES256", headers={"kid": self.kid}
        )

    def expired(self, subject: str, role: str) -> str:
        # Well beyond Envoy's default 60 s clock skew allowance.
        now = int(time.time())
        return self.genuine(subject, role, iat=now - 3600, nbf=now - 3600, exp=now - 900)

    @staticmethod
    def tampered(token: str, **changes: Any) -> str:
        header, payload, signature = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return f"{header}.{b64json({**claims, **changes})}.{signature}"

    def alg_none(self, subject: str, role: str) -> str:
        header = {"alg": "none", "typ": "JWT", "kid": self.kid}
        return f"{b64json(header)}.{b64json(self.claims(subject, role))}."

    def foreign(self, subject: str, role: str, *, kid: str | None = None) -> str:
        other = ec.generate_private_key(ec.SECP256R1())
        return jwt.encode(
            self.claims(subject, role), other, "ES256", headers={"kid": kid or "foreign-key"}
        )


@pytest.fixture(scope="module")
def forge(mesh: Mesh) -> Forge:
    return Forge(mesh)


@pytest.fixture(scope="module")
async def player_token(rest: httpx.AsyncClient) -> str:
    return (await new_player(rest)).access_token


# Each maker gets (forge, the admin's user id, a genuine USER token) and returns
# (authorization header value or None, the auth service's reason when called directly).
TokenMaker = Callable[[Forge, str, str], tuple[str | None, str]]
BAD_TOKENS: dict[str, TokenMaker] = {
    "missing": lambda f, admin_id, user_token: (None, "TOKEN_MISSING"),
    "expired": lambda f, admin_id, user_token: (
        f"Bearer {f.expired(admin_id, 'ADMIN')}",
        "TOKEN_EXPIRED",
    ),
    "tampered-role": lambda f, admin_id, user_token: (
        f"Bearer {f.tampered(user_token, role='ADMIN')}",
        "TOKEN_INVALID",
    ),
    "tampered-subject": lambda f, admin_id, user_token: (
        f"Bearer {f.tampered(user_token, sub=admin_id)}",
        "TOKEN_INVALID",
    ),
    "alg-none": lambda f, admin_id, user_token: (
        f"Bearer {f.alg_none(admin_id, 'ADMIN')}",
        "TOKEN_INVALID",
    ),
    "foreign-key": lambda f, admin_id, user_token: (
        f"Bearer {f.foreign(admin_id, 'ADMIN')}",
        "TOKEN_UNKNOWN_KEY",
    ),
    "foreign-key-posing-as-ours": lambda f, admin_id, user_token: (
        f"Bearer {f.foreign(admin_id, 'ADMIN', kid=f.kid)}",
        "TOKEN_INVALID",
    ),
    "garbage": lambda f, admin_id, user_token: ("Bearer not-a-jwt", "TOKEN_MALFORMED"),
}


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
@pytest.mark.parametrize("path", ["/v1/users/me", "/v1/users"])
async def test_rest_call_with_a_bad_token_is_401(
    rest: httpx.AsyncClient,
    forge: Forge,
    boss: Account,
    player_token: str,
    kind: str,
    path: str,
) -> None:
    authorization, _ = BAD_TOKENS[kind](forge, boss.user_id, player_token)
    headers = {"authorization": authorization} if authorization else {}
    response = await rest.get(path, headers=headers)
    body = assert_rest_error(response, 401, None)
    assert body["code"] == UNAUTHENTICATED


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
async def test_grpc_call_with_a_bad_token_is_unauthenticated_at_the_gateway(
    stub: auth_pb2_grpc.AuthServiceAsyncStub,
    forge: Forge,
    boss: Account,
    player_token: str,
    kind: str,
) -> None:
    authorization, _ = BAD_TOKENS[kind](forge, boss.user_id, player_token)
    metadata = (("authorization", authorization),) if authorization else ()
    for call in (
        stub.GetMe(auth_pb2.GetMeRequest(), metadata=metadata),
        stub.ListUsers(auth_pb2.ListUsersRequest(), metadata=metadata),
    ):
        assert_grpc_error(await rpc_error(call), Code.UNAUTHENTICATED, None)


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
async def test_bad_token_sent_straight_to_the_auth_service_is_unauthenticated_too(
    direct: auth_pb2_grpc.AuthServiceAsyncStub,
    forge: Forge,
    boss: Account,
    player_token: str,
    kind: str,
) -> None:
    authorization, reason = BAD_TOKENS[kind](forge, boss.user_id, player_token)
    metadata = (("authorization", authorization),) if authorization else ()
    for call in (
        direct.GetMe(auth_pb2.GetMeRequest(), metadata=metadata),
        direct.ListUsers(auth_pb2.ListUsersRequest(), metadata=metadata),
    ):
        assert_grpc_error(await rpc_error(call), Code.UNAUTHENTICATED, reason)


async def test_forged_tokens_would_have_worked_had_they_been_genuine(
    rest: httpx.AsyncClient, forge: Forge, boss: Account
) -> None:
    """Guards the tests above: the forgeries are refused for their flaw, not their claims."""
    genuine = forge.genuine(boss.user_id, "ADMIN")
    response = await rest.get("/v1/users", headers={"authorization": f"Bearer {genuine}"})
    assert response.status_code == 200, response.text


# --- registration ---------------------------------------------------------------------


async def test_player_registers_signs_in_and_reads_their_account_over_rest(
    rest: httpx.AsyncClient,
) -> None:
    email = unique_email()
    registered = await rest.post(
        "/v1/auth/register", json={"email": f" {email.upper()}", "password": PASSWORD}
    )
    assert registered.status_code == 200, registered.text
    user = registered.json()["user"]
    assert (user["email"], user["role"]) == (email, "ROLE_USER")
    assert user["id"].startswith("usr_")
    datetime.fromisoformat(user["created_at"])

    signed_in = await rest.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
    session = signed_in.json()
    assert session["token_type"] == "Bearer"
    assert session["expires_in"] > 0
    assert session["user"] == user
    assert payload_of(session["access_token"])["sub"] == user["id"]

    me = await rest.get(
        "/v1/users/me", headers={"authorization": f"Bearer {session['access_token']}"}
    )
    assert me.status_code == 200, me.text
    assert me.json() == {"user": user}


async def test_player_registers_signs_in_and_reads_their_account_over_grpc(
    stub: auth_pb2_grpc.AuthServiceAsyncStub,
) -> None:
    email = unique_email("grpc")
    user = (await stub.Register(auth_pb2.RegisterRequest(email=email, password=PASSWORD))).user
    assert (user.email, user.role) == (email, authz_pb2.ROLE_USER)
    session = await stub.Login(auth_pb2.LoginRequest(email=email, password=PASSWORD))
    assert session.token_type == "Bearer"
    assert session.user == user
    me = await stub.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(session.access_token))
    assert me.user == user


async def test_registering_a_taken_email_is_409_or_already_exists(
    rest: httpx.AsyncClient, stub: auth_pb2_grpc.AuthServiceAsyncStub
) -> None:
    email = await registered_email(rest)
    again = await rest.post(
        "/v1/auth/register", json={"email": email.upper(), "password": "another password"}
    )
    assert_rest_error(again, 409, "EMAIL_TAKEN")
    error = await rpc_error(
        stub.Register(auth_pb2.RegisterRequest(email=email, password="another password"))
    )
    assert_grpc_error(error, Code.ALREADY_EXISTS, "EMAIL_TAKEN")


@pytest.mark.parametrize(
    ("email", "password", "field"),
    [("not-an-email", PASSWORD, "email"), (None, "short", "password")],
    ids=["bad-email", "short-password"],
)
async def test_invalid_registration_is_400_naming_the_field(
    rest: httpx.AsyncClient,
    stub: auth_pb2_grpc.AuthServiceAsyncStub,
    email: str | None,
    password: str,
    field: str,
) -> None:
    email = email or unique_email()
    response = await rest.post("/v1/auth/register", json={"email": email, "password": password})
    body = assert_rest_error(response, 400, "INVALID_ARGUMENT")
    assert violated_fields(body) == {field}

    error = await rpc_error(stub.Register(auth_pb2.RegisterRequest(email=email, password=password)))
    assert_grpc_error(error, Code.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    # Nothing was created: the same email registers fine with a valid password.
    if field == "password":
        fixed = await rest.post("/v1/auth/register", json={"email": email, "password": PASSWORD})
        assert fixed.status_code == 200, fixed.text


# --- login and lockout ----------------------------------------------------------------


async def test_wrong_password_is_401_invalid_credentials(
    rest: httpx.AsyncClient, stub: auth_pb2_grpc.AuthServiceAsyncStub
) -> None:
    email = await registered_email(rest)
    response = await rest.post("/v1/auth/login", json={"email": email, "password": "wrong pass"})
    assert_rest_error(response, 401, "INVALID_CREDENTIALS")
    error = await rpc_error(stub.Login(auth_pb2.LoginRequest(email=email, password="wrong pass")))
    assert_grpc_error(error, Code.UNAUTHENTICATED, "INVALID_CREDENTIALS")


async def test_repeated_wrong_passwords_lock_the_account_until_the_lock_expires(
    rest: httpx.AsyncClient, mesh: Mesh
) -> None:
    max_failures = int(mesh.service_env["LOGIN_MAX_FAILURES"])
    lockout_seconds = float(mesh.service_env["LOGIN_LOCKOUT_SECONDS"])
    email = await registered_email(rest)
    wrong = {"email": email, "password": "wrong password"}

    for _ in range(max_failures - 1):
        assert_rest_error(await rest.post("/v1/auth/login", json=wrong), 401, "INVALID_CREDENTIALS")
    locked = assert_rest_error(await rest.post("/v1/auth/login", json=wrong), 429, "ACCOUNT_LOCKED")
    retry = rest_detail(locked, "RetryInfo")["retry_delay"]
    assert retry.endswith("s")
    assert 0 < float(retry.removesuffix("s")) <= lockout_seconds

    right = {"email": email, "password": PASSWORD}
    assert_rest_error(await rest.post("/v1/auth/login", json=right), 429, "ACCOUNT_LOCKED")

    async def signs_in() -> bool:
        response = await rest.post("/v1/auth/login", json=right)
        if response.status_code == 429:
            return False
        assert response.status_code == 200, response.text
        return True

    await eventually(signs_in, within=lockout_seconds + 10)


async def test_lockout_over_grpc_is_resource_exhausted_with_a_retry_delay(
    stub: auth_pb2_grpc.AuthServiceAsyncStub, mesh: Mesh
) -> None:
    max_failures = int(mesh.service_env["LOGIN_MAX_FAILURES"])
    email = unique_email("grpc")
    await stub.Register(auth_pb2.RegisterRequest(email=email, password=PASSWORD))
    wrong = auth_pb2.LoginRequest(email=email, password="wrong password")
    for _ in range(max_failures - 1):
        assert_grpc_error(
            await rpc_error(stub.Login(wrong)), Code.UNAUTHENTICATED, "INVALID_CREDENTIALS"
        )
    locked = await rpc_error(stub.Login(wrong))
    assert_grpc_error(locked, Code.RESOURCE_EXHAUSTED, "ACCOUNT_LOCKED")
    assert 0 < retry_delay_seconds(locked) <= float(mesh.service_env["LOGIN_LOCKOUT_SECONDS"])
    right = await rpc_error(stub.Login(auth_pb2.LoginRequest(email=email, password=PASSWORD)))
    assert_grpc_error(right, Code.RESOURCE_EXHAUSTED, "ACCOUNT_LOCKED")


# --- refresh and logout ---------------------------------------------------------------


async def test_refresh_over_rest_rotates_and_reuse_revokes_every_descendant(
    rest: httpx.AsyncClient,
) -> None:
    player = await new_player(rest)
    refreshed = await rest.post("/v1/auth/refresh", json={"refresh_token": player.refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    rotated = refreshed.json()
    assert rotated["refresh_token"] != player.refresh_token
    assert rotated["user"]["id"] == player.user_id
    me = await rest.get(
        "/v1/users/me", headers={"authorization": f"Bearer {rotated['access_token']}"}
    )
    assert me.json()["user"]["id"] == player.user_id

    reused = await rest.post("/v1/auth/refresh", json={"refresh_token": player.refresh_token})
    assert_rest_error(reused, 401, "REFRESH_TOKEN_REUSED")
    descendant = await rest.post(
        "/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert_rest_error(descendant, 401, "REFRESH_TOKEN_REVOKED")


async def test_refresh_over_grpc_rotates_and_reuse_revokes_every_descendant(
    stub: auth_pb2_grpc.AuthServiceAsyncStub,
) -> None:
    session = await grpc_player(stub)
    rotated = await stub.RefreshToken(
        auth_pb2.RefreshTokenRequest(refresh_token=session.refresh_token)
    )
    assert rotated.refresh_token != session.refresh_token
    assert rotated.user.id == session.user.id

    reused = await rpc_error(
        stub.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=session.refresh_token))
    )
    assert_grpc_error(reused, Code.UNAUTHENTICATED, "REFRESH_TOKEN_REUSED")
    descendant = await rpc_error(
        stub.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=rotated.refresh_token))
    )
    assert_grpc_error(descendant, Code.UNAUTHENTICATED, "REFRESH_TOKEN_REVOKED")


async def test_refresh_works_even_when_a_stale_access_token_is_sent_along(
    rest: httpx.AsyncClient, forge: Forge
) -> None:
    player = await new_player(rest)
    stale = {"authorization": f"Bearer {forge.expired(player.user_id, 'USER')}"}
    refreshed = await rest.post(
        "/v1/auth/refresh", json={"refresh_token": player.refresh_token}, headers=stale
    )
    assert refreshed.status_code == 200, refreshed.text
    garbage = {"authorization": "Bearer garbage"}
    signed_in = await rest.post(
        "/v1/auth/login", json={"email": player.email, "password": player.password}, headers=garbage
    )
    assert signed_in.status_code == 200, signed_in.text


async def test_after_logout_over_rest_the_refresh_token_is_refused(
    rest: httpx.AsyncClient,
) -> None:
    player = await new_player(rest)
    out = await rest.post(
        "/v1/auth/logout", json={"refresh_token": player.refresh_token}, headers=player.headers
    )
    assert out.status_code == 200, out.text
    assert out.json() == {}
    refused = await rest.post("/v1/auth/refresh", json={"refresh_token": player.refresh_token})
    assert_rest_error(refused, 401, "REFRESH_TOKEN_REVOKED")


async def test_after_logout_over_grpc_the_refresh_token_is_refused(
    stub: auth_pb2_grpc.AuthServiceAsyncStub,
) -> None:
    session = await grpc_player(stub)
    await stub.Logout(
        auth_pb2.LogoutRequest(refresh_token=session.refresh_token),
        metadata=bearer(session.access_token),
    )
    error = await rpc_error(
        stub.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=session.refresh_token))
    )
    assert_grpc_error(error, Code.UNAUTHENTICATED, "REFRESH_TOKEN_REVOKED")


async def test_logout_needs_a_signed_in_caller(rest: httpx.AsyncClient) -> None:
    player = await new_player(rest)
    response = await rest.post("/v1/auth/logout", json={"refresh_token": player.refresh_token})
    assert_rest_error(response, 401, None)
    still = await rest.post("/v1/auth/refresh", json={"refresh_token": player.refresh_token})
    assert still.status_code == 200, still.text


# --- administration -------------------------------------------------------------------


async def test_admin_pages_through_users_over_rest(rest: httpx.AsyncClient, boss: Account) -> None:
    created = {(await new_player(rest, "paged")).user_id for _ in range(3)}
    first = await rest.get("/v1/users", params={"page_size": 2}, headers=boss.headers)
    assert first.status_code == 200, first.text
    page = first.json()
    assert len(page["users"]) == 2
    assert page["next_page_token"]
    assert page["users"][0]["id"] == boss.user_id  # the bootstrap admin is the oldest account

    users = list(page["users"])
    token = page["next_page_token"]
    size = 2
    while token:
        response = await rest.get(
            "/v1/users", params={"page_size": size, "page_token": token}, headers=boss.headers
        )
        assert response.status_code == 200, response.text
        page = response.json()
        assert 0 < len(page["users"]) <= size
        users.extend(page["users"])
        token = page["next_page_token"]
        size = 100  # two small pages prove the paging; the rest goes quickly

    ids = [u["id"] for u in users]
    assert len(ids) == len(set(ids)), "a user appeared on two pages"
    assert created <= set(ids)
    keys = [(datetime.fromisoformat(u["created_at"]), u["id"]) for u in users]
    assert keys == sorted(keys)


async def test_admin_pages_through_users_over_grpc(
    stub: auth_pb2_grpc.AuthServiceAsyncStub, boss: Account
) -> None:
    first = await stub.ListUsers(auth_pb2.ListUsersRequest(page_size=1), metadata=boss.metadata)
    assert [u.id for u in first.users] == [boss.user_id]
    second = await stub.ListUsers(
        auth_pb2.ListUsersRequest(page_size=1, page_token=first.next_page_token),
        metadata=boss.metadata,
    )
    assert len(second.users) == 1
    assert second.users[0].id != boss.user_id


async def test_forged_page_token_is_400(rest: httpx.AsyncClient, boss: Account) -> None:
    forged = b64json({"$where": "sleep(1000)"})
    response = await rest.get("/v1/users", params={"page_token": forged}, headers=boss.headers)
    body = assert_rest_error(response, 400, "INVALID_ARGUMENT")
    assert violated_fields(body) == {"page_token"}


async def test_admin_changes_a_role_over_rest_which_the_next_login_carries(
    rest: httpx.AsyncClient, boss: Account
) -> None:
    player = await new_player(rest)
    changed = await rest.post(
        f"/v1/users/{player.user_id}:setRole", json={"role": "ROLE_AUDITOR"}, headers=boss.headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["user"]["role"] == "ROLE_AUDITOR"

    again = await login(rest, player.email, player.password)
    assert payload_of(again.access_token)["role"] == "AUDITOR"
    me = await rest.get("/v1/users/me", headers=again.headers)
    assert me.json()["user"]["role"] == "ROLE_AUDITOR"
    # Still no admin: an auditor may not list accounts.
    assert_rest_error(await rest.get("/v1/users", headers=again.headers), 403, None)


async def test_admin_changes_a_role_over_grpc(
    stub: auth_pb2_grpc.AuthServiceAsyncStub, boss: Account
) -> None:
    session = await grpc_player(stub)
    changed = await stub.SetUserRole(
        auth_pb2.SetUserRoleRequest(user_id=session.user.id, role=authz_pb2.ROLE_OPERATOR),
        metadata=boss.metadata,
    )
    assert changed.user.role == authz_pb2.ROLE_OPERATOR
    refreshed = await stub.RefreshToken(
        auth_pb2.RefreshTokenRequest(refresh_token=session.refresh_token)
    )
    assert payload_of(refreshed.access_token)["role"] == "OPERATOR"


async def test_a_player_cannot_be_made_a_game_server(
    rest: httpx.AsyncClient, stub: auth_pb2_grpc.AuthServiceAsyncStub, boss: Account
) -> None:
    player = await new_player(rest)
    response = await rest.post(
        f"/v1/users/{player.user_id}:setRole",
        json={"role": "ROLE_GAME_SERVER"},
        headers=boss.headers,
    )
    body = assert_rest_error(response, 400, "INVALID_ARGUMENT")
    assert violated_fields(body) == {"role"}
    error = await rpc_error(
        stub.SetUserRole(
            auth_pb2.SetUserRoleRequest(user_id=player.user_id, role=authz_pb2.ROLE_GAME_SERVER),
            metadata=boss.metadata,
        )
    )
    assert_grpc_error(error, Code.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    me = await rest.get("/v1/users/me", headers=player.headers)
    assert me.json()["user"]["role"] == "ROLE_USER"


async def test_setting_the_role_of_an_unknown_user_is_404(
    rest: httpx.AsyncClient, boss: Account
) -> None:
    response = await rest.post(
        "/v1/users/usr_nobody:setRole", json={"role": "ROLE_ADMIN"}, headers=boss.headers
    )
    assert_rest_error(response, 404, "USER_NOT_FOUND")


# --- roles: 403, spoofed identity headers, bypassing the gateway ------------------------


async def test_player_calling_admin_rpcs_over_rest_is_403(rest: httpx.AsyncClient) -> None:
    player = await new_player(rest)
    calls = [
        rest.get("/v1/users", headers=player.headers),
        rest.post(
            f"/v1/users/{player.user_id}:setRole",
            json={"role": "ROLE_ADMIN"},
            headers=player.headers,
        ),
        rest.post("/v1/service-accounts", json={"name": "mine"}, headers=player.headers),
    ]
    for call in calls:
        body = assert_rest_error(await call, 403, None)
        assert body["code"] == PERMISSION_DENIED
    me = await rest.get("/v1/users/me", headers=player.headers)
    assert me.json()["user"]["role"] == "ROLE_USER"


async def test_player_calling_admin_rpcs_over_grpc_is_permission_denied(
    stub: auth_pb2_grpc.AuthServiceAsyncStub,
) -> None:
    session = await grpc_player(stub)
    metadata = bearer(session.access_token)
    for call in (
        stub.ListUsers(auth_pb2.ListUsersRequest(), metadata=metadata),
        stub.SetUserRole(
            auth_pb2.SetUserRoleRequest(user_id=session.user.id, role=authz_pb2.ROLE_ADMIN),
            metadata=metadata,
        ),
    ):
        assert_grpc_error(await rpc_error(call), Code.PERMISSION_DENIED, None)


async def test_game_server_token_cannot_act_as_a_human(
    rest: httpx.AsyncClient, mesh: Mesh, boss: Account
) -> None:
    created = await rest.post(
        "/v1/service-accounts", json={"name": f"shard-{secrets.token_hex(3)}"}, headers=boss.headers
    )
    assert created.status_code == 200, created.text
    account = created.json()
    issued = await rest.post(
        "/v1/auth/token",
        json={
            "client_id": account["service_account"]["id"],
            "client_secret": account["client_secret"],
        },
    )
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]
    assert payload_of(token)["role"] == "GAME_SERVER"
    assert_rest_error(
        await rest.get("/v1/users/me", headers={"authorization": f"Bearer {token}"}), 403, None
    )

    wrong = await rest.post(
        "/v1/auth/token",
        json={"client_id": account["service_account"]["id"], "client_secret": "gss_wrong"},
    )
    assert_rest_error(wrong, 401, "INVALID_CLIENT")


SPOOFED = {"x-user-role": "ADMIN", "x-user-id": "usr_admin"}


async def test_client_sent_identity_headers_have_no_effect_over_rest(
    rest: httpx.AsyncClient, boss: Account
) -> None:
    player = await new_player(rest)
    spoofed = {**player.headers, **SPOOFED, "x-user-id": boss.user_id}
    assert_rest_error(await rest.get("/v1/users", headers=spoofed), 403, None)
    me = await rest.get("/v1/users/me", headers=spoofed)
    assert me.json()["user"]["id"] == player.user_id
    assert_rest_error(await rest.get("/v1/users", headers=SPOOFED), 401, None)


async def test_client_sent_identity_headers_have_no_effect_over_grpc(
    stub: auth_pb2_grpc.AuthServiceAsyncStub, boss: Account
) -> None:
    session = await grpc_player(stub)
    spoofed = (*bearer(session.access_token), ("x-user-role", "ADMIN"), ("x-user-id", boss.user_id))
    error = await rpc_error(stub.ListUsers(auth_pb2.ListUsersRequest(), metadata=spoofed))
    assert_grpc_error(error, Code.PERMISSION_DENIED, None)
    me = await stub.GetMe(auth_pb2.GetMeRequest(), metadata=spoofed)
    assert me.user.id == session.user.id


async def test_calling_the_auth_service_directly_without_a_token_is_unauthenticated(
    direct: auth_pb2_grpc.AuthServiceAsyncStub,
) -> None:
    error = await rpc_error(direct.ListUsers(auth_pb2.ListUsersRequest()))
    assert_grpc_error(error, Code.UNAUTHENTICATED, "TOKEN_MISSING")
    spoofed = await rpc_error(
        direct.ListUsers(auth_pb2.ListUsersRequest(), metadata=tuple(SPOOFED.items()))
    )
    assert_grpc_error(spoofed, Code.UNAUTHENTICATED, "TOKEN_MISSING")


async def test_calling_the_auth_service_directly_as_a_player_is_permission_denied(
    direct: auth_pb2_grpc.AuthServiceAsyncStub, rest: httpx.AsyncClient
) -> None:
    player = await new_player(rest)
    spoofed = (*player.metadata, *SPOOFED.items())
    error = await rpc_error(direct.ListUsers(auth_pb2.ListUsersRequest(), metadata=spoofed))
    assert_grpc_error(error, Code.PERMISSION_DENIED, "ROLE_NOT_ALLOWED")


async def test_jwks_is_published_through_the_gateway(rest: httpx.AsyncClient, forge: Forge) -> None:
    response = await rest.get("/.well-known/jwks.json")
    assert response.status_code == 200, response.text
    keys = response.json()["keys"]
    assert forge.kid in {k["kid"] for k in keys}
    assert all("d" not in k for k in keys)
