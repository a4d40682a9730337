"""Forged, stale and revoked tokens are refused everywhere a protected RPC can be called:
through Envoy (REST and gRPC) and directly at the event and auth services' gRPC ports.

Valid-looking tokens are signed with the mesh's real key, so each case fails for the one
reason it is about. Envoy verifies signature, issuer, audience and time (with 60 s of
skew); the services verify all of it again, plus revocation, which Envoy cannot know of.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from rewardmesh.auth.v1 import auth_pb2, auth_pb2_grpc
from rewardmesh.event.v1 import event_pb2, event_pb2_grpc

from services.auth.crypto import Keyring
from tests.conftest import running_mesh
from tests.e2e.event_api import create_event
from tests.helpers import (
    Account,
    admin,
    error_reason,
    eventually,
    grpc_error_reason,
    new_player,
)
from tools.mesh import LOOPBACK, Mesh

ISSUER, AUDIENCE = "rewardmesh-auth", "rewardmesh"
TEN_MINUTES = 600


@pytest.fixture(scope="module")
def jwt_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with running_mesh(tmp_path_factory, "jwt-attacks") as mesh:
        yield mesh


@dataclass(frozen=True)
class Keys:
    """The mesh's real signing key (to sign valid-looking tokens) and its public half in the
    forms an attacker can fetch (to misuse as an HMAC secret)."""

    private: ec.EllipticCurvePrivateKey
    kid: str
    public_pem: bytes
    public_jwk: bytes

    @classmethod
    def of(cls, mesh: Mesh) -> Keys:
        path = mesh.data_dir / "auth" / "signing-key.pem"
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        keyring = Keyring.load(path, [], issuer=ISSUER, audience=AUDIENCE)
        (jwk,) = keyring.jwks()["keys"]
        public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(private, keyring.kid, public_pem, json.dumps(jwk).encode())


@dataclass(frozen=True)
class World:
    mesh: Mesh
    keys: Keys
    boss: Account
    player: Account
    event_id: str

    def claims(self, **changes: Any) -> dict[str, Any]:
        """What the auth service would put in an ADMIN token for the real admin."""
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": self.boss.user_id,
            "role": "ADMIN",
            "jti": secrets.token_hex(16),
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        }
        claims.update(changes)
        return claims

    def signed(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims, self.keys.private, algorithm="ES256", headers={"kid": self.keys.kid}
        )


@pytest.fixture(scope="module")
async def client(jwt_mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=jwt_mesh.gateway_url, timeout=20) as c:
        yield c


@pytest.fixture(scope="module")
async def world(jwt_mesh: Mesh, client: httpx.AsyncClient) -> World:
    boss = await admin(client, jwt_mesh)
    event = await create_event(client, boss)
    return World(jwt_mesh, Keys.of(jwt_mesh), boss, await new_player(client), event["id"])


# --- the protected RPC, called four ways ----------------------------------------------------

TARGETS = ("envoy REST", "envoy gRPC", "event gRPC", "auth gRPC")


@dataclass(frozen=True)
class Outcome:
    code: grpc.StatusCode
    reason: str | None
    http_status: int | None = None  # REST only


def _status_code(number: int) -> grpc.StatusCode:
    return next(code for code in grpc.StatusCode if code.value[0] == number)


async def call(world: World, target: str, token: str) -> Outcome:
    """GetPlayerProgress (event) or ListUsers (auth), with `token` as the bearer."""
    mesh, bearer = world.mesh, f"Bearer {token}"
    if target == "envoy REST":
        async with httpx.AsyncClient(base_url=mesh.gateway_url, timeout=20) as rest:
            response = await rest.get(
                f"/v1/players/{world.player.user_id}/events/{world.event_id}/progress",
                headers={"authorization": bearer},
            )
        if response.status_code == 200:
            return Outcome(grpc.StatusCode.OK, None, 200)
        body = response.json()
        return Outcome(_status_code(body["code"]), error_reason(body), response.status_code)
    address = {
        "envoy gRPC": mesh.gateway_target,
        "event gRPC": f"{LOOPBACK}:{mesh.ports.event_grpc}",
        "auth gRPC": f"{LOOPBACK}:{mesh.ports.auth_grpc}",
    }[target]
    metadata = (("authorization", bearer),)
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            if target == "auth gRPC":
                await auth_pb2_grpc.AuthServiceStub(channel).ListUsers(
                    auth_pb2.ListUsersRequest(), metadata=metadata, timeout=10
                )
            else:
                await event_pb2_grpc.EventServiceStub(channel).GetPlayerProgress(
                    event_pb2.GetPlayerProgressRequest(
                        user_id=world.player.user_id, event_id=world.event_id
                    ),
                    metadata=metadata,
                    timeout=10,
                )
        except grpc.aio.AioRpcError as error:
            return Outcome(error.code(), grpc_error_reason(error))
    return Outcome(grpc.StatusCode.OK, None)


async def outcomes(world: World, token: str) -> dict[str, Outcome]:
    return {target: await call(world, target, token) for target in TARGETS}


def assert_unauthenticated(outcome: Outcome, target: str) -> None:
    assert outcome.code == grpc.StatusCode.UNAUTHENTICATED, (target, outcome)
    if outcome.http_status is not None:
        assert outcome.http_status == 401, (target, outcome)


# --- forged and stale tokens ------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(header: dict[str, Any], claims: dict[str, Any], hmac_key: bytes | None) -> str:
    """PyJWT refuses to build these (rightly): assembled by hand."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    if hmac_key is None:
        return signing_input + "."
    mac = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def alg_none(w: World) -> str:
    return handmade({"alg": "none", "typ": "JWT", "kid": w.keys.kid}, w.claims(), None)


def hs256_with_public_pem(w: World) -> str:
    header = {"alg": "HS256", "typ": "JWT", "kid": w.keys.kid}
    return handmade(header, w.claims(), w.keys.public_pem)


def hs256_with_public_jwk(w: World) -> str:
    header = {"alg": "HS256", "typ": "JWT", "kid": w.keys.kid}
    return handmade(header, w.claims(), w.keys.public_jwk)


def expired(w: World) -> str:
    now = int(time.time())
    return w.signed(w.claims(iat=now - 3 * TEN_MINUTES, nbf=now - 3 * TEN_MINUTES, exp=now - 600))


def not_yet_valid(w: World) -> str:
    now = int(time.time())
    return w.signed(w.claims(iat=now + TEN_MINUTES, nbf=now + TEN_MINUTES, exp=now + 1800))


def wrong_issuer(w: World) -> str:
    return w.signed(w.claims(iss="https://evil.example.com"))


def wrong_audience(w: World) -> str:
    return w.signed(w.claims(aud="some-other-service"))


def unknown_kid(w: World) -> str:
    stranger = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(w.claims(), stranger, algorithm="ES256", headers={"kid": "attacker-key-1"})


def tampered_role(w: World) -> str:
    """The player's real token with `role` changed to ADMIN; the signature is kept."""
    header, payload, signature = w.player.access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["role"] == "USER"
    claims["role"] = "ADMIN"
    return f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"


# Case -> the ErrorInfo reason the services give when called directly.
ATTACKS: dict[str, tuple[Callable[[World], str], str]] = {
    "alg none": (alg_none, "TOKEN_INVALID"),
    "HS256 keyed with the public PEM": (hs256_with_public_pem, "TOKEN_INVALID"),
    "HS256 keyed with the public JWK": (hs256_with_public_jwk, "TOKEN_INVALID"),
    "expired 10 min ago": (expired, "TOKEN_EXPIRED"),
    "valid only in 10 min": (not_yet_valid, "TOKEN_INVALID"),
    "wrong issuer": (wrong_issuer, "TOKEN_INVALID"),
    "wrong audience": (wrong_audience, "TOKEN_INVALID"),
    "unknown kid": (unknown_kid, "TOKEN_UNKNOWN_KEY"),
    "role claim edited": (tampered_role, "TOKEN_INVALID"),
}


async def test_a_genuine_admin_token_passes_on_every_path(world: World) -> None:
    token = world.signed(world.claims())
    assert {t: o.code for t, o in (await outcomes(world, token)).items()} == dict.fromkeys(
        TARGETS, grpc.StatusCode.OK
    )


@pytest.mark.parametrize("case", list(ATTACKS))
async def test_a_forged_or_stale_token_is_refused_on_every_path(world: World, case: str) -> None:
    forge, direct_reason = ATTACKS[case]
    results = await outcomes(world, forge(world))
    for target, outcome in results.items():
        if case == "wrong audience" and target.startswith("envoy"):
            # jwt_authn documents 403 "Audiences in Jwt are not allowed" for this one.
            assert outcome.code == grpc.StatusCode.PERMISSION_DENIED, (target, outcome)
            assert outcome.http_status in (None, 403), (target, outcome)
            continue
        assert_unauthenticated(outcome, target)
        if target.startswith("envoy"):
            assert outcome.reason is None, (target, outcome)  # Envoy's answer, not a service's
        else:
            assert outcome.reason == direct_reason, (target, outcome)


# --- revocation: a disabled service account ---------------------------------------------------


async def service_account(client: httpx.AsyncClient, boss: Account) -> tuple[str, str]:
    """A new service account and a GAME_SERVER token for it: (account id, token)."""
    created = await client.post(
        "/v1/service-accounts", json={"name": f"world-{secrets.token_hex(3)}"}, headers=boss.headers
    )
    assert created.status_code == 200, created.text
    account = created.json()
    issued = await client.post(
        "/v1/auth/token",
        json={
            "client_id": account["service_account"]["id"],
            "client_secret": account["client_secret"],
        },
    )
    assert issued.status_code == 200, issued.text
    return account["service_account"]["id"], issued.json()["access_token"]


async def refused_as_revoked(world: World, token: str, targets: tuple[str, ...]) -> bool:
    for target in targets:
        outcome = await call(world, target, token)
        if outcome.code != grpc.StatusCode.UNAUTHENTICATED:
            return False
        assert outcome.reason == "TOKEN_REVOKED", (target, outcome)
        assert outcome.http_status in (None, 401), (target, outcome)
    return True


async def test_a_disabled_service_accounts_unexpired_token_is_refused_and_stays_refused(
    world: World, client: httpx.AsyncClient, jwt_mesh: Mesh
) -> None:
    """Envoy passes the token (its signature is fine); the services refuse it."""
    account_id, token = await service_account(client, world.boss)
    _, other_token = await service_account(client, world.boss)
    event_paths = ("envoy REST", "envoy gRPC", "event gRPC")
    for target in event_paths:
        assert (await call(world, target, token)).code == grpc.StatusCode.OK, target
    # GAME_SERVER may not list users: refused for its role until the account is disabled.
    before = await call(world, "auth gRPC", token)
    assert before.code == grpc.StatusCode.PERMISSION_DENIED, before

    disabled = await client.post(
        f"/v1/service-accounts/{account_id}:disable", json={}, headers=world.boss.headers
    )
    assert disabled.status_code == 200, disabled.text

    # The auth service reads its own store: refused at once.
    assert await refused_as_revoked(world, token, ("auth gRPC",))
    # The event service learns it from the AUTH stream within moments.
    await eventually(lambda: refused_as_revoked(world, token, event_paths), within=5)
    for target in event_paths:
        assert (await call(world, target, other_token)).code == grpc.StatusCode.OK, target

    # A restarted event service replays the revocations from the stream before serving.
    jwt_mesh.stop_process("event")
    jwt_mesh.start_event()
    jwt_mesh.wait_ready(60, ("event",))
    assert await refused_as_revoked(world, token, ("event gRPC",))
    still_valid = await call(world, "event gRPC", other_token)
    # The embedded store forgot the event across the restart; the caller still got in.
    assert still_valid.code in (grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND), still_valid
