"""Fixtures shared by every tier. The mesh fixture starts real processes on free ports."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import grpc
import httpx
import pytest
from hypothesis import settings

from tools.mesh import Mesh

# Property tests draw the same examples on every run, so `make test` is repeatable and a
# rare example cannot fail an unrelated change; `HYPOTHESIS_PROFILE=explore make test`
# draws new ones each run (how the emulator's differential tests find their bugs).
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

MONGODB_URL = os.environ.get("MONGODB_URL") or None

# Tests that need several processes sharing one real database.
requires_mongodb = pytest.mark.skipif(
    MONGODB_URL is None, reason="needs MONGODB_URL (real MongoDB)"
)


def database_prefix() -> str:
    """A fresh database name prefix, so runs against a real MongoDB never see each other's data."""
    return f"test_{secrets.token_hex(4)}_"


@contextlib.contextmanager
def running_mesh(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    service_env: Mapping[str, str] | None = None,
    **options: Any,
) -> Iterator[Mesh]:
    """A whole mesh of its own (fresh data directory and databases), stopped afterwards."""
    mesh = Mesh(
        data_dir=tmp_path_factory.mktemp(name),
        mongodb_url=MONGODB_URL,
        service_env={"MONGODB_DATABASE_PREFIX": database_prefix(), **(service_env or {})},
        **options,
    )
    mesh.start(timeout=90)
    try:
        yield mesh
    finally:
        mesh.stop()


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    # Fast lockout so the lockout test does not wait for minutes.
    lockout = {"LOGIN_LOCKOUT_SECONDS": "2", "LOGIN_MAX_FAILURES": "3"}
    with running_mesh(tmp_path_factory, "mesh", lockout) as mesh:
        yield mesh


@pytest.fixture(scope="session")
async def rest(mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=mesh.gateway_url, timeout=20) as client:
        yield client


@pytest.fixture(scope="session")
async def gateway_channel(mesh: Mesh) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(mesh.gateway_target) as channel:
        yield channel
