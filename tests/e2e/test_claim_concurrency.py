"""Claims under concurrency, through the gateway: never more than the reward's amount."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import httpx

from tests.e2e.event_api import all_pages, claim, create_event, report_activity
from tests.helpers import account_with_role, admin, new_player
from tools.mesh import Mesh

REWARD_AMOUNT = 100
CLAIMS = 200
DISTINCT = 150  # the other 50 repeat one of these request_ids with the same parameters


async def test_concurrent_claims_never_exceed_the_reward_and_the_log_sums_to_the_grants(
    rest: httpx.AsyncClient, mesh: Mesh
) -> None:
    operator = await account_with_role(rest, mesh, "OPERATOR")
    boss = await admin(rest, mesh)
    player = await new_player(rest)
    event = await create_event(
        rest,
        operator,
        condition={"type": "CONDITION_TYPE_ACTIVITY_COUNT", "target": 1, "activity": "quest"},
        rewards=[{"name": "Coin", "type": "REWARD_TYPE_CURRENCY", "amount": REWARD_AMOUNT}],
    )
    event_id, reward_id = event["id"], event["rewards"][0]["id"]
    await report_activity(rest, boss.headers, player.user_id, 1, activity="quest")
    assert (
        await rest.post(f"/v1/events/{event_id}:complete", headers=player.headers)
    ).status_code == 200

    rng = random.Random(20261123)
    requests = [(f"concurrent-{i:04d}", rng.choice([0, 1, 1, 2, 3, 5])) for i in range(DISTINCT)]
    requests += [rng.choice(requests) for _ in range(CLAIMS - DISTINCT)]
    rng.shuffle(requests)

    responses = await asyncio.gather(
        *(
            claim(rest, player, event_id, reward_id, request_id, amount)
            for request_id, amount in requests
        )
    )

    outcomes: dict[str, set[str]] = {}
    for (request_id, _), response in zip(requests, responses, strict=True):
        assert response.status_code in (200, 400), response.text
        outcomes.setdefault(request_id, set()).add(response.text)
    # A replayed request_id gets exactly the original outcome.
    assert all(len(texts) == 1 for texts in outcomes.values())

    granted = {
        r.json()["claim"]["request_id"]: r.json()["claim"]["amount"]
        for r in responses
        if r.status_code == 200
    }
    assert sum(granted.values()) <= REWARD_AMOUNT

    progress = (await rest.get(f"/v1/events/{event_id}/progress", headers=player.headers)).json()[
        "progress"
    ]
    claimed = progress["rewards"][0]["claimed"]
    assert claimed == sum(granted.values())

    log = await all_pages(rest, "/v1/me/claims", "claims", player.headers, event_id=event_id)
    assert Counter(c["request_id"] for c in log) == Counter(dict.fromkeys(outcomes, 1))
    succeeded = [c for c in log if c["status"] == "CLAIM_STATUS_SUCCEEDED"]
    assert sum(c["amount"] for c in succeeded) == claimed
    assert {c["request_id"]: c["amount"] for c in succeeded} == granted
    # With 150 distinct requests asking for ~2 each, the reward must have run out.
    assert claimed == REWARD_AMOUNT
    assert {c["failure_reason"] for c in log if c["status"] == "CLAIM_STATUS_FAILED"} == {
        "INSUFFICIENT_REMAINING"
    }
