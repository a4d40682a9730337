"""Access-token verification: ES256 JWTs checked against the auth service's key set."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any, Protocol

import httpx
import jwt

from services.common.access import ROLES
from services.common.errors import Unauthenticated, Unavailable
from services.common.identity import Principal

ALGORITHM = "ES256"
_REQUIRED_CLAIMS = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]


class KeySet(Protocol):
    async def get(self, kid: str) -> Any | None:
        """The public key with this id, or None if the issuer does not publish it."""


def parse_jwks(document: Mapping[str, Any]) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for entry in document.get("keys", []):
        if entry.get("kty") == "EC" and entry.get("crv") == "P-256" and entry.get("kid"):
            keys[entry["kid"]] = jwt.PyJWK(entry, algorithm=ALGORITHM).key
    return keys


class RemoteKeySet:
    """The auth service's JWKS, fetched over HTTP and refreshed when an unknown `kid` shows up.

    Refreshes are rate-limited so a stream of tokens with made-up key ids cannot turn
    into a stream of requests to the auth service.
    """

    def __init__(self, url: str, *, min_refresh_interval: float = 2.0, timeout: float = 2.0):
        self._url = url
        self._min_interval = min_refresh_interval
        self._timeout = timeout
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            response = await client.get(self._url)
            response.raise_for_status()
            self._keys = parse_jwks(response.json())
        self._fetched_at = time.monotonic()

    async def get(self, kid: str) -> Any | None:
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            if kid not in self._keys and time.monotonic() - self._fetched_at >= self._min_interval:
                try:
                    await self.refresh()
                except (httpx.HTTPError, ValueError) as exc:
                    self._fetched_at = time.monotonic()
                    raise Unavailable(
                        "cannot reach the token issuer's key set", reason="JWKS_UNAVAILABLE"
                    ) from exc
        return self._keys.get(kid)


class RevocationCheck(Protocol):
    async def is_revoked(self, principal: Principal) -> bool:
        """True if this caller's still-unexpired tokens must be refused (e.g. disabled)."""


class Revocations:
    """Subjects whose tokens are refused before they expire, as announced by the auth
    service (`auth.service_account.disabled`). Kept in memory and rebuilt from the stream
    at startup; the stream keeps messages longer than any token lives."""

    def __init__(self) -> None:
        self._subjects: set[str] = set()

    def revoke(self, subject: str) -> None:
        self._subjects.add(subject)

    async def is_revoked(self, principal: Principal) -> bool:
        return principal.subject in self._subjects


class TokenVerifier:
    """Verifies bearer tokens; remembers tokens already verified until they expire.

    A valid signature is not enough once the caller is revoked: `revocations` is asked on
    every call, cached tokens included. Envoy cannot know about revocations, so a revoked
    token passes the gateway and is refused here, by the service.
    """

    def __init__(
        self,
        keys: KeySet,
        *,
        issuer: str,
        audience: str,
        revocations: RevocationCheck | None = None,
        cache_size: int = 50_000,
    ):
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._revocations = revocations
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._cache_size = cache_size

    async def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached is not None and cached[1] > time.time():
            principal = cached[0]
        else:
            principal = await self._verify_signed(token)
        if self._revocations is not None and await self._revocations.is_revoked(principal):
            raise Unauthenticated("access token revoked", reason="TOKEN_REVOKED")
        return principal

    async def _verify_signed(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated("malformed access token", reason="TOKEN_MALFORMED") from exc
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or not isinstance(kid, str):
            raise Unauthenticated(
                f"access tokens must be {ALGORITHM} with a kid", reason="TOKEN_INVALID"
            )
        key = await self._keys.get(kid)
        if key is None:
            raise Unauthenticated(
                "access token signed by an unknown key", reason="TOKEN_UNKNOWN_KEY"
            )
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("access token expired", reason="TOKEN_EXPIRED") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid access token: {exc}", reason="TOKEN_INVALID") from exc
        role = claims.get("role")
        if role not in ROLES or not isinstance(claims["sub"], str):
            raise Unauthenticated("access token carries no valid role", reason="TOKEN_INVALID")
        principal = Principal(subject=claims["sub"], role=role)
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[token] = (principal, float(claims["exp"]))
        return principal


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "authorization must be 'Bearer <access token>'", reason="TOKEN_MALFORMED"
        )
    return token.strip()
