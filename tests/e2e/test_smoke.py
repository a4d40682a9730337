from __future__ import annotations

import httpx

from tests.helpers import new_player


async def test_player_registers_and_reads_their_account_through_the_gateway(
    rest: httpx.AsyncClient,
) -> None:
    player = await new_player(rest)
    response = await rest.get("/v1/users/me", headers=player.headers)
    assert response.status_code == 200
    assert response.json()["user"]["email"] == player.email
