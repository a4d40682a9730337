"""The auth use cases on in-memory fakes of their ports: accounts, lockout, sessions,
roles, the bootstrap admin and service accounts."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import pytest

from services.auth.domain import LockoutPolicy, Role, User, hash_opaque_secret
from services.auth.use_cases import AuthUseCases, Session, TokenPolicy
from services.common.errors import (
    AlreadyExists,
    DomainError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from services.common.identity import Principal
from services.common.paging import page_request
from services.common.subjects import SUBJECT_AUDIT_AUTH, SUBJECT_LOGGED_IN
from tests.unit.auth_fakes import (
    FakeClock,
    FakeHasher,
    FakeOutbox,
    FakeServiceAccounts,
    FakeSessions,
    FakeSigner,
    FakeUsers,
)

PASSWORD = "correct horse battery"
WRONG = "wrong password!"
LOCKOUT = LockoutPolicy(max_failures=3, duration=timedelta(minutes=10))
TOKENS = TokenPolicy(
    access_ttl=timedelta(minutes=15),
    refresh_ttl=timedelta(days=14),
    service_ttl=timedelta(minutes=5),
)
ADMIN = Principal("usr_admin", "ADMIN")

E = TypeVar("E", bound=DomainError)


@dataclass
class Auth:
    uc: AuthUseCases
    users: FakeUsers
    sessions: FakeSessions
    accounts: FakeServiceAccounts
    outbox: FakeOutbox
    hasher: FakeHasher
    signer: FakeSigner
    clock: FakeClock

    async def player(self, email: str = "player@example.com") -> User:
        return await self.uc.register(email, PASSWORD)

    def principal(self, user: User) -> Principal:
        return Principal(user.id, user.role.value)

    def role_in(self, session: Session) -> Role:
        return self.signer.issued[session.access_token].role


@pytest.fixture
def auth() -> Auth:
    users, sessions, accounts = FakeUsers(), FakeSessions(), FakeServiceAccounts()
    outbox, hasher, signer, clock = FakeOutbox(), FakeHasher(), FakeSigner(), FakeClock()
    uc = AuthUseCases(
        users=users,
        sessions=sessions,
        service_accounts=accounts,
        outbox=outbox,
        hasher=hasher,
        signer=signer,
        clock=clock,
        lockout=LOCKOUT,
        tokens=TOKENS,
    )
    return Auth(uc, users, sessions, accounts, outbox, hasher, signer, clock)


async def fails(kind: type[E], reason: str, call: Awaitable[Any]) -> E:
    """Awaits `call`, asserting it raises `kind` with `reason`; returns the error."""
    with pytest.raises(kind) as caught:
        await call
    assert caught.value.reason == reason, caught.value
    return caught.value


# --- registration ---------------------------------------------------------------------


async def test_registration_creates_a_player_with_a_normalized_email_and_hashed_password(
    auth: Auth,
) -> None:
    user = await auth.uc.register("  New.Player@Example.COM ", PASSWORD)
    assert user.email == "new.player@example.com"
    assert user.role is Role.USER
    assert user.created_at == auth.clock.now()
    assert PASSWORD not in user.password_hash
    assert await auth.users.by_email("new.player@example.com") == user


async def test_creation_times_are_kept_to_the_millisecond_the_store_keeps(auth: Auth) -> None:
    auth.clock.advance(timedelta(microseconds=123_456))
    user = await auth.player()
    account = (await auth.uc.create_service_account(ADMIN, "shard-1")).account
    assert user.created_at == account.created_at == auth.clock.now().replace(microsecond=123_000)


async def test_registering_an_email_again_in_another_case_is_refused(auth: Auth) -> None:
    await auth.player("player@example.com")
    await fails(AlreadyExists, "EMAIL_TAKEN", auth.uc.register("PLAYER@example.com ", PASSWORD))
    assert len(auth.users.by_key) == 1


async def test_invalid_registration_is_refused_before_any_hashing(auth: Auth) -> None:
    error = await fails(InvalidArgument, "INVALID_ARGUMENT", auth.uc.register("nope", "short"))
    assert [v.field for v in error.violations] == ["email", "password"]
    assert auth.hasher.hashes == 0
    assert auth.users.by_key == {}


# --- login and lockout ----------------------------------------------------------------


async def test_login_issues_tokens_for_the_account_and_records_the_login(auth: Auth) -> None:
    user = await auth.player()
    session = await auth.uc.login(" Player@Example.com", PASSWORD)
    assert session.user == user
    assert session.expires_in == 15 * 60
    issued = auth.signer.issued[session.access_token]
    assert (issued.subject, issued.role, issued.ttl) == (user.id, Role.USER, TOKENS.access_ttl)
    stored = await auth.sessions.get(hash_opaque_secret(session.refresh_token))
    assert stored is not None
    assert stored.user_id == user.id
    assert stored.expires_at == auth.clock.now() + TOKENS.refresh_ttl
    assert session.refresh_token not in auth.sessions.by_hash  # only its hash is kept
    assert auth.outbox.on(SUBJECT_LOGGED_IN) == [
        {"user_id": user.id, "role": "USER", "logged_in_at": auth.clock.now().isoformat()}
    ]


async def test_wrong_password_is_refused_without_saying_which_part_was_wrong(auth: Auth) -> None:
    await auth.player()
    wrong_password = await fails(
        Unauthenticated, "INVALID_CREDENTIALS", auth.uc.login("player@example.com", WRONG)
    )
    unknown_email = await fails(
        Unauthenticated, "INVALID_CREDENTIALS", auth.uc.login("ghost@example.com", PASSWORD)
    )
    assert wrong_password.message == unknown_email.message
    assert auth.outbox.on(SUBJECT_LOGGED_IN) == []


async def test_unknown_email_still_spends_a_password_verification(auth: Auth) -> None:
    before = auth.hasher.verifications
    await fails(Unauthenticated, "INVALID_CREDENTIALS", auth.uc.login("ghost@example.com", WRONG))
    assert auth.hasher.verifications == before + 1


async def test_account_locks_after_the_maximum_number_of_wrong_passwords(auth: Auth) -> None:
    await auth.player()
    for _ in range(LOCKOUT.max_failures - 1):
        await fails(
            Unauthenticated, "INVALID_CREDENTIALS", auth.uc.login("player@example.com", WRONG)
        )
    locked = await fails(
        ResourceExhausted, "ACCOUNT_LOCKED", auth.uc.login("player@example.com", WRONG)
    )
    assert locked.retry_after_seconds == LOCKOUT.duration.total_seconds()


async def test_failures_spread_wider_than_the_lockout_window_never_lock(auth: Auth) -> None:
    await auth.player()
    for _ in range(LOCKOUT.max_failures * 2):
        await fails(
            Unauthenticated, "INVALID_CREDENTIALS", auth.uc.login("player@example.com", WRONG)
        )
        auth.clock.advance(LOCKOUT.duration + timedelta(seconds=1))


async def test_locked_account_refuses_even_the_right_password_until_the_lock_expires(
    auth: Auth,
) -> None:
    await auth.player()
    for _ in range(LOCKOUT.max_failures):
        with pytest.raises(DomainError):
            await auth.uc.login("player@example.com", WRONG)

    auth.clock.advance(timedelta(minutes=4))
    locked = await fails(
        ResourceExhausted, "ACCOUNT_LOCKED", auth.uc.login("player@example.com", PASSWORD)
    )
    assert locked.retry_after_seconds == timedelta(minutes=6).total_seconds()

    auth.clock.advance(timedelta(minutes=6))
    session = await auth.uc.login("player@example.com", PASSWORD)
    assert session.user.email == "player@example.com"


async def test_lock_expiry_gives_a_fresh_count_of_allowed_failures(auth: Auth) -> None:
    await auth.player()
    for _ in range(LOCKOUT.max_failures):
        with pytest.raises(DomainError):
            await auth.uc.login("player@example.com", WRONG)
    auth.clock.advance(LOCKOUT.duration)
    # One wrong password after the lock is one failure, not a new lock.
    await fails(Unauthenticated, "INVALID_CREDENTIALS", auth.uc.login("player@example.com", WRONG))


async def test_successful_login_resets_the_failure_count(auth: Auth) -> None:
    await auth.player()
    for _ in range(LOCKOUT.max_failures - 1):
        await fails(
            Unauthenticated, "INVALID_CREDENTIALS", auth.uc.login("player@example.com", WRONG)
        )
    await auth.uc.login("player@example.com", PASSWORD)
    for _ in range(LOCKOUT.max_failures - 1):
        await fails(
            Unauthenticated, "INVALID_CREDENTIALS", auth.uc.login("player@example.com", WRONG)
        )
    await auth.uc.login("player@example.com", PASSWORD)


async def test_lockout_of_one_account_leaves_others_alone(auth: Auth) -> None:
    await auth.player("victim@example.com")
    await auth.player("bystander@example.com")
    for _ in range(LOCKOUT.max_failures):
        with pytest.raises(DomainError):
            await auth.uc.login("victim@example.com", WRONG)
    assert (await auth.uc.login("bystander@example.com", PASSWORD)).user.email == (
        "bystander@example.com"
    )


# --- refresh tokens -------------------------------------------------------------------


async def test_refresh_rotates_the_refresh_token_and_issues_a_new_access_token(
    auth: Auth,
) -> None:
    await auth.player()
    first = await auth.uc.login("player@example.com", PASSWORD)
    auth.clock.advance(timedelta(minutes=20))
    second = await auth.uc.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert second.user == first.user
    old = auth.sessions.by_hash[hash_opaque_secret(first.refresh_token)]
    new = auth.sessions.by_hash[hash_opaque_secret(second.refresh_token)]
    assert old.rotated_at == auth.clock.now()
    assert new.family_id == old.family_id
    third = await auth.uc.refresh(second.refresh_token)
    assert third.user.id == first.user.id


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(auth: Auth) -> None:
    await auth.player()
    first = await auth.uc.login("player@example.com", PASSWORD)
    second = await auth.uc.refresh(first.refresh_token)

    await fails(Unauthenticated, "REFRESH_TOKEN_REUSED", auth.uc.refresh(first.refresh_token))

    # The legitimate holder's newer token dies with it: the thief cannot keep a session.
    await fails(Unauthenticated, "REFRESH_TOKEN_REVOKED", auth.uc.refresh(second.refresh_token))
    await fails(Unauthenticated, "REFRESH_TOKEN_REVOKED", auth.uc.refresh(first.refresh_token))


async def test_reuse_in_one_login_leaves_the_accounts_other_logins_alone(auth: Auth) -> None:
    await auth.player()
    phone = await auth.uc.login("player@example.com", PASSWORD)
    laptop = await auth.uc.login("player@example.com", PASSWORD)
    await auth.uc.refresh(phone.refresh_token)
    with pytest.raises(Unauthenticated):
        await auth.uc.refresh(phone.refresh_token)
    assert (await auth.uc.refresh(laptop.refresh_token)).user.email == "player@example.com"


async def test_unknown_refresh_token_is_refused(auth: Auth) -> None:
    await fails(Unauthenticated, "REFRESH_TOKEN_INVALID", auth.uc.refresh("rt_made-up"))
    await fails(Unauthenticated, "REFRESH_TOKEN_INVALID", auth.uc.refresh(""))


async def test_expired_refresh_token_is_refused(auth: Auth) -> None:
    await auth.player()
    session = await auth.uc.login("player@example.com", PASSWORD)
    auth.clock.advance(TOKENS.refresh_ttl)
    await fails(Unauthenticated, "REFRESH_TOKEN_EXPIRED", auth.uc.refresh(session.refresh_token))


async def test_refreshed_access_token_carries_the_accounts_current_role(auth: Auth) -> None:
    player = await auth.player()
    session = await auth.uc.login("player@example.com", PASSWORD)
    assert auth.role_in(session) is Role.USER
    await auth.uc.set_user_role(ADMIN, player.id, Role.OPERATOR)
    refreshed = await auth.uc.refresh(session.refresh_token)
    assert auth.role_in(refreshed) is Role.OPERATOR
    assert refreshed.user.role is Role.OPERATOR


# --- logout ---------------------------------------------------------------------------


async def test_logout_ends_the_session_so_its_refresh_token_no_longer_works(auth: Auth) -> None:
    player = await auth.player()
    first = await auth.uc.login("player@example.com", PASSWORD)
    second = await auth.uc.refresh(first.refresh_token)
    await auth.uc.logout(auth.principal(player), second.refresh_token)
    await fails(Unauthenticated, "REFRESH_TOKEN_REVOKED", auth.uc.refresh(second.refresh_token))


async def test_logout_leaves_the_accounts_other_sessions_signed_in(auth: Auth) -> None:
    player = await auth.player()
    phone = await auth.uc.login("player@example.com", PASSWORD)
    laptop = await auth.uc.login("player@example.com", PASSWORD)
    await auth.uc.logout(auth.principal(player), phone.refresh_token)
    assert (await auth.uc.refresh(laptop.refresh_token)).user.id == player.id


async def test_nobody_can_log_out_someone_elses_session(auth: Auth) -> None:
    await auth.player("victim@example.com")
    attacker = await auth.player("attacker@example.com")
    victim_session = await auth.uc.login("victim@example.com", PASSWORD)

    error = await fails(
        InvalidArgument,
        "INVALID_ARGUMENT",
        auth.uc.logout(auth.principal(attacker), victim_session.refresh_token),
    )
    assert [v.field for v in error.violations] == ["refresh_token"]
    assert (await auth.uc.refresh(victim_session.refresh_token)).user.email == (
        "victim@example.com"
    )


async def test_logout_with_an_unknown_refresh_token_is_refused(auth: Auth) -> None:
    player = await auth.player()
    await fails(
        InvalidArgument, "INVALID_ARGUMENT", auth.uc.logout(auth.principal(player), "rt_nope")
    )


# --- users and roles ------------------------------------------------------------------


async def test_admin_changes_a_role_and_the_change_is_audited(auth: Auth) -> None:
    player = await auth.player()
    changed = await auth.uc.set_user_role(ADMIN, player.id, Role.AUDITOR)
    assert changed.role is Role.AUDITOR
    assert (await auth.uc.get_user(player.id)).role is Role.AUDITOR
    (audit,) = auth.outbox.on(SUBJECT_AUDIT_AUTH)
    assert audit["actor_id"] == ADMIN.subject
    assert audit["actor_role"] == "ADMIN"
    assert audit["action"] == "user.set_role"
    assert audit["target"] == f"user/{player.id}"
    assert audit["changes"] == {"role": ["USER", "AUDITOR"]}


@pytest.mark.parametrize("role", [Role.GAME_SERVER, None])
async def test_a_human_cannot_be_given_a_non_human_or_missing_role(
    auth: Auth, role: Role | None
) -> None:
    player = await auth.player()
    error = await fails(
        InvalidArgument, "INVALID_ARGUMENT", auth.uc.set_user_role(ADMIN, player.id, role)
    )
    assert [v.field for v in error.violations] == ["role"]
    assert (await auth.uc.get_user(player.id)).role is Role.USER
    assert auth.outbox.on(SUBJECT_AUDIT_AUTH) == []


async def test_setting_the_role_of_an_unknown_user_is_not_found(auth: Auth) -> None:
    await fails(NotFound, "USER_NOT_FOUND", auth.uc.set_user_role(ADMIN, "usr_ghost", Role.ADMIN))
    assert auth.outbox.on(SUBJECT_AUDIT_AUTH) == []


async def test_get_user_of_an_unknown_id_is_not_found(auth: Auth) -> None:
    await fails(NotFound, "USER_NOT_FOUND", auth.uc.get_user("usr_ghost"))


async def test_users_are_listed_oldest_first_page_by_page_without_gaps_or_repeats(
    auth: Auth,
) -> None:
    registered = []
    for n in range(5):
        registered.append(await auth.player(f"p{n}@example.com"))
        auth.clock.advance(timedelta(seconds=1))

    seen: list[User] = []
    token = ""
    pages = 0
    while True:
        page = await auth.uc.list_users(page_request(2, token))
        pages += 1
        assert len(page.items) <= 2
        seen.extend(page.items)
        token = page.next_page_token
        if not token:
            break
    assert seen == registered
    assert pages == 3


async def test_an_exactly_full_last_page_has_no_next_page_token(auth: Auth) -> None:
    for n in range(4):
        await auth.player(f"p{n}@example.com")
    first = await auth.uc.list_users(page_request(2, ""))
    second = await auth.uc.list_users(page_request(2, first.next_page_token))
    assert len(second.items) == 2
    assert second.next_page_token == ""
    assert (await auth.uc.list_users(page_request(0, ""))).next_page_token == ""


async def test_users_created_in_the_same_instant_are_paged_by_id(auth: Auth) -> None:
    for n in range(5):
        await auth.player(f"p{n}@example.com")  # the fake clock does not move
    seen: list[str] = []
    token = ""
    while True:
        page = await auth.uc.list_users(page_request(1, token))
        seen.extend(u.id for u in page.items)
        if not (token := page.next_page_token):
            break
    assert seen == sorted(auth.users.by_key)


# --- bootstrap admin ------------------------------------------------------------------


async def test_bootstrap_admin_is_created_once_and_never_overwritten(auth: Auth) -> None:
    assert await auth.uc.ensure_admin("Admin@RewardMesh.local", "first-password")
    assert not await auth.uc.ensure_admin("admin@rewardmesh.local", "second-password")
    (admin,) = auth.users.by_key.values()
    assert admin.role is Role.ADMIN
    assert admin.email == "admin@rewardmesh.local"
    assert (await auth.uc.login("admin@rewardmesh.local", "first-password")).user.id == admin.id
    await fails(
        Unauthenticated,
        "INVALID_CREDENTIALS",
        auth.uc.login("admin@rewardmesh.local", "second-password"),
    )


async def test_bootstrap_admin_keeps_an_existing_accounts_role(auth: Auth) -> None:
    await auth.uc.register("admin@rewardmesh.local", PASSWORD)
    assert not await auth.uc.ensure_admin("admin@rewardmesh.local", "another-password")
    assert (await auth.users.by_email("admin@rewardmesh.local")) is not None
    assert (await auth.uc.login("admin@rewardmesh.local", PASSWORD)).user.role is Role.USER


# --- service accounts -----------------------------------------------------------------


async def test_service_account_secret_buys_a_game_server_token(auth: Auth) -> None:
    issued = await auth.uc.create_service_account(ADMIN, "  shard-1 ")
    assert issued.account.name == "shard-1"
    assert issued.account.created_by == ADMIN.subject
    assert issued.secret not in issued.account.secret_hash
    token, expires_in = await auth.uc.issue_service_token(issued.account.id, issued.secret)
    assert expires_in == 5 * 60
    signed = auth.signer.issued[token]
    assert (signed.subject, signed.role, signed.ttl) == (
        issued.account.id,
        Role.GAME_SERVER,
        TOKENS.service_ttl,
    )
    (audit,) = auth.outbox.on(SUBJECT_AUDIT_AUTH)
    assert audit["action"] == "service_account.create"


async def test_wrong_or_missing_client_credentials_are_refused_alike(auth: Auth) -> None:
    issued = await auth.uc.create_service_account(ADMIN, "shard-1")
    attempts = [
        (issued.account.id, "gss_wrong"),
        (issued.account.id, ""),
        ("sa_unknown", issued.secret),
        ("", issued.secret),
    ]
    messages = set()
    for client_id, secret in attempts:
        error = await fails(
            Unauthenticated, "INVALID_CLIENT", auth.uc.issue_service_token(client_id, secret)
        )
        messages.add(error.message)
    assert len(messages) == 1
    assert auth.signer.issued == {}


async def test_disabled_service_account_gets_no_token(auth: Auth) -> None:
    issued = await auth.uc.create_service_account(ADMIN, "shard-1")
    disabled = await auth.uc.disable_service_account(ADMIN, issued.account.id)
    assert disabled.disabled
    await fails(
        PermissionDenied,
        "CLIENT_DISABLED",
        auth.uc.issue_service_token(issued.account.id, issued.secret),
    )


async def test_rotating_a_secret_stops_the_old_one_at_once(auth: Auth) -> None:
    issued = await auth.uc.create_service_account(ADMIN, "shard-1")
    rotated = await auth.uc.rotate_service_account_secret(ADMIN, issued.account.id)
    assert rotated.secret != issued.secret
    await fails(
        Unauthenticated,
        "INVALID_CLIENT",
        auth.uc.issue_service_token(issued.account.id, issued.secret),
    )
    token, _ = await auth.uc.issue_service_token(issued.account.id, rotated.secret)
    assert auth.signer.issued[token].role is Role.GAME_SERVER


async def test_managing_an_unknown_service_account_is_not_found(auth: Auth) -> None:
    await fails(
        NotFound, "SERVICE_ACCOUNT_NOT_FOUND", auth.uc.disable_service_account(ADMIN, "sa_x")
    )
    await fails(
        NotFound,
        "SERVICE_ACCOUNT_NOT_FOUND",
        auth.uc.rotate_service_account_secret(ADMIN, "sa_x"),
    )


async def test_service_account_name_is_validated(auth: Auth) -> None:
    error = await fails(
        InvalidArgument, "INVALID_ARGUMENT", auth.uc.create_service_account(ADMIN, "   ")
    )
    assert [v.field for v in error.violations] == ["name"]
    assert auth.accounts.by_key == {}
