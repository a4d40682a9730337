"""Relays the outbox to JetStream: every message stored with a change gets published,
with `Nats-Msg-Id` = the outbox id, however long NATS is away. Logins never wait for it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from nats.js import JetStreamContext

from services.auth.ports import PendingMessages
from services.common.messaging import run_with_jetstream

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
        await run_with_jetstream(self._url, "outbox relay", self._relay)

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
