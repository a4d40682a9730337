"""Entry point: `python -m services.event.main`."""

from __future__ import annotations

import asyncio

from services.common import logs
from services.common.server import freeze_startup_objects, wait_for_signal
from services.event.bootstrap import start
from services.event.settings import EventSettings


async def _run(settings: EventSettings) -> None:
    app = await start(settings)
    freeze_startup_objects()
    await wait_for_signal()
    await app.stop()


def main() -> None:
    settings = EventSettings()
    logs.configure("event", settings.log_level)
    asyncio.run(_run(settings))


if __name__ == "__main__":
    main()
