"""TokenVerifier (services/common/tokens.py) against a real Keyring: what passes, what is
refused and with which reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from services.auth.crypto import Keyring
from services.auth.domain import Role
from services.common.errors import Unauthenticated, Unavailable
from services.common.identity import Principal
from services.common.tokens import (
    KeySet,
    RemoteKeySet,
    TokenVerifier,
    bearer_token,
    parse_jwks,
)

ISSUER = "rewardmesh-auth"
AUDIENCE = "rewardmesh"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def write_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return key


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "signing-key.pem"
    write_key(path)
    return path


@pytest.fixture
def keyring(key_file: Path) -> Keyring:
    return Keyring.load(key_file, [], issuer=ISSUER, audience=AUDIENCE)


@pytest.fixture
def signing_key(key_file: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


@pytest.fixture
def verifier(keyring: Keyring) -> TokenVerifier:
    return TokenVerifier(keyring, issuer=ISSUER, audience=AUDIENCE)


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "usr_1",
        "role": "USER",
        "jti": "jti-1",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: Any, kid: str, payload: dict[str, Any]) -> str:
    return jwt.encode(payload, key, algorithm="ES256", headers={"kid": kid})


async def refused(verifier: TokenVerifier, token: str, reason: str) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(token)
    assert caught.value.reason == reason, caught.value.message
    return caught.value


async def test_token_from_the_keyring_yields_its_subject_and_role(
    keyring: Keyring, verifier: TokenVerifier
) -> None:
    token = keyring.access_token("usr_42", Role.OPERATOR, timedelta(minutes=5))
    assert await verifier.verify(token) == Principal("usr_42", "OPERATOR")


async def test_game_server_token_is_accepted(keyring: Keyring, verifier: TokenVerifier) -> None:
    token = keyring.access_token("sa_1", Role.GAME_SERVER, timedelta(minutes=5))
    assert await verifier.verify(token) == Principal("sa_1", "GAME_SERVER")


async def test_expired_token_is_refused_as_expired(
    keyring: Keyring, signing_key: ec.EllipticCurvePrivateKey, verifier: TokenVerifier
) -> None:
    now = int(time.time())
    token = sign(signing_key, keyring.kid, claims(iat=now - 120, nbf=now - 120, exp=now - 60))
    await refused(verifier, token, "TOKEN_EXPIRED")


async def test_token_not_yet_valid_is_refused(
    keyring: Keyring, signing_key: ec.EllipticCurvePrivateKey, verifier: TokenVerifier
) -> None:
    token = sign(signing_key, keyring.kid, claims(nbf=int(time.time()) + 300))
    await refused(verifier, token, "TOKEN_INVALID")


@pytest.mark.parametrize(
    ("claim", "value"),
    [("iss", "someone-else"), ("aud", "another-audience"), ("aud", ["other", "audiences"])],
)
async def test_token_for_another_issuer_or_audience_is_refused(
    keyring: Keyring,
    signing_key: ec.EllipticCurvePrivateKey,
    verifier: TokenVerifier,
    claim: str,
    value: Any,
) -> None:
    token = sign(signing_key, keyring.kid, claims(**{claim: value}))
    await refused(verifier, token, "TOKEN_INVALID")


async def test_unsigned_alg_none_token_is_refused(
    keyring: Keyring, verifier: TokenVerifier
) -> None:
    header = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": keyring.kid}).encode())
    payload = b64url(json.dumps(claims(role="ADMIN")).encode())
    await refused(verifier, f"{header}.{payload}.", "TOKEN_INVALID")
    await refused(verifier, f"{header}.{payload}", "TOKEN_MALFORMED")


async def test_hs256_token_keyed_with_the_public_key_is_refused(
    keyring: Keyring, verifier: TokenVerifier
) -> None:
    """The classic algorithm-confusion attack: HMAC keyed with the published public key."""
    public_key = await keyring.get(keyring.kid)
    assert public_key is not None
    public_pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": keyring.kid}).encode())
    payload = b64url(json.dumps(claims(role="ADMIN")).encode())
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    await refused(verifier, f"{header}.{payload}.{b64url(mac)}", "TOKEN_INVALID")


async def test_token_signed_by_an_unpublished_key_is_refused(verifier: TokenVerifier) -> None:
    foreign = ec.generate_private_key(ec.SECP256R1())
    await refused(verifier, sign(foreign, "made-up-kid", claims()), "TOKEN_UNKNOWN_KEY")


async def test_token_signed_by_another_key_under_our_kid_is_refused(
    keyring: Keyring, verifier: TokenVerifier
) -> None:
    foreign = ec.generate_private_key(ec.SECP256R1())
    await refused(verifier, sign(foreign, keyring.kid, claims()), "TOKEN_INVALID")


async def test_token_without_a_kid_is_refused(
    signing_key: ec.EllipticCurvePrivateKey, verifier: TokenVerifier
) -> None:
    token = jwt.encode(claims(), signing_key, algorithm="ES256")
    await refused(verifier, token, "TOKEN_INVALID")


async def test_tampered_payload_is_refused(
    keyring: Keyring, signing_key: ec.EllipticCurvePrivateKey, verifier: TokenVerifier
) -> None:
    header, _, signature = sign(signing_key, keyring.kid, claims()).split(".")
    forged = b64url(json.dumps(claims(role="ADMIN")).encode())
    await refused(verifier, f"{header}.{forged}.{signature}", "TOKEN_INVALID")


@pytest.mark.parametrize("missing", ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"])
async def test_token_missing_a_required_claim_is_refused(
    keyring: Keyring,
    signing_key: ec.EllipticCurvePrivateKey,
    verifier: TokenVerifier,
    missing: str,
) -> None:
    token = sign(signing_key, keyring.kid, claims(**{missing: None}))
    await refused(verifier, token, "TOKEN_INVALID")


@pytest.mark.parametrize("role", [None, "", "SUPERUSER", "admin", "ROLE_ADMIN", ["ADMIN"], 4])
async def test_token_without_a_known_role_is_refused(
    keyring: Keyring,
    signing_key: ec.EllipticCurvePrivateKey,
    verifier: TokenVerifier,
    role: Any,
) -> None:
    token = sign(signing_key, keyring.kid, claims(role=role))
    await refused(verifier, token, "TOKEN_INVALID")


async def test_token_whose_subject_is_not_a_string_is_refused(
    keyring: Keyring, signing_key: ec.EllipticCurvePrivateKey, verifier: TokenVerifier
) -> None:
    token = sign(signing_key, keyring.kid, claims(sub=42))
    await refused(verifier, token, "TOKEN_INVALID")


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "....", "eyJhbGciOi.x.y"])
async def test_malformed_token_is_refused(verifier: TokenVerifier, token: str) -> None:
    await refused(verifier, token, "TOKEN_MALFORMED")


async def test_token_signed_by_a_previous_key_stays_valid_after_rotation(
    tmp_path: Path,
) -> None:
    old_file = tmp_path / "old.pem"
    write_key(old_file)
    old = Keyring.load(old_file, [], issuer=ISSUER, audience=AUDIENCE)
    token = old.access_token("usr_1", Role.USER, timedelta(minutes=5))

    rotated = Keyring.load(tmp_path / "new.pem", [old_file], issuer=ISSUER, audience=AUDIENCE)
    assert rotated.kid != old.kid
    assert {k["kid"] for k in rotated.jwks()["keys"]} == {rotated.kid, old.kid}
    verifier = TokenVerifier(rotated, issuer=ISSUER, audience=AUDIENCE)
    assert await verifier.verify(token) == Principal("usr_1", "USER")


async def test_verifier_works_from_the_published_jwks_alone(keyring: Keyring) -> None:
    published = parse_jwks(keyring.jwks())
    assert set(published) == {keyring.kid}

    class Published:
        async def get(self, kid: str) -> Any | None:
            return published.get(kid)

    keys: KeySet = Published()
    verifier = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)
    token = keyring.access_token("usr_7", Role.ADMIN, timedelta(minutes=5))
    assert await verifier.verify(token) == Principal("usr_7", "ADMIN")


def test_published_jwks_holds_public_members_only(keyring: Keyring) -> None:
    (key,) = keyring.jwks()["keys"]
    assert key["kid"] == keyring.kid
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
    assert "d" not in key


def test_parse_jwks_skips_keys_it_cannot_use() -> None:
    document = {
        "keys": [
            {"kty": "RSA", "kid": "rsa", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "crv": "P-384", "kid": "p384", "x": "", "y": ""},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        ]
    }
    assert parse_jwks(document) == {}
    assert parse_jwks({}) == {}


async def test_unreachable_key_set_is_unavailable_not_unauthenticated() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    keys = RemoteKeySet(f"http://127.0.0.1:{port}/.well-known/jwks.json", timeout=0.5)
    with pytest.raises(Unavailable) as caught:
        await keys.get("any-kid")
    assert caught.value.reason == "JWKS_UNAVAILABLE"


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("", None),
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer   abc.def.ghi  ", "abc.def.ghi"),
    ],
)
def test_bearer_token_is_read_from_the_authorization_header(
    header: str | None, token: str | None
) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "abc.def.ghi"])
def test_authorization_header_of_another_scheme_is_malformed(header: str) -> None:
    with pytest.raises(Unauthenticated) as caught:
        bearer_token(header)
    assert caught.value.reason == "TOKEN_MALFORMED"
