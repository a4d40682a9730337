"""REST helpers for the event API through the gateway."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.helpers import Account


def event_body(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "title": "Defeat 10 monsters",
        "description": "Limited-time hunt",
        "condition": {
            "type": "CONDITION_TYPE_ACTIVITY_COUNT",
            "target": 10,
            "activity": "monster_kill",
        },
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(days=7)).isoformat(),
        "rewards": [
            {"name": "Elixir", "type": "REWARD_TYPE_ITEM", "amount": 5},
            {"name": "Gems", "type": "REWARD_TYPE_CURRENCY", "amount": 300},
        ],
    }
    body.update(overrides)
    return body


async def create_event(
    rest: httpx.AsyncClient, operator: Account, **overrides: Any
) -> dict[str, Any]:
    response = await rest.post("/v1/events", json=event_body(**overrides), headers=operator.headers)
    assert response.status_code == 200, response.text
    event: dict[str, Any] = response.json()["event"]
    return event


async def report_activity(
    rest: httpx.AsyncClient,
    reporter_headers: dict[str, str],
    user_id: str,
    amount: int,
    activity: str = "monster_kill",
) -> None:
    response = await rest.post(
        "/v1/activities",
        json={
            "user_id": user_id,
            "activity": activity,
            "amount": amount,
            "idempotency_key": f"kill-{secrets.token_hex(8)}",
        },
        headers=reporter_headers,
    )
    assert response.status_code == 200, response.text


async def claim(
    rest: httpx.AsyncClient,
    player: Account,
    event_id: str,
    reward_id: str,
    request_id: str,
    amount: int = 0,
) -> httpx.Response:
    body: dict[str, Any] = {"request_id": request_id}
    if amount:
        body["amount"] = amount
    return await rest.post(
        f"/v1/events/{event_id}/rewards/{reward_id}:claim", json=body, headers=player.headers
    )


async def all_pages(
    rest: httpx.AsyncClient, path: str, key: str, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = ""
    while True:
        response = await rest.get(
            path, params={**params, "page_size": 100, "page_token": token}, headers=headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body[key])
        token = body["next_page_token"]
        if not token:
            return items
