"""JetStream consumers of the event service: logins, audit records, dead-letter advisories,
and revoked service accounts.

Delivery is at least once: a message is acked only after its effect is stored, and every
handler is idempotent. A message that keeps failing is redelivered with backoff until
max_deliver; the server then publishes a max-deliveries advisory, which the third
consumer turns into a dead letter holding the original message.

Revocations are different: every instance needs all of them in memory, so each one
replays the subject from the start of the stream (an ephemeral ordered consumer) and
then follows it, instead of sharing a durable consumer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from services.common.messaging import run_with_jetstream
from services.common.subjects import SUBJECT_LOGGED_IN, SUBJECT_SERVICE_ACCOUNT_DISABLED
from services.common.tokens import Revocations
from services.event.domain import DeadLetter
from services.event.use_cases import EventUseCases

log = logging.getLogger(__name__)

Handler = Callable[[Msg], Awaitable[None]]
_MAX_REMEMBERED_ERRORS = 10_000


@dataclass(frozen=True)
class ConsumerSettings:
    batch: int = 100
    max_deliver: int = 5
    backoff: Sequence[float] = (1.0, 2.0, 5.0, 10.0)
    ack_wait: float = 30.0


class EventConsumers:
    def __init__(
        self,
        url: str,
        use_cases: EventUseCases,
        settings: ConsumerSettings,
        revocations: Revocations,
    ) -> None:
        self._url = url
        self._uc = use_cases
        self._settings = settings
        self._revocations = revocations
        self._errors: dict[tuple[str, int], str] = {}
        self.connected = asyncio.Event()
        # Set once the revocations already in the stream at startup are all applied.
        self.revocations_loaded = asyncio.Event()

    async def run(self) -> None:
        """Consumes until cancelled; reconnects and recreates subscriptions on failure."""
        await run_with_jetstream(self._url, "consumers", self._consume_all, self.connected.clear)

    async def _consume_all(self, js: JetStreamContext) -> None:
        subscriptions = await self._subscribe(js)
        await self._follow_revocations(js)
        self.connected.set()
        log.info("consuming logins, audit records, dead-letter advisories, revocations")
        async with asyncio.TaskGroup() as group:
            for subscription, handler in subscriptions:
                group.create_task(self._consume(subscription, handler))

    async def _subscribe(
        self, js: JetStreamContext
    ) -> list[tuple[JetStreamContext.PullSubscription, Handler]]:
        s = self._settings

        def config(name: str, subject: str, *, retried: bool = True) -> ConsumerConfig:
            return ConsumerConfig(
                durable_name=name,
                filter_subject=subject,
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=s.ack_wait,
                max_deliver=s.max_deliver if retried else -1,
                # The server uses backoff for unacked redeliveries; must be ≤ max_deliver long.
                backoff=list(s.backoff[: s.max_deliver - 1]) if retried else None,
                max_ack_pending=10 * s.batch,
            )

        specs: list[tuple[str, str, str, Handler, bool]] = [
            ("AUTH", "event-logins", SUBJECT_LOGGED_IN, self._handle_data, True),
            ("AUDIT", "event-audit", "audit.>", self._handle_data, True),
            (
                "DEADLETTER_ADVISORIES",
                "event-dead-letters",
                "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>",
                lambda msg: self._handle_advisory(js, msg),
                False,
            ),
        ]
        result = []
        for stream, durable, subject, handler, retried in specs:
            subscription = await js.pull_subscribe(
                subject,
                durable=durable,
                stream=stream,
                config=config(durable, subject, retried=retried),
            )
            result.append((subscription, handler))
        return result

    async def _follow_revocations(self, js: JetStreamContext) -> None:
        """Replays every `auth.service_account.disabled` the stream holds, then follows it.

        The AUTH stream keeps messages for days, longer than any token lives, so an
        instance that starts later still learns of every revocation that matters.
        """
        try:
            await js.get_last_msg("AUTH", SUBJECT_SERVICE_ACCOUNT_DISABLED)
        except NotFoundError:
            self.revocations_loaded.set()

        async def revoke(msg: Msg) -> None:
            try:
                account_id = json.loads(msg.data)["service_account_id"]
            except (ValueError, KeyError, TypeError):
                log.warning("ignoring a malformed revocation", extra={"subject": msg.subject})
            else:
                self._revocations.revoke(str(account_id))
            if not msg.metadata.num_pending:
                self.revocations_loaded.set()

        await js.subscribe(
            SUBJECT_SERVICE_ACCOUNT_DISABLED,
            stream="AUTH",
            cb=revoke,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
        )

    async def _consume(
        self, subscription: JetStreamContext.PullSubscription, handler: Handler
    ) -> None:
        while True:
            try:
                messages = await subscription.fetch(self._settings.batch, timeout=1)
            except (TimeoutError, NatsTimeoutError):
                continue
            await asyncio.gather(*(self._process(m, handler) for m in messages))

    async def _process(self, msg: Msg, handler: Handler) -> None:
        try:
            await handler(msg)
        except Exception as exc:
            delivered = msg.metadata.num_delivered or 1
            key = (
                msg.metadata.stream or "",
                msg.metadata.sequence.stream if msg.metadata.sequence else 0,
            )
            if len(self._errors) >= _MAX_REMEMBERED_ERRORS:
                self._errors.clear()
            self._errors[key] = f"{type(exc).__name__}: {exc}"[:1000]
            log.warning(
                "message failed",
                extra={"subject": msg.subject, "deliveries": delivered, "error": self._errors[key]},
            )
            backoff = self._settings.backoff
            await msg.nak(delay=backoff[min(delivered - 1, len(backoff) - 1)] if backoff else None)
            return
        await msg.ack()

    async def _handle_data(self, msg: Msg) -> None:
        await self._uc.handle_message(msg.subject, msg.data)

    async def _handle_advisory(self, js: JetStreamContext, msg: Msg) -> None:
        advisory = json.loads(msg.data)
        stream, sequence = advisory["stream"], int(advisory["stream_seq"])
        original = await js.get_msg(stream, sequence)
        error = self._errors.pop(
            (stream, sequence), "failed on every delivery (last error not seen by this instance)"
        )
        await self._uc.capture_dead_letter(
            DeadLetter(
                id=f"{stream}-{sequence}",
                stream=stream,
                consumer=advisory.get("consumer", ""),
                subject=original.subject or "",
                stream_sequence=sequence,
                data=original.data or b"",
                error=error,
                deliveries=int(advisory.get("deliveries", 0)),
                created_at=datetime.now(UTC),
            )
        )
