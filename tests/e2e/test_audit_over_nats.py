"""Audit records written by the auth service reach the event service's audit log."""

from __future__ import annotations

import httpx

from tests.helpers import account_with_role, admin, eventually, new_player
from tools.mesh import Mesh


async def test_a_role_change_in_auth_appears_in_the_audit_log_once(
    rest: httpx.AsyncClient, mesh: Mesh
) -> None:
    auditor = await account_with_role(rest, mesh, "AUDITOR")
    player = await new_player(rest)
    boss = await admin(rest, mesh)
    changed = await rest.post(
        f"/v1/users/{player.user_id}:setRole", json={"role": "ROLE_OPERATOR"}, headers=boss.headers
    )
    assert changed.status_code == 200

    async def entries() -> list[dict[str, object]]:
        response = await rest.get(
            "/v1/audit-logs",
            params={"action": "user.set_role", "page_size": 100},
            headers=auditor.headers,
        )
        assert response.status_code == 200, response.text
        return [e for e in response.json()["audit_logs"] if e["target"] == f"user/{player.user_id}"]

    async def arrived() -> bool:
        return len(await entries()) == 1

    await eventually(arrived)
    (entry,) = await entries()
    assert entry["service"] == "auth"
    assert entry["actor_id"] == boss.user_id
    assert entry["actor_role"] == "ADMIN"
    assert entry["changes"] == {"role": ["USER", "OPERATOR"]}
