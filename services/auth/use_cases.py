"""The auth service's operations. Each takes plain values and returns domain objects."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Generic, TypeVar

from services.auth.domain import (
    HUMAN_ROLES,
    LockoutPolicy,
    RefreshSession,
    Role,
    ServiceAccount,
    User,
    hash_opaque_secret,
    new_id,
    new_opaque_secret,
    normalize_email,
    to_millis,
    validate_registration,
    validate_service_account_name,
)
from services.auth.ports import (
    Clock,
    Outbox,
    PasswordHasher,
    ServiceAccounts,
    Sessions,
    TokenSigner,
    Users,
)
from services.common.errors import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from services.common.identity import Principal
from services.common.paging import PageRequest, page_token
from services.common.subjects import (
    SUBJECT_AUDIT_AUTH,
    SUBJECT_LOGGED_IN,
    SUBJECT_SERVICE_ACCOUNT_DISABLED,
)

log = logging.getLogger(__name__)

# Burned on unknown emails so a failed login takes as long whether or not the account exists.
_DUMMY_PASSWORD = "not-a-real-password"


@dataclass(frozen=True)
class TokenPolicy:
    access_ttl: timedelta = timedelta(minutes=15)
    refresh_ttl: timedelta = timedelta(days=14)
    service_ttl: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Session:
    """What Login and RefreshToken return."""

    access_token: str
    refresh_token: str
    expires_in: int
    user: User


@dataclass(frozen=True)
class IssuedSecret:
    account: ServiceAccount
    secret: str


T = TypeVar("T", User, ServiceAccount)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str


def _page(items: list[T], size: int) -> Page[T]:
    """`items` holds up to size + 1 entries; the extra one only says another page exists."""
    more = len(items) > size
    items = items[:size]
    return Page(items, page_token([items[-1].created_at.isoformat(), items[-1].id]) if more else "")


class AuthUseCases:
    def __init__(
        self,
        *,
        users: Users,
        sessions: Sessions,
        service_accounts: ServiceAccounts,
        outbox: Outbox,
        hasher: PasswordHasher,
        signer: TokenSigner,
        clock: Clock,
        lockout: LockoutPolicy,
        tokens: TokenPolicy,
    ) -> None:
        self._users = users
        self._sessions = sessions
        self._service_accounts = service_accounts
        self._outbox = outbox
        self._hasher = hasher
        self._signer = signer
        self._clock = clock
        self._lockout = lockout
        self._tokens = tokens
        self._dummy_hash: str | None = None

    async def register(self, email: str, password: str, role: Role = Role.USER) -> User:
        email = normalize_email(email)
        validate_registration(email, password)
        user = User(
            id=new_id("usr"),
            email=email,
            role=role,
            password_hash=await self._hasher.hash(password),
            created_at=to_millis(self._clock.now()),
        )
        await self._users.add(user)
        return user

    async def login(self, email: str, password: str) -> Session:
        now = self._clock.now()
        user = await self._users.by_email(normalize_email(email))
        if user is None:
            await self._hasher.verify(await self._dummy(), password)
            raise _bad_credentials()
        if user.locked_at(now):
            assert user.locked_until is not None
            raise _locked((user.locked_until - now).total_seconds())
        if not await self._hasher.verify(user.password_hash, password):
            failures = await self._users.add_failed_login(user.id, now, self._lockout.duration)
            if self._lockout.should_lock(failures):
                await self._users.lock(user.id, now + self._lockout.duration)
                log.warning("account locked", extra={"user_id": user.id, "failures": failures})
                raise _locked(self._lockout.duration.total_seconds())
            raise _bad_credentials()
        if user.failed_logins:
            await self._users.clear_failed_logins(user.id)
        issued = await self._start_session(user, family_id=new_id("fam"))
        await self._outbox.add(
            SUBJECT_LOGGED_IN,
            {"user_id": user.id, "role": user.role.value, "logged_in_at": now.isoformat()},
        )
        return issued

    async def refresh(self, refresh_token: str) -> Session:
        now = self._clock.now()
        token_hash = hash_opaque_secret(refresh_token)
        rotated = await self._sessions.mark_rotated(token_hash, now)
        if rotated is None:
            raise await self._refresh_failure(token_hash)
        user = await self._users.by_id(rotated.user_id)
        if user is None:
            raise Unauthenticated("the account no longer exists", reason="REFRESH_TOKEN_INVALID")
        return await self._start_session(user, family_id=rotated.family_id)

    async def logout(self, caller: Principal, refresh_token: str) -> None:
        session = await self._sessions.get(hash_opaque_secret(refresh_token))
        if session is None or session.user_id != caller.subject:
            raise InvalidArgument.field(
                "refresh_token", "is not a session of the signed-in account"
            )
        await self._sessions.revoke_family(session.family_id)

    async def get_user(self, user_id: str) -> User:
        user = await self._users.by_id(user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found", reason="USER_NOT_FOUND")
        return user

    async def list_users(self, page: PageRequest) -> Page[User]:
        users = await self._users.page(page.after, page.size + 1)
        return _page(users, page.size)

    async def set_user_role(self, caller: Principal, user_id: str, role: Role | None) -> User:
        if role is None or role not in HUMAN_ROLES:
            raise InvalidArgument.field(
                "role", "must be one of ROLE_USER, ROLE_OPERATOR, ROLE_AUDITOR, ROLE_ADMIN"
            )
        before = await self.get_user(user_id)
        user = await self._users.set_role(user_id, role)
        if user is None:
            raise NotFound(f"user {user_id} not found", reason="USER_NOT_FOUND")
        await self._audit(
            caller, "user.set_role", f"user/{user_id}", {"role": [before.role.value, role.value]}
        )
        return user

    async def create_service_account(self, caller: Principal, name: str) -> IssuedSecret:
        name = validate_service_account_name(name)
        secret = new_opaque_secret("gss")
        account = ServiceAccount(
            id=new_id("sa"),
            name=name,
            secret_hash=await self._hasher.hash(secret),
            created_at=to_millis(self._clock.now()),
            created_by=caller.subject,
        )
        await self._service_accounts.add(account)
        await self._audit(
            caller, "service_account.create", f"service_account/{account.id}", {"name": name}
        )
        return IssuedSecret(account, secret)

    async def list_service_accounts(self, page: PageRequest) -> Page[ServiceAccount]:
        accounts = await self._service_accounts.page(page.after, page.size + 1)
        return _page(accounts, page.size)

    async def rotate_service_account_secret(
        self, caller: Principal, account_id: str
    ) -> IssuedSecret:
        secret = new_opaque_secret("gss")
        account = await self._service_accounts.set_secret(
            account_id, await self._hasher.hash(secret)
        )
        if account is None:
            raise _no_service_account(account_id)
        await self._audit(
            caller, "service_account.rotate_secret", f"service_account/{account_id}", {}
        )
        return IssuedSecret(account, secret)

    async def disable_service_account(self, caller: Principal, account_id: str) -> ServiceAccount:
        account = await self._service_accounts.disable(account_id)
        if account is None:
            raise _no_service_account(account_id)
        # Sent on every call, not only the first: an admin retrying after an error re-sends
        # it. The event service then refuses the account's unexpired tokens.
        await self._outbox.add(
            SUBJECT_SERVICE_ACCOUNT_DISABLED,
            {"service_account_id": account_id, "disabled_at": self._clock.now().isoformat()},
        )
        await self._audit(
            caller,
            "service_account.disable",
            f"service_account/{account_id}",
            {"disabled": [False, True]},
        )
        return account

    async def is_revoked(self, principal: Principal) -> bool:
        """A GAME_SERVER token stops working when its service account is disabled or gone.

        Read from the store on every call: game servers call no protected auth RPC in
        normal operation, and every auth instance sees a disable at once.
        """
        if principal.role != Role.GAME_SERVER.value:
            return False
        account = await self._service_accounts.get(principal.subject)
        return account is None or account.disabled

    async def issue_service_token(self, client_id: str, client_secret: str) -> tuple[str, int]:
        account = await self._service_accounts.get(client_id) if client_id else None
        if account is None:
            await self._hasher.verify(await self._dummy(), client_secret)
            raise Unauthenticated("invalid client credentials", reason="INVALID_CLIENT")
        if not await self._hasher.verify(account.secret_hash, client_secret):
            raise Unauthenticated("invalid client credentials", reason="INVALID_CLIENT")
        if account.disabled:
            raise PermissionDenied("this service account is disabled", reason="CLIENT_DISABLED")
        ttl = self._tokens.service_ttl
        token = self._signer.access_token(account.id, Role.GAME_SERVER, ttl)
        return token, int(ttl.total_seconds())

    async def ensure_admin(self, email: str, password: str) -> bool:
        """Creates the bootstrap admin unless an account with this email exists."""
        if await self._users.by_email(normalize_email(email)) is not None:
            return False
        await self.register(email, password, role=Role.ADMIN)
        return True

    async def _start_session(self, user: User, *, family_id: str) -> Session:
        refresh_token = new_opaque_secret("rt")
        now = self._clock.now()
        await self._sessions.add(
            RefreshSession(
                token_hash=hash_opaque_secret(refresh_token),
                user_id=user.id,
                family_id=family_id,
                created_at=now,
                expires_at=now + self._tokens.refresh_ttl,
            )
        )
        ttl = self._tokens.access_ttl
        return Session(
            access_token=self._signer.access_token(user.id, user.role, ttl),
            refresh_token=refresh_token,
            expires_in=int(ttl.total_seconds()),
            user=user,
        )

    async def _refresh_failure(self, token_hash: str) -> Unauthenticated:
        session = await self._sessions.get(token_hash)
        if session is None:
            return Unauthenticated("unknown refresh token", reason="REFRESH_TOKEN_INVALID")
        if session.revoked:
            return Unauthenticated(
                "this session has ended; log in again", reason="REFRESH_TOKEN_REVOKED"
            )
        if session.rotated_at is not None:
            await self._sessions.revoke_family(session.family_id)
            log.warning("refresh token reuse", extra={"user_id": session.user_id})
            return Unauthenticated(
                "refresh token already used; every session of this login is revoked",
                reason="REFRESH_TOKEN_REUSED",
            )
        return Unauthenticated(
            "refresh token expired; log in again", reason="REFRESH_TOKEN_EXPIRED"
        )

    async def _audit(
        self, caller: Principal, action: str, target: str, changes: dict[str, object]
    ) -> None:
        await self._outbox.add(
            SUBJECT_AUDIT_AUTH,
            {
                "id": new_id("aud"),
                "actor_id": caller.subject,
                "actor_role": caller.role,
                "action": action,
                "target": target,
                "changes": changes,
                "service": "auth",
                "created_at": self._clock.now().isoformat(),
            },
        )

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self._hasher.hash(_DUMMY_PASSWORD + secrets.token_hex(8))
        return self._dummy_hash


def _no_service_account(account_id: str) -> NotFound:
    return NotFound(f"service account {account_id!r} not found", reason="SERVICE_ACCOUNT_NOT_FOUND")


def _bad_credentials() -> Unauthenticated:
    return Unauthenticated("wrong email or password", reason="INVALID_CREDENTIALS")


def _locked(retry_after: float) -> ResourceExhausted:
    return ResourceExhausted(
        f"too many failed logins; try again in {int(retry_after) + 1} s",
        reason="ACCOUNT_LOCKED",
        retry_after_seconds=retry_after,
    )
