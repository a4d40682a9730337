"""Accounts the fuzz tests call the mesh as: fresh ones, so their traces stay their own."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import Account, account_with_role, new_player
from tools.mesh import Mesh


@pytest.fixture(scope="session")
async def fuzz_admin(rest: httpx.AsyncClient, mesh: Mesh) -> Account:
    return await account_with_role(rest, mesh, "ADMIN")


@pytest.fixture(scope="session")
async def fuzz_player(rest: httpx.AsyncClient) -> Account:
    return await new_player(rest, "fuzz")
