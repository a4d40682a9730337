"""Password hashing (argon2id) and the token signing keyring (ES256, JWKS)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from services.auth.domain import Role
from services.common.tokens import ALGORITHM

log = logging.getLogger(__name__)


class Argon2Hasher:
    """argon2id, run off the event loop (hashing is deliberately slow)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        try:
            return await asyncio.to_thread(self._hasher.verify, password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


def _thumbprint(public_jwk: dict[str, Any]) -> str:
    """RFC 7638 key id: SHA-256 of the canonical required members."""
    canonical = json.dumps(
        {k: public_jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True
    )
    return (
        base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    )


@dataclass(frozen=True)
class _PublicKey:
    kid: str
    key: ec.EllipticCurvePublicKey
    jwk: dict[str, Any]


def _public(private_or_public: Any) -> _PublicKey:
    public = (
        private_or_public.public_key()
        if hasattr(private_or_public, "private_numbers")
        else private_or_public
    )
    jwk: dict[str, Any] = ECAlgorithm.to_jwk(public, as_dict=True)
    kid = _thumbprint(jwk)
    return _PublicKey(kid, public, {**jwk, "kid": kid, "use": "sig", "alg": ALGORITHM})


def _load_or_create(path: Path) -> ec.EllipticCurvePrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError(f"{path} is not a P-256 private key")
        return key
    key = ec.generate_private_key(ec.SECP256R1())
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    log.info("generated a new signing key", extra={"path": str(path)})
    return key


class Keyring:
    """Signs with the current key; publishes it and any previous keys (for rotation:
    tokens signed by a previous key stay valid until they expire)."""

    def __init__(
        self,
        signing_key: ec.EllipticCurvePrivateKey,
        previous: Sequence[Any],
        issuer: str,
        audience: str,
    ):
        self._signing_key = signing_key
        current = _public(signing_key)
        self.kid = current.kid
        self._public = {k.kid: k for k in (current, *(_public(p) for p in previous))}
        self._issuer = issuer
        self._audience = audience

    @classmethod
    def load(
        cls, signing_key_file: Path, previous_files: Sequence[Path], *, issuer: str, audience: str
    ) -> Keyring:
        previous: list[Any] = []
        for path in previous_files:
            pem = path.read_bytes()
            if b"PRIVATE KEY" in pem:
                previous.append(serialization.load_pem_private_key(pem, password=None))
            else:
                previous.append(serialization.load_pem_public_key(pem))
        return cls(_load_or_create(signing_key_file), previous, issuer, audience)

    def access_token(self, subject: str, role: Role, ttl: timedelta) -> str:
        now = datetime.now(UTC)
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "role": role.value,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
        }
        return jwt.encode(claims, self._signing_key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.jwk for k in self._public.values()]}

    async def get(self, kid: str) -> Any | None:
        entry = self._public.get(kid)
        return entry.key if entry else None
