"""Revocation: a disabled service account's unexpired token is refused by the verifier
(fed by the auth service's message in the event service, by the store in the auth
service), and disabling announces it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from services.auth.crypto import Keyring
from services.auth.domain import LockoutPolicy, Role
from services.auth.use_cases import AuthUseCases, TokenPolicy
from services.common.errors import Unauthenticated
from services.common.identity import Principal
from services.common.subjects import SUBJECT_SERVICE_ACCOUNT_DISABLED
from services.common.tokens import Revocations, TokenVerifier
from tests.unit.auth_fakes import (
    FakeClock,
    FakeHasher,
    FakeOutbox,
    FakeServiceAccounts,
    FakeSessions,
    FakeSigner,
    FakeUsers,
)

ISSUER, AUDIENCE = "rewardmesh-auth", "rewardmesh"
TTL = timedelta(minutes=5)
ADMIN = Principal("usr_admin", "ADMIN")


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring.load(tmp_path / "signing-key.pem", [], issuer=ISSUER, audience=AUDIENCE)


async def refused_reason(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as refused:
        await verifier.verify(token)
    return refused.value.reason


async def test_a_revoked_subjects_valid_token_is_refused_as_revoked(keyring: Keyring) -> None:
    revocations = Revocations()
    verifier = TokenVerifier(keyring, issuer=ISSUER, audience=AUDIENCE, revocations=revocations)
    token = keyring.access_token("sa_1", Role.GAME_SERVER, TTL)
    other = keyring.access_token("sa_2", Role.GAME_SERVER, TTL)
    assert await verifier.verify(token) == Principal("sa_1", "GAME_SERVER")  # now cached

    revocations.revoke("sa_1")

    assert await refused_reason(verifier, token) == "TOKEN_REVOKED"
    assert await verifier.verify(other) == Principal("sa_2", "GAME_SERVER")


async def test_a_token_issued_after_the_revocation_is_refused_too(keyring: Keyring) -> None:
    revocations = Revocations()
    revocations.revoke("sa_1")
    verifier = TokenVerifier(keyring, issuer=ISSUER, audience=AUDIENCE, revocations=revocations)
    token = keyring.access_token("sa_1", Role.GAME_SERVER, TTL)
    assert await refused_reason(verifier, token) == "TOKEN_REVOKED"


async def test_a_bad_signature_is_reported_as_such_even_for_a_revoked_subject(
    keyring: Keyring,
) -> None:
    revocations = Revocations()
    revocations.revoke("sa_1")
    verifier = TokenVerifier(keyring, issuer=ISSUER, audience=AUDIENCE, revocations=revocations)
    header, payload, _ = keyring.access_token("sa_1", Role.GAME_SERVER, TTL).split(".")
    *_, signature = keyring.access_token("sa_2", Role.GAME_SERVER, TTL).split(".")
    forged = f"{header}.{payload}.{signature}"
    assert await refused_reason(verifier, forged) == "TOKEN_INVALID"


def auth_use_cases(accounts: FakeServiceAccounts, outbox: FakeOutbox) -> AuthUseCases:
    return AuthUseCases(
        users=FakeUsers(),
        sessions=FakeSessions(),
        service_accounts=accounts,
        outbox=outbox,
        hasher=FakeHasher(),
        signer=FakeSigner(),
        clock=FakeClock(),
        lockout=LockoutPolicy(max_failures=3, duration=timedelta(minutes=10)),
        tokens=TokenPolicy(),
    )


async def test_disabling_a_service_account_announces_it_and_revokes_its_tokens_in_auth() -> None:
    accounts, outbox = FakeServiceAccounts(), FakeOutbox()
    uc = auth_use_cases(accounts, outbox)
    account = (await uc.create_service_account(ADMIN, "shard-1")).account
    game_server = Principal(account.id, "GAME_SERVER")
    assert not await uc.is_revoked(game_server)

    await uc.disable_service_account(ADMIN, account.id)

    (announced,) = outbox.on(SUBJECT_SERVICE_ACCOUNT_DISABLED)
    assert announced["service_account_id"] == account.id
    assert await uc.is_revoked(game_server)
    assert await uc.is_revoked(Principal("sa_gone", "GAME_SERVER"))
    # Humans are never looked up as service accounts.
    assert not await uc.is_revoked(Principal(account.id, "ADMIN"))
