"""The auth service over real gRPC, in-process: started by its own bootstrap on free
ports, driven through a grpc.aio channel with no gateway in front — which is also what
anyone bypassing Envoy would get. Plus its plain-HTTP JWKS endpoint."""

from __future__ import annotations

import base64
import json
import secrets
import stat
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2
from grpc_status import rpc_status
from pydantic import SecretStr
from rewardmesh.auth.v1 import auth_pb2, auth_pb2_grpc
from rewardmesh.authz.v1 import authz_pb2

from services.auth.bootstrap import SERVICE_NAME, AuthApp, start
from services.auth.crypto import Keyring
from services.auth.jwks_http import JWKS_PATH
from services.auth.settings import AuthSettings
from services.common.identity import Principal
from services.common.tokens import RemoteKeySet, TokenVerifier
from tests.conftest import MONGODB_URL, database_prefix
from tests.helpers import grpc_error_reason, unique_email
from tools.mesh import free_port

M = TypeVar("M", bound=Message)
Metadata = tuple[tuple[str, str], ...]

ADMIN_EMAIL = "root@rewardmesh.test"
ADMIN_PASSWORD = "bootstrap-" + secrets.token_urlsafe(12)
PASSWORD = "correct horse battery"
MAX_FAILURES = 3
LOCKOUT_SECONDS = 30

Code = grpc.StatusCode


@dataclass
class Service:
    app: AuthApp
    settings: AuthSettings
    channel: grpc.aio.Channel
    stub: auth_pb2_grpc.AuthServiceAsyncStub

    @property
    def jwks_url(self) -> str:
        return f"http://127.0.0.1:{self.app.jwks_port}{JWKS_PATH}"

    def signed(self, payload: dict[str, Any]) -> str:
        """A token signed with the service's own key, saying whatever the test wants."""
        key = serialization.load_pem_private_key(
            self.settings.signing_key_path.read_bytes(), password=None
        )
        kid = Keyring.load(
            self.settings.signing_key_path,
            [],
            issuer=self.settings.jwt_issuer,
            audience=self.settings.jwt_audience,
        ).kid
        return jwt.encode(payload, key, algorithm="ES256", headers={"kid": kid})  # type: ignore[arg-type]

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.settings.jwt_issuer,
            "aud": self.settings.jwt_audience,
            "sub": "usr_someone",
            "role": "USER",
            "jti": secrets.token_hex(8),
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            **changes,
        }


@pytest.fixture(scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Service]:
    settings = AuthSettings(
        auth_grpc_port=0,
        auth_jwks_port=0,
        bind_host="127.0.0.1",
        data_dir=tmp_path_factory.mktemp("auth"),
        mongodb_url=MONGODB_URL,
        mongodb_database_prefix=database_prefix(),
        # Nothing listens there: the outbox relay keeps retrying in the background, unused here.
        nats_url=f"nats://127.0.0.1:{free_port()}",
        bootstrap_admin_email=ADMIN_EMAIL,
        bootstrap_admin_password=SecretStr(ADMIN_PASSWORD),
        login_max_failures=MAX_FAILURES,
        login_lockout_seconds=LOCKOUT_SECONDS,
        shutdown_grace_seconds=0,
    )
    app = await start(settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc.port}")
    try:
        yield Service(app, settings, channel, auth_pb2_grpc.AuthServiceStub(channel))
    finally:
        await channel.close()
        if not app.store.embedded:
            await app.store.client.drop_database(f"{settings.mongodb_database_prefix}auth")
        await app.stop()


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    session: auth_pb2.LoginResponse

    @property
    def id(self) -> str:
        return self.session.user.id

    @property
    def metadata(self) -> Metadata:
        return bearer(self.session.access_token)


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


async def register(service: Service, email: str | None = None) -> auth_pb2.User:
    response = await service.stub.Register(
        auth_pb2.RegisterRequest(email=email or unique_email(), password=PASSWORD)
    )
    return response.user


async def signed_in(service: Service, email: str, password: str) -> Account:
    session = await service.stub.Login(auth_pb2.LoginRequest(email=email, password=password))
    return Account(email, password, session)


async def new_player(service: Service) -> Account:
    user = await register(service)
    return await signed_in(service, user.email, PASSWORD)


@pytest.fixture(scope="module")
async def admin(service: Service) -> Account:
    return await signed_in(service, ADMIN_EMAIL, ADMIN_PASSWORD)


async def rpc_error(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call
    return error.value


def detail(error: grpc.aio.AioRpcError, kind: type[M]) -> M:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "no google.rpc.Status in the trailers"
    for any_detail in status.details:
        if any_detail.Is(kind.DESCRIPTOR):
            message = kind()
            any_detail.Unpack(message)
            return message
    raise AssertionError(f"no {kind.DESCRIPTOR.name} in the error details")


def assert_error(error: grpc.aio.AioRpcError, code: grpc.StatusCode, reason: str) -> None:
    assert (error.code(), grpc_error_reason(error)) == (code, reason), error.details()
    assert detail(error, error_details_pb2.ErrorInfo).domain == "rewardmesh.auth"


def violated_fields(error: grpc.aio.AioRpcError) -> set[str]:
    return {v.field for v in detail(error, error_details_pb2.BadRequest).field_violations}


# --- start-up -------------------------------------------------------------------------


async def test_service_reports_serving_on_the_health_service(service: Service) -> None:
    check = service.channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    for name in ("", SERVICE_NAME):
        response = await check(health_pb2.HealthCheckRequest(service=name))
        assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_signing_key_is_generated_readable_by_the_owner_only(service: Service) -> None:
    mode = service.settings.signing_key_path.stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


async def test_bootstrap_admin_signs_in_with_the_configured_password(admin: Account) -> None:
    assert admin.session.user.email == ADMIN_EMAIL
    assert admin.session.user.role == authz_pb2.ROLE_ADMIN


# --- registration and login -----------------------------------------------------------


async def test_player_registers_signs_in_and_reads_their_account(service: Service) -> None:
    email = unique_email()
    user = await register(service, f"  {email.upper()} ")
    assert user.id.startswith("usr_")
    assert user.email == email
    assert user.role == authz_pb2.ROLE_USER
    assert user.HasField("created_at")

    session = await service.stub.Login(auth_pb2.LoginRequest(email=email, password=PASSWORD))
    assert session.token_type == "Bearer"
    assert session.expires_in == service.settings.access_token_ttl_seconds
    assert session.refresh_token.startswith("rt_")
    assert session.user == user

    me = await service.stub.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(session.access_token))
    assert me.user == user


async def test_access_token_verifies_against_the_published_jwks(service: Service) -> None:
    player = await new_player(service)
    verifier = TokenVerifier(
        RemoteKeySet(service.jwks_url),
        issuer=service.settings.jwt_issuer,
        audience=service.settings.jwt_audience,
    )
    assert await verifier.verify(player.session.access_token) == Principal(player.id, "USER")
    header = jwt.get_unverified_header(player.session.access_token)
    assert header["alg"] == "ES256"


async def test_registering_a_taken_email_is_already_exists(service: Service) -> None:
    user = await register(service)
    error = await rpc_error(
        service.stub.Register(
            auth_pb2.RegisterRequest(email=user.email.upper(), password="another password")
        )
    )
    assert_error(error, Code.ALREADY_EXISTS, "EMAIL_TAKEN")


@pytest.mark.parametrize(
    ("email", "password", "fields"),
    [
        ("not-an-email", PASSWORD, {"email"}),
        ("", PASSWORD, {"email"}),
        ("fine@example.com", "short", {"password"}),
        ("fine@example.com", "x" * 257, {"password"}),
        ("nope", "", {"email", "password"}),
    ],
)
async def test_invalid_registration_lists_each_bad_field(
    service: Service, email: str, password: str, fields: set[str]
) -> None:
    error = await rpc_error(
        service.stub.Register(auth_pb2.RegisterRequest(email=email, password=password))
    )
    assert_error(error, Code.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert violated_fields(error) == fields


@pytest.mark.parametrize("known_email", [True, False])
async def test_wrong_credentials_are_unauthenticated(service: Service, known_email: bool) -> None:
    email = (await register(service)).email if known_email else unique_email("ghost")
    error = await rpc_error(
        service.stub.Login(auth_pb2.LoginRequest(email=email, password="wrong password"))
    )
    assert_error(error, Code.UNAUTHENTICATED, "INVALID_CREDENTIALS")
    assert error.details() == "wrong email or password"


async def test_repeated_wrong_passwords_lock_the_account_with_a_retry_delay(
    service: Service,
) -> None:
    user = await register(service)
    wrong = auth_pb2.LoginRequest(email=user.email, password="wrong password")
    for _ in range(MAX_FAILURES - 1):
        assert_error(
            await rpc_error(service.stub.Login(wrong)), Code.UNAUTHENTICATED, "INVALID_CREDENTIALS"
        )
    locked = await rpc_error(service.stub.Login(wrong))
    assert_error(locked, Code.RESOURCE_EXHAUSTED, "ACCOUNT_LOCKED")
    delay = detail(locked, error_details_pb2.RetryInfo).retry_delay.ToTimedelta()
    assert delay.total_seconds() == LOCKOUT_SECONDS

    right = auth_pb2.LoginRequest(email=user.email, password=PASSWORD)
    still_locked = await rpc_error(service.stub.Login(right))
    assert_error(still_locked, Code.RESOURCE_EXHAUSTED, "ACCOUNT_LOCKED")
    remaining = detail(still_locked, error_details_pb2.RetryInfo).retry_delay.ToTimedelta()
    assert 0 < remaining.total_seconds() <= LOCKOUT_SECONDS


# --- refresh and logout ---------------------------------------------------------------


async def test_refresh_rotates_and_reusing_the_old_token_revokes_the_family(
    service: Service,
) -> None:
    player = await new_player(service)
    first = player.session.refresh_token
    rotated = await service.stub.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=first))
    assert rotated.refresh_token != first
    assert rotated.user.id == player.id
    assert rotated.token_type == "Bearer"
    me = await service.stub.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(rotated.access_token))
    assert me.user.id == player.id

    reused = await rpc_error(
        service.stub.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=first))
    )
    assert_error(reused, Code.UNAUTHENTICATED, "REFRESH_TOKEN_REUSED")
    revoked = await rpc_error(
        service.stub.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=rotated.refresh_token))
    )
    assert_error(revoked, Code.UNAUTHENTICATED, "REFRESH_TOKEN_REVOKED")


async def test_unknown_refresh_token_is_unauthenticated(service: Service) -> None:
    error = await rpc_error(
        service.stub.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token="rt_made_up"))
    )
    assert_error(error, Code.UNAUTHENTICATED, "REFRESH_TOKEN_INVALID")


async def test_after_logout_the_refresh_token_no_longer_works(service: Service) -> None:
    player = await new_player(service)
    await service.stub.Logout(
        auth_pb2.LogoutRequest(refresh_token=player.session.refresh_token),
        metadata=player.metadata,
    )
    error = await rpc_error(
        service.stub.RefreshToken(
            auth_pb2.RefreshTokenRequest(refresh_token=player.session.refresh_token)
        )
    )
    assert_error(error, Code.UNAUTHENTICATED, "REFRESH_TOKEN_REVOKED")


async def test_a_player_cannot_log_out_someone_elses_session(service: Service) -> None:
    victim, attacker = await new_player(service), await new_player(service)
    error = await rpc_error(
        service.stub.Logout(
            auth_pb2.LogoutRequest(refresh_token=victim.session.refresh_token),
            metadata=attacker.metadata,
        )
    )
    assert_error(error, Code.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    still = await service.stub.RefreshToken(
        auth_pb2.RefreshTokenRequest(refresh_token=victim.session.refresh_token)
    )
    assert still.user.id == victim.id


# --- administration -------------------------------------------------------------------


async def test_admin_pages_through_every_user_oldest_first(
    service: Service, admin: Account
) -> None:
    created = [(await register(service)).id for _ in range(3)]
    seen: list[auth_pb2.User] = []
    token = ""
    while True:
        page = await service.stub.ListUsers(
            auth_pb2.ListUsersRequest(page_size=2, page_token=token), metadata=admin.metadata
        )
        assert 0 < len(page.users) <= 2
        seen.extend(page.users)
        if not (token := page.next_page_token):
            break
    ids = [u.id for u in seen]
    assert len(ids) == len(set(ids)), "a user appeared on two pages"
    assert set(created) <= set(ids)
    assert ids[0] == admin.id  # the bootstrap admin is the oldest account
    keys = [(u.created_at.ToDatetime(), u.id) for u in seen]
    assert keys == sorted(keys)


@pytest.mark.parametrize(
    ("page_size", "page_token", "field"),
    [(-1, "", "page_size"), (10, "bm90IGEgdG9rZW4=", "page_token"), (10, "%%%", "page_token")],
)
async def test_bad_paging_parameters_are_invalid_argument(
    service: Service, admin: Account, page_size: int, page_token: str, field: str
) -> None:
    error = await rpc_error(
        service.stub.ListUsers(
            auth_pb2.ListUsersRequest(page_size=page_size, page_token=page_token),
            metadata=admin.metadata,
        )
    )
    assert_error(error, Code.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert violated_fields(error) == {field}


async def test_admin_changes_a_role_which_the_next_token_carries(
    service: Service, admin: Account
) -> None:
    player = await new_player(service)
    changed = await service.stub.SetUserRole(
        auth_pb2.SetUserRoleRequest(user_id=player.id, role=authz_pb2.ROLE_OPERATOR),
        metadata=admin.metadata,
    )
    assert changed.user.role == authz_pb2.ROLE_OPERATOR
    assert changed.user.id == player.id

    refreshed = await service.stub.RefreshToken(
        auth_pb2.RefreshTokenRequest(refresh_token=player.session.refresh_token)
    )
    assert jwt.decode(refreshed.access_token, options={"verify_signature": False})["role"] == (
        "OPERATOR"
    )
    me = await service.stub.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(refreshed.access_token))
    assert me.user.role == authz_pb2.ROLE_OPERATOR


@pytest.mark.parametrize("role", [authz_pb2.ROLE_GAME_SERVER, authz_pb2.ROLE_UNSPECIFIED, 99])
async def test_a_human_cannot_get_a_non_human_or_unknown_role(
    service: Service, admin: Account, role: int
) -> None:
    player = await new_player(service)
    error = await rpc_error(
        service.stub.SetUserRole(
            auth_pb2.SetUserRoleRequest(user_id=player.id, role=role),  # type: ignore[arg-type]
            metadata=admin.metadata,
        )
    )
    assert_error(error, Code.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert violated_fields(error) == {"role"}
    me = await service.stub.GetMe(auth_pb2.GetMeRequest(), metadata=player.metadata)
    assert me.user.role == authz_pb2.ROLE_USER


async def test_setting_the_role_of_an_unknown_user_is_not_found(
    service: Service, admin: Account
) -> None:
    error = await rpc_error(
        service.stub.SetUserRole(
            auth_pb2.SetUserRoleRequest(user_id="usr_nobody", role=authz_pb2.ROLE_ADMIN),
            metadata=admin.metadata,
        )
    )
    assert_error(error, Code.NOT_FOUND, "USER_NOT_FOUND")


async def test_service_account_exchanges_its_secret_for_a_game_server_token(
    service: Service, admin: Account
) -> None:
    created = await service.stub.CreateServiceAccount(
        auth_pb2.CreateServiceAccountRequest(name="shard-1"), metadata=admin.metadata
    )
    assert created.client_secret
    assert created.service_account.name == "shard-1"
    listed = await service.stub.ListServiceAccounts(
        auth_pb2.ListServiceAccountsRequest(page_size=100), metadata=admin.metadata
    )
    assert created.service_account in listed.service_accounts
    issued = await service.stub.IssueServiceToken(
        auth_pb2.IssueServiceTokenRequest(
            client_id=created.service_account.id, client_secret=created.client_secret
        )
    )
    assert issued.expires_in == service.settings.service_token_ttl_seconds
    claims = jwt.decode(issued.access_token, options={"verify_signature": False})
    assert (claims["sub"], claims["role"]) == (created.service_account.id, "GAME_SERVER")

    # A game server is no human: it has no account to read.
    error = await rpc_error(
        service.stub.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(issued.access_token))
    )
    assert_error(error, Code.PERMISSION_DENIED, "ROLE_NOT_ALLOWED")

    wrong = await rpc_error(
        service.stub.IssueServiceToken(
            auth_pb2.IssueServiceTokenRequest(
                client_id=created.service_account.id, client_secret="gss_wrong"
            )
        )
    )
    assert_error(wrong, Code.UNAUTHENTICATED, "INVALID_CLIENT")


# --- access control when called directly ----------------------------------------------


async def test_protected_rpc_without_a_token_is_unauthenticated(service: Service) -> None:
    for call in (
        service.stub.ListUsers(auth_pb2.ListUsersRequest()),
        service.stub.GetMe(auth_pb2.GetMeRequest()),
        service.stub.Logout(auth_pb2.LogoutRequest(refresh_token="rt_x")),
    ):
        assert_error(await rpc_error(call), Code.UNAUTHENTICATED, "TOKEN_MISSING")


async def test_player_calling_an_admin_rpc_is_permission_denied(service: Service) -> None:
    player = await new_player(service)
    for call in (
        service.stub.ListUsers(auth_pb2.ListUsersRequest(), metadata=player.metadata),
        service.stub.SetUserRole(
            auth_pb2.SetUserRoleRequest(user_id=player.id, role=authz_pb2.ROLE_ADMIN),
            metadata=player.metadata,
        ),
        service.stub.CreateServiceAccount(
            auth_pb2.CreateServiceAccountRequest(name="mine"), metadata=player.metadata
        ),
    ):
        assert_error(await rpc_error(call), Code.PERMISSION_DENIED, "ROLE_NOT_ALLOWED")
    me = await service.stub.GetMe(auth_pb2.GetMeRequest(), metadata=player.metadata)
    assert me.user.role == authz_pb2.ROLE_USER


async def test_identity_headers_sent_by_the_client_are_ignored(
    service: Service, admin: Account
) -> None:
    player = await new_player(service)
    spoofed = (*player.metadata, ("x-user-role", "ADMIN"), ("x-user-id", admin.id))
    error = await rpc_error(service.stub.ListUsers(auth_pb2.ListUsersRequest(), metadata=spoofed))
    assert_error(error, Code.PERMISSION_DENIED, "ROLE_NOT_ALLOWED")
    me = await service.stub.GetMe(auth_pb2.GetMeRequest(), metadata=spoofed)
    assert me.user.id == player.id

    anonymous = await rpc_error(
        service.stub.ListUsers(auth_pb2.ListUsersRequest(), metadata=(("x-user-role", "ADMIN"),))
    )
    assert_error(anonymous, Code.UNAUTHENTICATED, "TOKEN_MISSING")


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        ("Basic YWRtaW46YWRtaW4=", "TOKEN_MALFORMED"),
        ("Bearer ", "TOKEN_MALFORMED"),
        ("Bearer garbage", "TOKEN_MALFORMED"),
    ],
)
async def test_unusable_authorization_header_is_unauthenticated(
    service: Service, authorization: str, reason: str
) -> None:
    error = await rpc_error(
        service.stub.GetMe(auth_pb2.GetMeRequest(), metadata=(("authorization", authorization),))
    )
    assert_error(error, Code.UNAUTHENTICATED, reason)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_forged_tokens_are_unauthenticated(service: Service) -> None:
    now = int(time.time())
    expired = service.signed(service.claims(iat=now - 1200, nbf=now - 1200, exp=now - 600))

    player = await new_player(service)
    header, payload, signature = player.session.access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    # A player's own token promoted to ADMIN, keeping the original signature.
    tampered = f"{header}.{b64url(json.dumps({**claims, 'role': 'ADMIN'}).encode())}.{signature}"

    none_header = {"alg": "none", "typ": "JWT", "kid": jwt.get_unverified_header(expired)["kid"]}
    alg_none = (
        f"{b64url(json.dumps(none_header).encode())}."
        f"{b64url(json.dumps(service.claims(role='ADMIN')).encode())}."
    )
    foreign = jwt.encode(
        service.claims(role="ADMIN"),
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"kid": "foreign"},
    )
    cases = {
        expired: "TOKEN_EXPIRED",
        tampered: "TOKEN_INVALID",
        alg_none: "TOKEN_INVALID",
        foreign: "TOKEN_UNKNOWN_KEY",
    }
    for token, reason in cases.items():
        error = await rpc_error(
            service.stub.ListUsers(auth_pb2.ListUsersRequest(), metadata=bearer(token))
        )
        assert_error(error, Code.UNAUTHENTICATED, reason)


@pytest.mark.parametrize("kind", ["garbage", "expired", "other scheme"])
async def test_public_rpcs_ignore_a_stale_or_garbage_token(service: Service, kind: str) -> None:
    now = int(time.time())
    authorization = {
        "garbage": "Bearer not.a.jwt",
        "expired": "Bearer "
        + service.signed(service.claims(iat=now - 1200, nbf=now - 1200, exp=now - 600)),
        "other scheme": "Basic Zm9vOmJhcg==",
    }[kind]
    metadata = (("authorization", authorization),)
    email = unique_email()
    await service.stub.Register(
        auth_pb2.RegisterRequest(email=email, password=PASSWORD), metadata=metadata
    )
    session = await service.stub.Login(
        auth_pb2.LoginRequest(email=email, password=PASSWORD), metadata=metadata
    )
    refreshed = await service.stub.RefreshToken(
        auth_pb2.RefreshTokenRequest(refresh_token=session.refresh_token), metadata=metadata
    )
    assert refreshed.user.email == email


# --- JWKS over HTTP -------------------------------------------------------------------


async def test_jwks_endpoint_publishes_the_public_signing_key(service: Service) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(service.jwks_url)
        again = await client.get(service.jwks_url)  # same connection: keep-alive
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    (key,) = response.json()["keys"]
    player = await new_player(service)
    assert key["kid"] == jwt.get_unverified_header(player.session.access_token)["kid"]
    assert (key["alg"], key["kty"], key["crv"], key["use"]) == ("ES256", "EC", "P-256", "sig")
    assert "d" not in key
    assert again.json() == response.json()


@pytest.mark.parametrize("path", ["/", "/jwks.json", "/.well-known/jwks.json/x", "/v1/users"])
async def test_jwks_server_answers_404_elsewhere(service: Service, path: str) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"http://127.0.0.1:{service.app.jwks_port}{path}")
    assert response.status_code == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_jwks_server_refuses_other_methods(service: Service, method: str) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.request(method, service.jwks_url)
    assert response.status_code == 405


async def test_jwks_server_refuses_a_request_body(service: Service) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.post(service.jwks_url, content=b'{"keys": []}')
    assert response.status_code == 400
