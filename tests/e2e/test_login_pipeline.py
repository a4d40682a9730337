"""Logins become progress through outbox → JetStream → consumer, never lost or doubled.

These tests stop and restart processes, so they run on a mesh of their own.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import nats
import pytest
from nats.js import JetStreamContext

from services.common.subjects import SUBJECT_LOGGED_IN
from tests.conftest import requires_mongodb, running_mesh
from tests.e2e.event_api import create_event
from tests.helpers import Account, admin, error_reason, eventually, login, new_player
from tools.mesh import Mesh

LOGIN_CONSUMER = ("AUTH", "event-logins")


@pytest.fixture(scope="module")
def pipeline_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with running_mesh(
        tmp_path_factory,
        "pipeline",
        {"CONSUMER_MAX_DELIVER": "3", "CONSUMER_BACKOFF_SECONDS": "[0.1, 0.1]"},
    ) as mesh:
        yield mesh


@pytest.fixture
async def client(pipeline_mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=pipeline_mesh.gateway_url, timeout=20) as c:
        yield c


@pytest.fixture
async def js(pipeline_mesh: Mesh) -> AsyncIterator[JetStreamContext]:
    connection = await nats.connect(f"nats://127.0.0.1:{pipeline_mesh.ports.nats}")
    yield connection.jetstream()
    await connection.close()


async def drained(
    js: JetStreamContext, stream: str = LOGIN_CONSUMER[0], consumer: str = LOGIN_CONSUMER[1]
) -> None:
    """Waits until the consumer has acked everything in its stream."""

    async def check() -> bool:
        info = await js.consumer_info(stream, consumer)
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)

    await eventually(check, within=30)


async def login_event(client: httpx.AsyncClient, mesh: Mesh, **overrides: Any) -> dict[str, Any]:
    boss = await admin(client, mesh)
    defaults: dict[str, Any] = {
        "condition": {"type": "CONDITION_TYPE_LOGIN_COUNT", "target": 3},
        "rewards": [{"name": "Elixir", "type": "REWARD_TYPE_ITEM", "amount": 1}],
    }
    return await create_event(client, boss, **(defaults | overrides))


async def progress(client: httpx.AsyncClient, player: Account, event_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/events/{event_id}/progress", headers=player.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()["progress"]
    return body


async def publish_login(
    js: JetStreamContext,
    user_id: str,
    at: datetime,
    *,
    message_id: str | None = None,
    nats_id: str | None = None,
) -> None:
    message_id = message_id or uuid.uuid4().hex
    body = {
        "message_id": message_id,
        "user_id": user_id,
        "role": "USER",
        "logged_in_at": at.isoformat(),
    }
    await js.publish(
        SUBJECT_LOGGED_IN, json.dumps(body).encode(), headers={"Nats-Msg-Id": nats_id or message_id}
    )


async def test_a_login_shows_up_in_progress(client: httpx.AsyncClient, pipeline_mesh: Mesh) -> None:
    event = await login_event(client, pipeline_mesh)
    player = await new_player(client)

    async def counted() -> bool:
        return bool((await progress(client, player, event["id"]))["login_count"] == 1)

    await eventually(counted)


async def test_the_same_login_delivered_twice_counts_once(
    client: httpx.AsyncClient, pipeline_mesh: Mesh, js: JetStreamContext
) -> None:
    event = await login_event(client, pipeline_mesh)
    player = await new_player(client)
    await drained(js)
    now = datetime.now(UTC)
    # Two copies that JetStream stores separately (different Nats-Msg-Id), same login.
    await publish_login(
        js, player.user_id, now, message_id="login-dup-1", nats_id=f"a-{secrets.token_hex(4)}"
    )
    await publish_login(
        js, player.user_id, now, message_id="login-dup-1", nats_id=f"b-{secrets.token_hex(4)}"
    )
    await drained(js)
    # The registration's own login (from new_player) plus one.
    assert (await progress(client, player, event["id"]))["login_count"] == 2


async def test_a_login_outside_the_period_does_not_count(
    client: httpx.AsyncClient, pipeline_mesh: Mesh, js: JetStreamContext
) -> None:
    now = datetime.now(UTC)
    event = await login_event(
        client,
        pipeline_mesh,
        starts_at=(now - timedelta(days=1)).isoformat(),
        ends_at=(now + timedelta(days=1)).isoformat(),
    )
    player = await new_player(client)
    await publish_login(js, player.user_id, now - timedelta(days=2))
    await publish_login(js, player.user_id, now + timedelta(days=1))  # ends_at is exclusive
    await publish_login(js, player.user_id, now + timedelta(days=1, seconds=-1))
    await drained(js)
    assert (await progress(client, player, event["id"]))["login_count"] == 2


async def test_login_days_and_streaks_follow_the_events_time_zone(
    client: httpx.AsyncClient, pipeline_mesh: Mesh, js: JetStreamContext
) -> None:
    period = {
        "starts_at": "2026-01-01T00:00:00Z",
        "ends_at": "2026-02-01T00:00:00Z",
        "claim_deadline": "2030-01-01T00:00:00Z",
        "timezone": "Asia/Seoul",
    }
    days = await login_event(
        client,
        pipeline_mesh,
        condition={"type": "CONDITION_TYPE_LOGIN_DAYS", "target": 2},
        **period,
    )
    streak = await login_event(
        client,
        pipeline_mesh,
        condition={"type": "CONDITION_TYPE_LOGIN_STREAK", "target": 3},
        **period,
    )
    player = await new_player(client)
    utc = datetime(2026, 1, 10, tzinfo=UTC)
    # 14:30Z is 23:30 in Seoul, 15:30Z is 00:30 the next day there: two days, one UTC day.
    for at in (utc.replace(hour=14, minute=30), utc.replace(hour=15, minute=30)):
        await publish_login(js, player.user_id, at)
    await drained(js)
    seen = await progress(client, player, days["id"])
    assert (seen["login_count"], seen["login_days"], seen["current_streak"]) == (2, 2, 2)
    early = await client.post(f"/v1/events/{streak['id']}:complete", headers=player.headers)
    assert error_reason(early.json()) == "CONDITION_NOT_MET"
    # 2026-01-11T16:00Z is already 2026-01-12 in Seoul: the third consecutive day.
    await publish_login(js, player.user_id, datetime(2026, 1, 11, 16, tzinfo=UTC))
    await drained(js)
    assert (await progress(client, player, streak["id"]))["current_streak"] == 3
    done = await client.post(f"/v1/events/{streak['id']}:complete", headers=player.headers)
    assert done.status_code == 200, done.text


async def test_logins_while_nats_is_down_are_relayed_once_it_is_back(
    client: httpx.AsyncClient, pipeline_mesh: Mesh
) -> None:
    event = await login_event(client, pipeline_mesh)
    player = await new_player(client)
    await eventually(lambda: _count_is(client, player, event["id"], 1))
    pipeline_mesh.stop_process("nats")
    try:
        for _ in range(5):
            started = time.monotonic()
            await login(client, player.email, player.password)
            assert time.monotonic() - started < 2, "login waited for NATS"
    finally:
        pipeline_mesh.start_nats()
        pipeline_mesh.wait_ready(30, ("nats",))
    await eventually(lambda: _count_is(client, player, event["id"], 6), within=30)
    connection = await nats.connect(f"nats://127.0.0.1:{pipeline_mesh.ports.nats}")
    try:
        await drained(connection.jetstream())
    finally:
        await connection.close()
    assert (await progress(client, player, event["id"]))["login_count"] == 6


async def _count_is(client: httpx.AsyncClient, player: Account, event_id: str, count: int) -> bool:
    return bool((await progress(client, player, event_id))["login_count"] == count)


async def test_a_poison_message_becomes_a_dead_letter_an_admin_can_see_and_replay(
    client: httpx.AsyncClient, pipeline_mesh: Mesh, js: JetStreamContext
) -> None:
    boss = await admin(client, pipeline_mesh)
    marker = f"poison-{secrets.token_hex(4)}"
    await js.publish(SUBJECT_LOGGED_IN, json.dumps({"garbage": marker}).encode())

    async def captured() -> bool:
        letters = (await client.get("/v1/dead-letters", headers=boss.headers)).json()[
            "dead_letters"
        ]
        return any(marker in d["data"] for d in letters)

    await eventually(captured, within=30)
    letters = (await client.get("/v1/dead-letters", headers=boss.headers)).json()["dead_letters"]
    letter = next(d for d in letters if marker in d["data"])
    assert letter["subject"] == SUBJECT_LOGGED_IN
    assert letter["deliveries"] == 3
    assert "not a login message" in letter["error"]
    replay = await client.post(f"/v1/dead-letters/{letter['id']}:replay", headers=boss.headers)
    assert replay.status_code == 400
    assert error_reason(replay.json()) == "REPLAY_FAILED"
    player = await new_player(client)
    denied = await client.get("/v1/dead-letters", headers=player.headers)
    assert denied.status_code == 403


async def test_unacked_logins_are_redelivered_after_the_event_service_is_killed(
    client: httpx.AsyncClient, pipeline_mesh: Mesh, js: JetStreamContext
) -> None:
    """With the embedded store only the consumer position survives a restart; with a real
    MongoDB (see the test below) progress survives too and is checked exactly."""
    await drained(js)
    for _ in range(300):
        await publish_login(js, f"usr_synthetic_{secrets.token_hex(2)}", datetime.now(UTC))
    pipeline_mesh.stop_process("event", kill=True)
    pipeline_mesh.start_event()
    pipeline_mesh.wait_ready(60, ("event",))
    await drained(js)


@requires_mongodb
async def test_every_login_counts_exactly_once_across_a_sigkill_of_the_event_service(
    client: httpx.AsyncClient, pipeline_mesh: Mesh, js: JetStreamContext
) -> None:
    event = await login_event(
        client, pipeline_mesh, condition={"type": "CONDITION_TYPE_LOGIN_COUNT", "target": 1000}
    )
    player = await new_player(client)
    await drained(js)
    logins = 400

    async def publish_all() -> None:
        for _ in range(logins):
            await publish_login(js, player.user_id, datetime.now(UTC))

    publishing = asyncio.create_task(publish_all())
    await eventually(lambda: _count_at_least(client, player, event["id"], 50))
    pipeline_mesh.stop_process("event", kill=True)
    await publishing
    pipeline_mesh.start_event()
    pipeline_mesh.wait_ready(60, ("event",))
    await drained(js)
    assert (await progress(client, player, event["id"]))["login_count"] == logins + 1


async def _count_at_least(
    client: httpx.AsyncClient, player: Account, event_id: str, count: int
) -> bool:
    return bool((await progress(client, player, event_id))["login_count"] >= count)
