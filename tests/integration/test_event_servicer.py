"""The event service over real gRPC, in-process: conversion, error details, access control.

Tokens come from a real auth keyring whose JWKS is served over HTTP, exactly as the
service fetches it in production. No gateway: these are the direct calls game servers
make, and what anyone bypassing Envoy would get.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2
from grpc_status import rpc_status
from rewardmesh.event.v1 import event_pb2, event_pb2_grpc

from services.auth.crypto import Keyring
from services.auth.domain import Role
from services.auth.jwks_http import JWKS_PATH, JwksServer
from services.common.access import policies
from services.event.bootstrap import SERVICE_NAME, EventApp, start
from services.event.settings import EventSettings
from tests.conftest import MONGODB_URL, database_prefix
from tests.helpers import grpc_error_reason
from tools.mesh import free_port

M = TypeVar("M", bound=Message)
Metadata = tuple[tuple[str, str], ...]

EVENT_METHODS = {
    path: policy for path, policy in policies().items() if path.startswith(f"/{SERVICE_NAME}/")
}


@dataclass
class Service:
    app: EventApp
    stub: event_pb2_grpc.EventServiceAsyncStub
    channel: grpc.aio.Channel
    keyring: Keyring

    def caller(self, role: Role, subject: str | None = None) -> Metadata:
        subject = subject or f"{role.value.lower()}-{secrets.token_hex(4)}"
        token = self.keyring.access_token(subject, role, timedelta(minutes=10))
        return (("authorization", f"Bearer {token}"),)


@pytest.fixture(scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Service]:
    settings = EventSettings(
        event_grpc_port=0,
        bind_host="127.0.0.1",
        mongodb_url=MONGODB_URL,
        mongodb_database_prefix=database_prefix(),
        # Nothing listens there: the consumers keep retrying in the background, unused here.
        nats_url=f"nats://127.0.0.1:{free_port()}",
        shutdown_grace_seconds=0,
    )
    key_file: Path = tmp_path_factory.mktemp("keys") / "signing.pem"
    keyring = Keyring.load(key_file, [], issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    jwks = JwksServer(keyring.jwks)
    jwks_port = await jwks.start("127.0.0.1", 0)
    settings = settings.model_copy(
        update={"auth_jwks_url": f"http://127.0.0.1:{jwks_port}{JWKS_PATH}"}
    )
    app = await start(settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc.port}")
    try:
        yield Service(app, event_pb2_grpc.EventServiceStub(channel), channel, keyring)
    finally:
        await channel.close()
        if not app.store.embedded:
            await app.store.client.drop_database(f"{settings.mongodb_database_prefix}event")
        await app.stop()
        await jwks.stop()


def timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def event_request(**changes: Any) -> event_pb2.CreateEventRequest:
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "title": "Log in once",
        "description": "Welcome event",
        "condition": event_pb2.Condition(type=event_pb2.CONDITION_TYPE_LOGIN_COUNT, target=1),
        "starts_at": timestamp(now - timedelta(hours=1)),
        "ends_at": timestamp(now + timedelta(days=7)),
        "rewards": [
            event_pb2.Reward(name="Gold", type=event_pb2.REWARD_TYPE_CURRENCY, amount=100),
            event_pb2.Reward(name="Elixir", type=event_pb2.REWARD_TYPE_ITEM, amount=5),
        ],
    }
    fields.update(changes)
    return event_pb2.CreateEventRequest(**fields)


async def create_event(service: Service, **changes: Any) -> event_pb2.Event:
    response = await service.stub.CreateEvent(
        event_request(**changes), metadata=service.caller(Role.OPERATOR, "operator-1")
    )
    return response.event


async def completed_by(service: Service, player: str, **changes: Any) -> event_pb2.Event:
    """A login event the player has logged in for (via the login consumer's use case)
    and completed."""
    event = await create_event(service, **changes)
    await service.app.use_cases.record_login(
        player, datetime.now(UTC), f"login-{secrets.token_hex(6)}"
    )
    await service.stub.CompleteEvent(
        event_pb2.CompleteEventRequest(event_id=event.id),
        metadata=service.caller(Role.USER, player),
    )
    return event


def new_player() -> str:
    return f"player-{secrets.token_hex(4)}"


def new_request_id() -> str:
    return f"req-{secrets.token_hex(8)}"


def detail(error: grpc.aio.AioRpcError, kind: type[M]) -> M:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "no google.rpc.Status in the trailers"
    for any_detail in status.details:
        if any_detail.Is(kind.DESCRIPTOR):
            message = kind()
            any_detail.Unpack(message)
            return message
    raise AssertionError(f"no {kind.DESCRIPTOR.name} in the error details")


def violated_fields(error: grpc.aio.AioRpcError) -> set[str]:
    return {v.field for v in detail(error, error_details_pb2.BadRequest).field_violations}


async def rpc_error(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call
    return error.value


# --- the story ---------------------------------------------------------------------------


async def test_service_reports_serving_on_the_health_service(service: Service) -> None:
    check = service.channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )

    for name in ("", SERVICE_NAME):
        response = await check(health_pb2.HealthCheckRequest(service=name))
        assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_operator_creates_an_event_and_a_player_completes_and_claims_it(
    service: Service,
) -> None:
    stub, player = service.stub, new_player()
    as_player = service.caller(Role.USER, player)
    ends_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)

    event = await create_event(service, ends_at=timestamp(ends_at))
    assert event.id.startswith("evt_")
    assert (event.status, event.timezone, event.created_by) == (
        event_pb2.EVENT_STATUS_ACTIVE,
        "UTC",
        "operator-1",
    )
    assert event.claim_deadline.ToDatetime(UTC) == ends_at + timedelta(days=7)
    assert [(r.name, r.amount) for r in event.rewards] == [("Gold", 100), ("Elixir", 5)]
    gold = event.rewards[0].id

    seen = await stub.GetEvent(event_pb2.GetEventRequest(event_id=event.id), metadata=as_player)
    assert seen.event == event

    _, before = await service.app.use_cases.get_progress(event.id, player)
    assert not before.exists
    changed = await service.app.use_cases.record_login(player, datetime.now(UTC), "login-1")
    assert changed >= 1
    progress = (
        await stub.GetMyProgress(
            event_pb2.GetMyProgressRequest(event_id=event.id), metadata=as_player
        )
    ).progress
    assert (progress.login_count, progress.login_days, progress.current_streak) == (1, 1, 1)
    assert progress.status == event_pb2.PROGRESS_STATUS_IN_PROGRESS
    assert not progress.HasField("completed_at")

    done = (
        await stub.CompleteEvent(
            event_pb2.CompleteEventRequest(event_id=event.id), metadata=as_player
        )
    ).progress
    assert done.status == event_pb2.PROGRESS_STATUS_COMPLETED
    assert done.HasField("completed_at")

    part = (
        await stub.ClaimReward(
            event_pb2.ClaimRewardRequest(
                event_id=event.id, reward_id=gold, request_id="claim-part-1", amount=30
            ),
            metadata=as_player,
        )
    ).claim
    rest = (
        await stub.ClaimReward(
            event_pb2.ClaimRewardRequest(
                event_id=event.id, reward_id=gold, request_id="claim-rest-1"
            ),
            metadata=as_player,
        )
    ).claim
    assert (part.status, part.amount, part.remaining, part.reward_name, part.user_id) == (
        event_pb2.CLAIM_STATUS_SUCCEEDED,
        30,
        70,
        "Gold",
        player,
    )
    assert (rest.amount, rest.remaining, rest.failure_reason) == (70, 0, "")

    final = (
        await stub.GetMyProgress(
            event_pb2.GetMyProgressRequest(event_id=event.id), metadata=as_player
        )
    ).progress
    assert [(r.name, r.amount, r.claimed, r.remaining) for r in final.rewards] == [
        ("Gold", 100, 100, 0),
        ("Elixir", 5, 0, 5),
    ]
    mine = await stub.ListMyClaims(
        event_pb2.ListMyClaimsRequest(event_id=event.id), metadata=as_player
    )
    assert [c.request_id for c in mine.claims] == ["claim-rest-1", "claim-part-1"]

    as_operator = service.caller(Role.OPERATOR)
    stats = (
        await stub.GetEventStats(
            event_pb2.GetEventStatsRequest(event_id=event.id), metadata=as_operator
        )
    ).stats
    assert (stats.participants, stats.completed) == (1, 1)
    assert [
        (r.name, r.amount_per_player, r.total_claimed, r.claim_count, r.claimants)
        for r in stats.rewards
    ] == [("Gold", 100, 100, 2, 1), ("Elixir", 5, 0, 0, 0)]
    listed = await stub.ListClaims(
        event_pb2.ListClaimsRequest(user_id=player, status=event_pb2.CLAIM_STATUS_SUCCEEDED),
        metadata=service.caller(Role.AUDITOR),
    )
    assert list(listed.claims) == list(mine.claims)


async def test_operator_updates_an_event_adds_a_reward_and_the_audit_log_shows_both(
    service: Service,
) -> None:
    stub, operator = service.stub, f"operator-{secrets.token_hex(4)}"
    as_operator = service.caller(Role.OPERATOR, operator)
    event = await create_event(service)

    updated = (
        await stub.UpdateEvent(
            event_pb2.UpdateEventRequest(
                event_id=event.id, title="Renamed", status=event_pb2.EVENT_STATUS_INACTIVE
            ),
            metadata=as_operator,
        )
    ).event
    reward = (
        await stub.AddReward(
            event_pb2.AddRewardRequest(
                event_id=event.id, name="Coupon", type=event_pb2.REWARD_TYPE_COUPON, amount=1
            ),
            metadata=as_operator,
        )
    ).reward

    assert (updated.title, updated.status, updated.description) == (
        "Renamed",
        event_pb2.EVENT_STATUS_INACTIVE,
        event.description,
    )
    assert (reward.name, reward.type, reward.amount) == ("Coupon", event_pb2.REWARD_TYPE_COUPON, 1)
    inactive = await stub.ListEvents(
        event_pb2.ListEventsRequest(status=event_pb2.EVENT_STATUS_INACTIVE, page_size=100),
        metadata=service.caller(Role.USER),
    )
    assert event.id in {e.id for e in inactive.events}
    audit = (
        await stub.ListAuditLogs(
            event_pb2.ListAuditLogsRequest(actor_id=operator),
            metadata=service.caller(Role.AUDITOR),
        )
    ).audit_logs
    by_action = {a.action: a for a in audit}
    assert len(audit) == len(by_action) == 2
    for action in ("event.update", "event.add_reward"):
        entry = by_action[action]
        assert (entry.actor_role, entry.target, entry.service) == (
            "OPERATOR",
            f"event/{event.id}",
            "event",
        )
    assert MessageToDict(by_action["event.update"].changes)["title"] == [event.title, "Renamed"]
    assert MessageToDict(by_action["event.add_reward"].changes)["reward"] == {
        "id": reward.id,
        "name": "Coupon",
        "type": "COUPON",
        "amount": 1,
    }


async def test_a_game_server_reports_activity_and_reads_player_progress(service: Service) -> None:
    player = new_player()
    as_game = service.caller(Role.GAME_SERVER, "game-1")
    event = await create_event(
        service,
        condition=event_pb2.Condition(
            type=event_pb2.CONDITION_TYPE_ACTIVITY_COUNT, target=10, activity="boss_kill"
        ),
    )
    report = event_pb2.RecordActivityRequest(
        user_id=player, activity="boss_kill", amount=4, idempotency_key="boss-kill-0001"
    )

    await service.stub.RecordActivity(report, metadata=as_game)
    await service.stub.RecordActivity(report, metadata=as_game)
    progress = (
        await service.stub.GetPlayerProgress(
            event_pb2.GetPlayerProgressRequest(user_id=player, event_id=event.id),
            metadata=as_game,
        )
    ).progress

    assert (progress.user_id, progress.activity_total) == (player, 4)


# --- errors ------------------------------------------------------------------------------


async def test_invalid_event_reports_every_field_violation(service: Service) -> None:
    error = await rpc_error(
        service.stub.CreateEvent(
            event_request(
                title="",
                ends_at=timestamp(datetime.now(UTC) - timedelta(days=1)),
                timezone="Nowhere/Land",
                rewards=[event_pb2.Reward(name="Gold", amount=0)],
            ),
            metadata=service.caller(Role.OPERATOR),
        )
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert grpc_error_reason(error) == "INVALID_ARGUMENT"
    assert detail(error, error_details_pb2.ErrorInfo).domain == "rewardmesh.event"
    assert violated_fields(error) == {
        "title",
        "ends_at",
        "timezone",
        "rewards[0].type",
        "rewards[0].amount",
    }


@pytest.mark.parametrize(
    ("request_message", "fields"),
    [
        (event_pb2.UpdateEventRequest(), {"event"}),
        (event_pb2.UpdateEventRequest(status=event_pb2.EVENT_STATUS_UNSPECIFIED), {"status"}),
        (event_pb2.UpdateEventRequest(condition=event_pb2.Condition(target=3)), {"condition.type"}),
        (event_pb2.UpdateEventRequest(timezone="Mars/Base"), {"timezone"}),
    ],
)
async def test_invalid_updates_name_the_field(
    service: Service, request_message: event_pb2.UpdateEventRequest, fields: set[str]
) -> None:
    event = await create_event(service)
    request_message.event_id = event.id

    error = await rpc_error(
        service.stub.UpdateEvent(request_message, metadata=service.caller(Role.OPERATOR))
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == fields


async def test_unknown_event_is_not_found(service: Service) -> None:
    error = await rpc_error(
        service.stub.GetEvent(
            event_pb2.GetEventRequest(event_id="evt_missing"), metadata=service.caller(Role.USER)
        )
    )

    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert grpc_error_reason(error) == "EVENT_NOT_FOUND"


@pytest.mark.parametrize(
    ("page_size", "page_token", "field"),
    [(-1, "", "page_size"), (10, "garbage!", "page_token"), (10, "WyJ4Il0=", "page_token")],
)
async def test_bad_paging_is_an_invalid_argument(
    service: Service, page_size: int, page_token: str, field: str
) -> None:
    error = await rpc_error(
        service.stub.ListEvents(
            event_pb2.ListEventsRequest(page_size=page_size, page_token=page_token),
            metadata=service.caller(Role.USER),
        )
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == {field}


async def test_list_events_pages_with_next_page_token(service: Service) -> None:
    created = {(await create_event(service)).id for _ in range(3)}
    as_user, seen, token = service.caller(Role.USER), [], ""
    while True:
        page = await service.stub.ListEvents(
            event_pb2.ListEventsRequest(page_size=2, page_token=token), metadata=as_user
        )
        assert len(page.events) <= 2
        seen += [e.id for e in page.events]
        token = page.next_page_token
        if not token:
            break

    assert len(seen) == len(set(seen))
    assert created <= set(seen)


async def test_completing_too_early_reports_progress_in_the_error(service: Service) -> None:
    event = await create_event(
        service, condition=event_pb2.Condition(type=event_pb2.CONDITION_TYPE_LOGIN_DAYS, target=3)
    )

    error = await rpc_error(
        service.stub.CompleteEvent(
            event_pb2.CompleteEventRequest(event_id=event.id),
            metadata=service.caller(Role.USER),
        )
    )

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = detail(error, error_details_pb2.ErrorInfo)
    assert info.reason == "CONDITION_NOT_MET"
    assert dict(info.metadata) == {"condition": "LOGIN_DAYS", "current": "0", "target": "3"}


async def test_claim_errors_carry_their_reason(service: Service) -> None:
    player = new_player()
    as_player = service.caller(Role.USER, player)
    event = await completed_by(service, player)
    pending = await create_event(
        service, condition=event_pb2.Condition(type=event_pb2.CONDITION_TYPE_LOGIN_COUNT, target=9)
    )
    gold = event.rewards[0].id
    await service.stub.ClaimReward(
        event_pb2.ClaimRewardRequest(
            event_id=event.id, reward_id=gold, request_id="claim-first-1", amount=10
        ),
        metadata=as_player,
    )

    cases = [
        (
            event_pb2.ClaimRewardRequest(event_id=event.id, reward_id=gold, request_id="short"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        (
            event_pb2.ClaimRewardRequest(
                event_id=event.id, reward_id=gold, request_id="claim-first-1", amount=11
            ),
            grpc.StatusCode.ALREADY_EXISTS,
            "REQUEST_ID_REUSED",
        ),
        (
            event_pb2.ClaimRewardRequest(
                event_id=event.id, reward_id="rwd_missing", request_id=new_request_id()
            ),
            grpc.StatusCode.NOT_FOUND,
            "REWARD_NOT_FOUND",
        ),
        (
            event_pb2.ClaimRewardRequest(
                event_id="evt_missing", reward_id=gold, request_id=new_request_id()
            ),
            grpc.StatusCode.NOT_FOUND,
            "EVENT_NOT_FOUND",
        ),
        (
            event_pb2.ClaimRewardRequest(
                event_id=pending.id, reward_id=pending.rewards[0].id, request_id=new_request_id()
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
            "NOT_COMPLETED",
        ),
        (
            event_pb2.ClaimRewardRequest(
                event_id=event.id, reward_id=gold, request_id=new_request_id(), amount=91
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
            "INSUFFICIENT_REMAINING",
        ),
    ]
    for request, code, reason in cases:
        error = await rpc_error(service.stub.ClaimReward(request, metadata=as_player))
        assert (error.code(), grpc_error_reason(error)) == (code, reason), request


async def test_a_replayed_invalid_amount_keeps_its_bad_request_details(service: Service) -> None:
    player = new_player()
    as_player = service.caller(Role.USER, player)
    event = await completed_by(service, player)
    request = event_pb2.ClaimRewardRequest(
        event_id=event.id, reward_id=event.rewards[0].id, request_id=new_request_id(), amount=-3
    )

    first = await rpc_error(service.stub.ClaimReward(request, metadata=as_player))
    replay = await rpc_error(service.stub.ClaimReward(request, metadata=as_player))

    for error in (first, replay):
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert grpc_error_reason(error) == "INVALID_AMOUNT"
        assert violated_fields(error) == {"amount"}
    assert replay.details() == first.details()


async def test_a_replayed_claim_returns_the_original(service: Service) -> None:
    player = new_player()
    as_player = service.caller(Role.USER, player)
    event = await completed_by(service, player)
    request = event_pb2.ClaimRewardRequest(
        event_id=event.id, reward_id=event.rewards[1].id, request_id=new_request_id(), amount=2
    )

    first = await service.stub.ClaimReward(request, metadata=as_player)
    again = await service.stub.ClaimReward(request, metadata=as_player)

    assert again == first
    assert first.claim.remaining == 3


# --- whose claims ------------------------------------------------------------------------


def with_unknown_field(message: Message, number: int, value: str) -> bytes:
    """The message's bytes plus a length-delimited field the schema does not know."""
    encoded = value.encode()
    tag = (number << 3) | 2
    varint = bytearray()
    for part in (tag, len(encoded)):
        while part > 0x7F:
            varint.append(part & 0x7F | 0x80)
            part >>= 7
        varint.append(part)
    return message.SerializeToString() + bytes(varint) + encoded


async def test_list_my_claims_returns_only_the_callers_claims(service: Service) -> None:
    alice, bob = new_player(), new_player()
    event = await completed_by(service, alice)
    await service.app.use_cases.record_login(bob, datetime.now(UTC), f"login-{bob}")
    await service.stub.CompleteEvent(
        event_pb2.CompleteEventRequest(event_id=event.id), metadata=service.caller(Role.USER, bob)
    )
    for player, request_id in ((alice, "alice-claim-1"), (bob, "bob-claim-1")):
        await service.stub.ClaimReward(
            event_pb2.ClaimRewardRequest(
                event_id=event.id, reward_id=event.rewards[0].id, request_id=request_id, amount=1
            ),
            metadata=service.caller(Role.USER, player),
        )
    list_my_claims = service.channel.unary_unary(
        f"/{SERVICE_NAME}/ListMyClaims",
        request_serializer=lambda raw: raw,
        response_deserializer=event_pb2.ListMyClaimsResponse.FromString,
    )
    # What a caller might try: the gateway's identity headers, a user_id field unknown to
    # ListMyClaimsRequest (number 1 of ListClaimsRequest, 100 here), and admin claims.
    spoofing: Metadata = (("x-user-id", bob), ("x-user-role", "ADMIN"))
    request = with_unknown_field(event_pb2.ListMyClaimsRequest(event_id=event.id), 100, bob)

    as_alice = await list_my_claims(request, metadata=service.caller(Role.USER, alice) + spoofing)
    as_admin = await list_my_claims(request, metadata=service.caller(Role.ADMIN, "admin-1"))

    assert [(c.request_id, c.user_id) for c in as_alice.claims] == [("alice-claim-1", alice)]
    assert list(as_admin.claims) == []


# --- authentication and authorization ----------------------------------------------------


def call(service: Service, path: str, metadata: Sequence[tuple[str, str]] | None) -> Any:
    """Calls any method with an empty request; the answer is decided before the handler."""
    method = service.channel.unary_unary(
        path, request_serializer=lambda raw: raw, response_deserializer=lambda raw: raw
    )
    return method(b"", metadata=metadata)


@pytest.mark.parametrize("path", sorted(EVENT_METHODS))
async def test_every_method_needs_a_token(service: Service, path: str) -> None:
    error = await rpc_error(call(service, path, None))

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert grpc_error_reason(error) == "TOKEN_MISSING"


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        ("Bearer not-a-jwt", "TOKEN_MALFORMED"),
        ("Basic dXNlcjpwYXNz", "TOKEN_MALFORMED"),
        ("expired", "TOKEN_EXPIRED"),
        ("foreign", "TOKEN_UNKNOWN_KEY"),
    ],
)
async def test_bad_tokens_are_unauthenticated(
    service: Service, tmp_path: Path, authorization: str, reason: str
) -> None:
    if authorization == "expired":
        token = service.keyring.access_token("player-1", Role.USER, timedelta(seconds=-1))
        authorization = f"Bearer {token}"
    elif authorization == "foreign":
        other = Keyring.load(
            tmp_path / "other.pem", [], issuer="rewardmesh-auth", audience="rewardmesh"
        )
        authorization = f"Bearer {other.access_token('player-1', Role.ADMIN, timedelta(1))}"

    error = await rpc_error(
        service.stub.ListEvents(
            event_pb2.ListEventsRequest(), metadata=(("authorization", authorization),)
        )
    )

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert grpc_error_reason(error) == reason


@pytest.mark.parametrize(
    ("path", "role"),
    [
        (path, role)
        for path, policy in sorted(EVENT_METHODS.items())
        for role in Role
        if not policy.allows(role.value)
    ],
)
async def test_roles_outside_the_methods_policy_are_denied(
    service: Service, path: str, role: Role
) -> None:
    error = await rpc_error(call(service, path, service.caller(role)))

    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert grpc_error_reason(error) == "ROLE_NOT_ALLOWED"


async def test_dead_letters_are_listed_for_admins_and_unknown_ones_are_not_found(
    service: Service,
) -> None:
    as_admin = service.caller(Role.ADMIN)

    listed = await service.stub.ListDeadLetters(
        event_pb2.ListDeadLettersRequest(), metadata=as_admin
    )
    error = await rpc_error(
        service.stub.ReplayDeadLetter(
            event_pb2.ReplayDeadLetterRequest(dead_letter_id="AUTH-999999"), metadata=as_admin
        )
    )

    assert list(listed.dead_letters) == []
    assert listed.next_page_token == ""
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert grpc_error_reason(error) == "DEAD_LETTER_NOT_FOUND"
