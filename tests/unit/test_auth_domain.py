"""The account rules of services/auth/domain.py, on the domain alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.auth.domain import (
    HUMAN_ROLES,
    MAX_EMAIL_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    LockoutPolicy,
    Role,
    User,
    hash_opaque_secret,
    new_id,
    new_opaque_secret,
    normalize_email,
    to_millis,
    validate_registration,
    validate_service_account_name,
)
from services.common.errors import InvalidArgument

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
GOOD_PASSWORD = "correct horse"


def violated_fields(error: InvalidArgument) -> list[str]:
    return [v.field for v in error.violations]


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Player@Example.COM", "player@example.com"),
        ("  player@example.com\t\n", "player@example.com"),
        ("already@normal.io", "already@normal.io"),
    ],
)
def test_email_is_trimmed_and_lowercased(raw: str, normalized: str) -> None:
    assert normalize_email(raw) == normalized


@pytest.mark.parametrize(
    "email",
    [
        "player@example.com",
        "first.last+tag@mail.example.co.kr",
        "a@b.io",
        "admin@rewardmesh.local",
    ],
)
def test_well_formed_emails_are_accepted(email: str) -> None:
    validate_registration(email, GOOD_PASSWORD)


@pytest.mark.parametrize(
    "email",
    [
        "not-an-email",
        "player@",
        "@example.com",
        "player@localhost",  # no dot in the domain
        "player@@example.com",
        "pla yer@example.com",
        "player@-example.com",
        "player@example-.com",
        "player@example..com",
        "a" * (MAX_EMAIL_LENGTH - len("@example.com") + 1) + "@example.com",
    ],
)
def test_malformed_emails_are_rejected_as_an_email_violation(email: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_registration(email, GOOD_PASSWORD)
    assert violated_fields(caught.value) == ["email"]
    assert caught.value.reason == "INVALID_ARGUMENT"


def test_email_of_exactly_the_maximum_length_is_accepted() -> None:
    email = "a" * (MAX_EMAIL_LENGTH - len("@example.com")) + "@example.com"
    assert len(email) == MAX_EMAIL_LENGTH
    validate_registration(email, GOOD_PASSWORD)


def test_missing_email_is_reported_as_required() -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_registration("", GOOD_PASSWORD)
    assert [(v.field, v.description) for v in caught.value.violations] == [("email", "is required")]


@pytest.mark.parametrize(
    "length", [MIN_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH + 1, 64, MAX_PASSWORD_LENGTH]
)
def test_passwords_within_the_length_bounds_are_accepted(length: int) -> None:
    validate_registration("player@example.com", "p" * length)


@pytest.mark.parametrize(
    ("length", "bound"),
    [
        (0, "at least"),
        (MIN_PASSWORD_LENGTH - 1, "at least"),
        (MAX_PASSWORD_LENGTH + 1, "at most"),
        (10 * MAX_PASSWORD_LENGTH, "at most"),
    ],
)
def test_passwords_outside_the_length_bounds_are_rejected(length: int, bound: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_registration("player@example.com", "p" * length)
    (violation,) = caught.value.violations
    assert violation.field == "password"
    assert bound in violation.description


def test_every_problem_of_a_registration_is_reported_at_once() -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_registration("nope", "short")
    assert violated_fields(caught.value) == ["email", "password"]
    assert "email" in caught.value.message
    assert "password" in caught.value.message


def test_lockout_policy_locks_at_the_configured_number_of_failures() -> None:
    policy = LockoutPolicy(max_failures=3, duration=timedelta(seconds=2))
    assert [policy.should_lock(n) for n in range(5)] == [False, False, False, True, True]


def test_default_lockout_policy_is_five_failures_for_fifteen_minutes() -> None:
    policy = LockoutPolicy()
    assert not policy.should_lock(4)
    assert policy.should_lock(5)
    assert policy.duration == timedelta(minutes=15)


def user(locked_until: datetime | None) -> User:
    return User(
        id="usr_1",
        email="player@example.com",
        role=Role.USER,
        password_hash="hash",
        created_at=NOW,
        locked_until=locked_until,
    )


def test_account_is_locked_only_before_its_lock_expires() -> None:
    until = NOW + timedelta(seconds=2)
    locked = user(locked_until=until)
    assert locked.locked_at(NOW)
    assert locked.locked_at(until - timedelta(microseconds=1))
    assert not locked.locked_at(until)
    assert not locked.locked_at(until + timedelta(seconds=1))


def test_account_without_a_lock_is_never_locked() -> None:
    assert not user(locked_until=None).locked_at(NOW)


def test_game_server_is_not_a_human_role() -> None:
    assert Role.GAME_SERVER not in HUMAN_ROLES
    assert {Role.USER, Role.OPERATOR, Role.AUDITOR, Role.ADMIN} == HUMAN_ROLES


def test_service_account_name_is_trimmed() -> None:
    assert validate_service_account_name("  game-server-1 ") == "game-server-1"


@pytest.mark.parametrize("name", ["", "   ", "x" * (MAX_NAME_LENGTH + 1)])
def test_blank_or_overlong_service_account_names_are_rejected(name: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_service_account_name(name)
    assert violated_fields(caught.value) == ["name"]


def test_ids_and_secrets_carry_their_prefix_and_never_repeat() -> None:
    ids = {new_id("usr") for _ in range(100)}
    secrets = {new_opaque_secret("rt") for _ in range(100)}
    assert len(ids) == 100
    assert len(secrets) == 100
    assert all(i.startswith("usr_") for i in ids)
    assert all(s.startswith("rt_") and len(s) > 40 for s in secrets)


def test_opaque_secrets_are_stored_as_a_stable_hash_not_in_clear() -> None:
    secret = new_opaque_secret("rt")
    assert hash_opaque_secret(secret) == hash_opaque_secret(secret)
    assert hash_opaque_secret(secret) != hash_opaque_secret(secret + "x")
    assert secret not in hash_opaque_secret(secret)
    assert len(hash_opaque_secret(secret)) == 64


def test_times_are_truncated_to_whole_milliseconds() -> None:
    assert to_millis(NOW.replace(microsecond=123_999)) == NOW.replace(microsecond=123_000)
    assert to_millis(NOW) == NOW
