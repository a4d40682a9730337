"""Relays the outbox to JetStream: every message stored with a change gets published,
with `Nats-Msg-Id` = the outbox id, however long NATS is away. Logins never wait for it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from nats.aio.client import Client
from nats.js import JetStreamContext

from services.auth.ports import PendingMessages
from services.common.messaging import backoff_sleep, connect, ensure_streams

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self, url: str, outbox: PendingMessages, *, batch: int = 500, poll_seconds: float = 1.0
    ) -> None:
        self._url = url
        self._outbox = outbox
        self._batch = batch
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        outbox.on_added = self._wake.set

    async def run(self) -> None:
        attempt = 0
        while True:
            client: Client | None = None
            try:
                client = await connect(self._url)
                js = client.jetstream()
                await ensure_streams(js)
                attempt = 0
                await self._relay(js)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox relay interrupted (%s); retrying", exc)
                await backoff_sleep(attempt)
                attempt += 1
            finally:
                if client is not None:
                    with contextlib.suppress(Exception):
                        await client.close()

    async def _relay(self, js: JetStreamContext) -> None:
        while True:
            pending = await self._outbox.pending(self._batch)
            if not pending:
                self._wake.clear()
                # Other instances' messages are found by polling; ours wake us at once.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll)
                continue
            acks = await asyncio.gather(
                *(
                    js.publish(
                        message.subject,
                        json.dumps({**message.payload, "message_id": message.id}).encode(),
                        headers={"Nats-Msg-Id": message.id},
                    )
                    for message in pending
                )
            )
            await self._outbox.mark_sent([m.id for m in pending])
            log.debug(
                "relayed %d messages (%d duplicates)",
                len(acks),
                sum(a.duplicate or 0 for a in acks),
            )
