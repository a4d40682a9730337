"""NATS JetStream: connection, and the streams every service agrees on (created idempotently
by whoever starts first)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

log = logging.getLogger(__name__)

DAY = 24 * 3600.0

STREAMS: tuple[StreamConfig, ...] = (
    StreamConfig(
        name="AUTH",
        subjects=["auth.>"],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        max_age=7 * DAY,
        # Nats-Msg-Id deduplication: a relay that publishes again after a crash is harmless.
        duplicate_window=120.0,
    ),
    StreamConfig(
        name="AUDIT",
        subjects=["audit.>"],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        max_age=30 * DAY,
        duplicate_window=120.0,
    ),
    # The server's max-deliveries advisories for our consumers, kept for the dead-letter capture.
    StreamConfig(
        name="DEADLETTER_ADVISORIES",
        subjects=["$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        max_age=30 * DAY,
    ),
)


async def ensure_streams(js: JetStreamContext) -> None:
    for config in STREAMS:
        try:
            await js.add_stream(config)
        except BadRequestError:
            # Exists with another configuration: bring it to ours.
            await js.update_stream(config)


async def connect(url: str) -> Client:
    """Connects (raising if the first attempt fails); afterwards reconnects forever."""
    client: Client | None = None

    async def disconnected() -> None:
        if client is not None and client.is_closed:
            log.debug("NATS connection closed")  # by us: on shutdown or to start over
            return
        log.warning("NATS connection lost; reconnecting")

    async def reconnected() -> None:
        log.info("NATS reconnected")

    async def error(exc: Exception) -> None:
        log.debug("NATS client error: %s", exc)

    client = await nats.connect(
        url,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=2,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
        error_cb=error,
    )
    return client


async def backoff_sleep(attempt: int, *, base: float = 0.2, cap: float = 5.0) -> None:
    await asyncio.sleep(min(cap, base * 2**attempt))


async def run_with_jetstream(
    url: str,
    name: str,
    session: Callable[[JetStreamContext], Awaitable[None]],
    on_lost: Callable[[], None] = lambda: None,
) -> None:
    """Runs `session` with a fresh connection (streams ensured) until cancelled; when the
    connection or the session fails, backs off and starts over."""
    attempt = 0
    while True:
        client: Client | None = None
        try:
            client = await connect(url)
            js = client.jetstream()
            await ensure_streams(js)
            attempt = 0
            await session(js)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s interrupted (%s); retrying", name, exc)
            on_lost()
            await backoff_sleep(attempt)
            attempt += 1
        finally:
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.close()
