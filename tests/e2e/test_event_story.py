"""The operator → game server → player story, end to end through the gateway."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import grpc
import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from rewardmesh.event.v1 import event_pb2, event_pb2_grpc

from tests.e2e.event_api import all_pages, claim, create_event, report_activity
from tests.helpers import (
    account_with_role,
    error_reason,
    game_server_token,
    grpc_error_reason,
    new_player,
)
from tools.mesh import Mesh


async def test_operator_runs_an_event_and_a_player_completes_and_claims_it_over_rest(
    rest: httpx.AsyncClient, mesh: Mesh
) -> None:
    operator = await account_with_role(rest, mesh, "OPERATOR")
    auditor = await account_with_role(rest, mesh, "AUDITOR")
    player = await new_player(rest)
    game_server = {"authorization": f"Bearer {await game_server_token(rest, mesh)}"}
    event = await create_event(rest, operator)
    event_id = event["id"]
    elixir, gems = event["rewards"]
    assert event["status"] == "EVENT_STATUS_ACTIVE"
    assert event["created_by"] == operator.user_id

    # Not there yet: completing says what is missing.
    await report_activity(rest, game_server, player.user_id, 4)
    early = await rest.post(f"/v1/events/{event_id}:complete", headers=player.headers)
    assert early.status_code == 400
    assert error_reason(early.json()) == "CONDITION_NOT_MET"
    assert "4 of 10" in early.json()["message"]

    await report_activity(rest, game_server, player.user_id, 6)
    progress = (await rest.get(f"/v1/events/{event_id}/progress", headers=player.headers)).json()[
        "progress"
    ]
    assert progress["activity_total"] == 10
    assert progress["status"] == "PROGRESS_STATUS_IN_PROGRESS"

    done = await rest.post(f"/v1/events/{event_id}:complete", headers=player.headers)
    assert done.status_code == 200
    assert done.json()["progress"]["status"] == "PROGRESS_STATUS_COMPLETED"
    again = await rest.post(f"/v1/events/{event_id}:complete", headers=player.headers)
    assert again.json()["progress"]["completed_at"] == done.json()["progress"]["completed_at"]

    # Partial claim, replay, reuse with other parameters, then the rest.
    first = await claim(rest, player, event_id, elixir["id"], "claim-elixir-1", amount=2)
    assert first.status_code == 200, first.text
    assert first.json()["claim"] | {"claimed_at": None} == {
        "request_id": "claim-elixir-1",
        "user_id": player.user_id,
        "event_id": event_id,
        "reward_id": elixir["id"],
        "reward_name": "Elixir",
        "amount": 2,
        "status": "CLAIM_STATUS_SUCCEEDED",
        "failure_reason": "",
        "remaining": 3,
        "claimed_at": None,
    }
    replay = await claim(rest, player, event_id, elixir["id"], "claim-elixir-1", amount=2)
    assert replay.json() == first.json()
    reused = await claim(rest, player, event_id, elixir["id"], "claim-elixir-1", amount=1)
    assert reused.status_code == 409
    assert error_reason(reused.json()) == "REQUEST_ID_REUSED"
    too_much = await claim(rest, player, event_id, elixir["id"], "claim-elixir-2", amount=4)
    assert too_much.status_code == 400
    assert error_reason(too_much.json()) == "INSUFFICIENT_REMAINING"
    rest_of_it = await claim(rest, player, event_id, elixir["id"], "claim-elixir-3")
    assert rest_of_it.json()["claim"]["amount"] == 3
    assert rest_of_it.json()["claim"]["remaining"] == 0
    unknown = await claim(rest, player, event_id, "rwd_nope", "claim-unknown-1")
    assert unknown.status_code == 404
    assert error_reason(unknown.json()) == "REWARD_NOT_FOUND"

    progress = (await rest.get(f"/v1/events/{event_id}/progress", headers=player.headers)).json()[
        "progress"
    ]
    assert {r["name"]: (r["claimed"], r["remaining"]) for r in progress["rewards"]} == {
        "Elixir": (5, 0),
        "Gems": (0, 300),
    }

    # History: the player sees only their own attempts, failures included.
    mine = await all_pages(rest, "/v1/me/claims", "claims", player.headers, event_id=event_id)
    assert [c["request_id"] for c in mine] == [
        "claim-unknown-1",
        "claim-elixir-3",
        "claim-elixir-2",
        "claim-elixir-1",
    ]
    assert [c["status"] for c in mine].count("CLAIM_STATUS_FAILED") == 2
    others = await new_player(rest)
    assert (
        await all_pages(rest, "/v1/me/claims", "claims", others.headers, user_id=player.user_id)
        == []
    )
    failed = await all_pages(
        rest,
        "/v1/claims",
        "claims",
        auditor.headers,
        event_id=event_id,
        status="CLAIM_STATUS_FAILED",
    )
    assert {c["failure_reason"] for c in failed} == {"INSUFFICIENT_REMAINING", "REWARD_NOT_FOUND"}

    stats = (await rest.get(f"/v1/events/{event_id}/stats", headers=auditor.headers)).json()[
        "stats"
    ]
    assert stats["participants"] == 1
    assert stats["completed"] == 1
    assert {
        r["name"]: (r["total_claimed"], r["claim_count"], r["claimants"]) for r in stats["rewards"]
    } == {
        "Elixir": (5, 2, 1),
        "Gems": (0, 0, 0),
    }

    # The operator switches the event off: no more claims, and the change is audited.
    off = await rest.patch(
        f"/v1/events/{event_id}", json={"status": "EVENT_STATUS_INACTIVE"}, headers=operator.headers
    )
    assert off.json()["event"]["status"] == "EVENT_STATUS_INACTIVE"
    closed = await claim(rest, player, event_id, gems["id"], "claim-gems-1")
    assert error_reason(closed.json()) == "EVENT_INACTIVE"
    audit = await all_pages(
        rest, "/v1/audit-logs", "audit_logs", auditor.headers, actor_id=operator.user_id
    )
    assert [a["action"] for a in audit] == ["event.update", "event.create"]
    assert audit[0]["changes"] == {"status": ["ACTIVE", "INACTIVE"]}
    assert audit[0]["actor_role"] == "OPERATOR"
    assert audit[0]["target"] == f"event/{event_id}"


async def test_invalid_event_reports_each_bad_field(rest: httpx.AsyncClient, mesh: Mesh) -> None:
    operator = await account_with_role(rest, mesh, "OPERATOR")
    response = await rest.post(
        "/v1/events",
        json={
            "title": "",
            "condition": {"type": "CONDITION_TYPE_LOGIN_COUNT", "target": 0},
            "starts_at": "2026-01-02T00:00:00Z",
            "ends_at": "2026-01-01T00:00:00Z",
            "timezone": "Mars/Olympus",
            "rewards": [
                {"name": "A", "type": "REWARD_TYPE_ITEM", "amount": 0},
                {"name": "a", "type": "REWARD_TYPE_ITEM", "amount": 1},
            ],
        },
        headers=operator.headers,
    )
    assert response.status_code == 400
    violations = next(d for d in response.json()["details"] if d["@type"].endswith("BadRequest"))
    assert {v["field"] for v in violations["field_violations"]} == {
        "title",
        "condition.target",
        "ends_at",
        "timezone",
        "rewards[0].amount",
        "rewards",
    }
    missing = await rest.get("/v1/events/evt_missing", headers=operator.headers)
    assert missing.status_code == 404
    assert error_reason(missing.json()) == "EVENT_NOT_FOUND"


async def test_the_same_story_works_over_native_grpc(
    rest: httpx.AsyncClient, mesh: Mesh, gateway_channel: grpc.aio.Channel
) -> None:
    operator = await account_with_role(rest, mesh, "OPERATOR")
    player = await new_player(rest)
    game_server = (("authorization", f"Bearer {await game_server_token(rest, mesh)}"),)
    stub = event_pb2_grpc.EventServiceStub(gateway_channel)
    created = await stub.CreateEvent(
        event_pb2.CreateEventRequest(
            title="gRPC hunt",
            condition=event_pb2.Condition(
                type=event_pb2.CONDITION_TYPE_ACTIVITY_COUNT, target=3, activity="boss_kill"
            ),
            starts_at=_ago(hours=1),
            ends_at=_ago(hours=-24),
            rewards=[event_pb2.Reward(name="Core", type=event_pb2.REWARD_TYPE_ITEM, amount=3)],
        ),
        metadata=operator.metadata,
    )
    event = created.event
    for _ in range(3):
        await stub.RecordActivity(
            event_pb2.RecordActivityRequest(
                user_id=player.user_id,
                activity="boss_kill",
                amount=1,
                idempotency_key=secrets.token_hex(8),
            ),
            metadata=game_server,
        )
    completed = await stub.CompleteEvent(
        event_pb2.CompleteEventRequest(event_id=event.id), metadata=player.metadata
    )
    assert completed.progress.status == event_pb2.PROGRESS_STATUS_COMPLETED
    claimed = await stub.ClaimReward(
        event_pb2.ClaimRewardRequest(
            event_id=event.id, reward_id=event.rewards[0].id, request_id="grpc-claim-1"
        ),
        metadata=player.metadata,
    )
    assert (claimed.claim.amount, claimed.claim.remaining) == (3, 0)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await stub.ClaimReward(
            event_pb2.ClaimRewardRequest(
                event_id=event.id, reward_id=event.rewards[0].id, request_id="grpc-claim-2"
            ),
            metadata=player.metadata,
        )
    assert failure.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert grpc_error_reason(failure.value) == "INSUFFICIENT_REMAINING"
    seen = await stub.GetPlayerProgress(
        event_pb2.GetPlayerProgressRequest(user_id=player.user_id, event_id=event.id),
        metadata=game_server,
    )
    assert seen.progress.rewards[0].claimed == 3


def _ago(*, hours: int) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(datetime.now(UTC) - timedelta(hours=hours))
    return ts
