"""In-memory fakes of the auth ports (services/auth/ports.py), for the use-case tests.

They keep the contracts the ports document (unique emails, (created_at, id) ordering,
atomic rotation) so the use cases behave as they do on the real adapters, only fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from services.auth.domain import RefreshSession, Role, ServiceAccount, User
from services.common.errors import AlreadyExists

T0 = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)

Keyed = TypeVar("Keyed", User, ServiceAccount)


def _oldest_first_after(
    items: Sequence[Keyed], after: Sequence[Any] | None, size: int
) -> list[Keyed]:
    ordered = sorted(items, key=lambda item: (item.created_at, item.id))
    if after:
        key = (datetime.fromisoformat(after[0]), after[1])
        ordered = [item for item in ordered if (item.created_at, item.id) > key]
    return ordered[:size]


class FakeUsers:
    def __init__(self) -> None:
        self.by_key: dict[str, User] = {}
        self.last_failed_at: dict[str, datetime] = {}

    async def add(self, user: User) -> None:
        if any(u.email == user.email for u in self.by_key.values()):
            raise AlreadyExists(f"{user.email} is taken", reason="EMAIL_TAKEN")
        self.by_key[user.id] = user

    async def by_id(self, user_id: str) -> User | None:
        return self.by_key.get(user_id)

    async def by_email(self, email: str) -> User | None:
        return next((u for u in self.by_key.values() if u.email == email), None)

    async def page(self, after: Sequence[Any] | None, size: int) -> list[User]:
        return _oldest_first_after(list(self.by_key.values()), after, size)

    async def set_role(self, user_id: str, role: Role) -> User | None:
        return self._update(user_id, role=role)

    async def add_failed_login(self, user_id: str, now: datetime, window: timedelta) -> int:
        user = self.by_key.get(user_id)
        if user is None:
            return 0
        last = self.last_failed_at.get(user_id)
        count = user.failed_logins + 1 if last is not None and last >= now - window else 1
        self.last_failed_at[user_id] = now
        self.by_key[user_id] = replace(user, failed_logins=count)
        return count

    async def lock(self, user_id: str, until: datetime) -> None:
        self._update(user_id, locked_until=until, failed_logins=0)

    async def clear_failed_logins(self, user_id: str) -> None:
        self._update(user_id, failed_logins=0)

    def _update(self, user_id: str, **changes: Any) -> User | None:
        user = self.by_key.get(user_id)
        if user is None:
            return None
        self.by_key[user_id] = replace(user, **changes)
        return self.by_key[user_id]


class FakeSessions:
    def __init__(self) -> None:
        self.by_hash: dict[str, RefreshSession] = {}

    async def add(self, session: RefreshSession) -> None:
        self.by_hash[session.token_hash] = session

    async def get(self, token_hash: str) -> RefreshSession | None:
        return self.by_hash.get(token_hash)

    async def mark_rotated(self, token_hash: str, now: datetime) -> RefreshSession | None:
        session = self.by_hash.get(token_hash)
        if (
            session is None
            or session.rotated_at is not None
            or session.revoked
            or session.expires_at <= now
        ):
            return None
        self.by_hash[token_hash] = replace(session, rotated_at=now)
        return self.by_hash[token_hash]

    async def revoke_family(self, family_id: str) -> None:
        for token_hash, session in self.by_hash.items():
            if session.family_id == family_id:
                self.by_hash[token_hash] = replace(session, revoked=True)


class FakeServiceAccounts:
    def __init__(self) -> None:
        self.by_key: dict[str, ServiceAccount] = {}

    async def add(self, account: ServiceAccount) -> None:
        self.by_key[account.id] = account

    async def get(self, account_id: str) -> ServiceAccount | None:
        return self.by_key.get(account_id)

    async def page(self, after: Sequence[Any] | None, size: int) -> list[ServiceAccount]:
        return _oldest_first_after(list(self.by_key.values()), after, size)

    async def set_secret(self, account_id: str, secret_hash: str) -> ServiceAccount | None:
        return self._update(account_id, secret_hash=secret_hash)

    async def disable(self, account_id: str) -> ServiceAccount | None:
        return self._update(account_id, disabled=True)

    def _update(self, account_id: str, **changes: Any) -> ServiceAccount | None:
        account = self.by_key.get(account_id)
        if account is None:
            return None
        self.by_key[account_id] = replace(account, **changes)
        return self.by_key[account_id]


class FakeOutbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []

    async def add(self, subject: str, payload: Mapping[str, Any]) -> None:
        self.messages.append((subject, dict(payload)))

    def on(self, subject: str) -> list[dict[str, Any]]:
        return [payload for s, payload in self.messages if s == subject]


class FakeHasher:
    """Reversible on purpose (tests read it), but never the plain password; counts calls so
    tests can tell that a failed login still spent a verification."""

    def __init__(self) -> None:
        self.hashes = 0
        self.verifications = 0

    async def hash(self, password: str) -> str:
        self.hashes += 1
        return f"fake-hash${password[::-1]}"

    async def verify(self, password_hash: str, password: str) -> bool:
        self.verifications += 1
        return password_hash == f"fake-hash${password[::-1]}"


@dataclass(frozen=True)
class IssuedToken:
    subject: str
    role: Role
    ttl: timedelta


class FakeSigner:
    """Access tokens are opaque to the use cases; this one remembers what each one says."""

    def __init__(self) -> None:
        self.issued: dict[str, IssuedToken] = {}

    def access_token(self, subject: str, role: Role, ttl: timedelta) -> str:
        token = f"access-{len(self.issued) + 1}"
        self.issued[token] = IssuedToken(subject, role, ttl)
        return token


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.value = now

    def now(self) -> datetime:
        return self.value

    def advance(self, delta: timedelta) -> None:
        self.value += delta
