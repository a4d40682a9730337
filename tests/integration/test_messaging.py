"""The NATS connection's log: a lost connection is a warning, closing it ourselves is not.
Runs a real nats-server on a free 127.0.0.1 port, stopped by PID."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common import messaging
from tests.helpers import eventually
from tools.mesh import LOOPBACK, Mesh

LOST = "NATS connection lost; reconnecting"


@pytest.fixture
def nats_mesh(tmp_path: Path) -> Iterator[Mesh]:
    mesh = Mesh(data_dir=tmp_path)
    try:
        mesh.start_nats()
        mesh.wait_ready(30, ("nats",))
        yield mesh
    finally:
        mesh.stop()


def _url(mesh: Mesh) -> str:
    return f"nats://{LOOPBACK}:{mesh.ports.nats}"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == messaging.__name__ and r.levelno >= logging.WARNING
    ]


async def test_closing_the_connection_is_not_reported_as_lost(
    nats_mesh: Mesh, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=messaging.__name__)
    client = await messaging.connect(_url(nats_mesh))
    await client.close()
    assert client.is_closed
    assert _warnings(caplog) == []
    assert "NATS connection closed" in caplog.messages


async def test_losing_the_server_is_a_warning(
    nats_mesh: Mesh, caplog: pytest.LogCaptureFixture
) -> None:
    client = await messaging.connect(_url(nats_mesh))
    try:
        nats_mesh.stop_process("nats")

        async def reported() -> bool:
            return LOST in _warnings(caplog)

        await eventually(reported, within=10)
    finally:
        await client.close()
