"""Accounts, sessions and the rules about them. Standard library only."""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.common.errors import Violations

MIN_PASSWORD_LENGTH = 8
# argon2 hashes anything, but an unbounded input is a cheap way to burn CPU.
MAX_PASSWORD_LENGTH = 256
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 100

_EMAIL = re.compile(
    r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$"
)


class Role(enum.Enum):
    USER = "USER"
    OPERATOR = "OPERATOR"
    AUDITOR = "AUDITOR"
    ADMIN = "ADMIN"
    GAME_SERVER = "GAME_SERVER"


# Roles a human account may hold; GAME_SERVER belongs to service accounts only.
HUMAN_ROLES = frozenset({Role.USER, Role.OPERATOR, Role.AUDITOR, Role.ADMIN})


@dataclass(frozen=True)
class User:
    id: str
    email: str
    role: Role
    password_hash: str
    created_at: datetime
    failed_logins: int = 0
    locked_until: datetime | None = None

    def locked_at(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until


@dataclass(frozen=True)
class LockoutPolicy:
    """After `max_failures` wrong passwords in a row, each within `duration` of the one
    before, the account is locked for `duration`. Older failures are forgotten, so stray
    typos spread over months never lock anyone out."""

    max_failures: int = 5
    duration: timedelta = timedelta(minutes=15)

    def should_lock(self, failed_logins: int) -> bool:
        return failed_logins >= self.max_failures


@dataclass(frozen=True)
class RefreshSession:
    """One refresh token (stored by hash). Rotation creates the next one in the same family;
    presenting a rotated token again means it leaked, so the whole family is revoked."""

    token_hash: str
    user_id: str
    family_id: str
    created_at: datetime
    expires_at: datetime
    rotated_at: datetime | None = None
    revoked: bool = False


@dataclass(frozen=True)
class ServiceAccount:
    id: str
    name: str
    secret_hash: str
    created_at: datetime
    created_by: str
    disabled: bool = False


def to_millis(value: datetime) -> datetime:
    """MongoDB keeps milliseconds; truncating up front keeps responses equal to what is stored."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def normalize_email(raw: str) -> str:
    return raw.strip().lower()


def validate_registration(email: str, password: str) -> None:
    problems = Violations()
    problems.check(bool(email), "email", "is required")
    problems.check(
        not email or (len(email) <= MAX_EMAIL_LENGTH and _EMAIL.match(email) is not None),
        "email",
        "is not a valid email address",
    )
    problems.check(
        len(password) >= MIN_PASSWORD_LENGTH,
        "password",
        f"must be at least {MIN_PASSWORD_LENGTH} characters",
    )
    problems.check(
        len(password) <= MAX_PASSWORD_LENGTH,
        "password",
        f"must be at most {MAX_PASSWORD_LENGTH} characters",
    )
    problems.raise_if_any()


def validate_service_account_name(name: str) -> str:
    name = name.strip()
    problems = Violations()
    problems.check(bool(name), "name", "is required")
    problems.check(
        len(name) <= MAX_NAME_LENGTH, "name", f"must be at most {MAX_NAME_LENGTH} characters"
    )
    problems.raise_if_any()
    return name


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def new_opaque_secret(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_opaque_secret(secret: str) -> str:
    """Refresh tokens are high-entropy random strings: a plain SHA-256 is enough to store them."""
    return hashlib.sha256(secret.encode()).hexdigest()
