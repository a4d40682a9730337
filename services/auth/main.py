"""Entry point: `python -m services.auth.main`."""

from __future__ import annotations

import asyncio

from services.auth.bootstrap import start
from services.auth.settings import AuthSettings
from services.common import logs
from services.common.server import freeze_startup_objects, wait_for_signal


async def _run(settings: AuthSettings) -> None:
    app = await start(settings)
    freeze_startup_objects()
    await wait_for_signal()
    await app.stop()


def main() -> None:
    settings = AuthSettings()
    logs.configure("auth", settings.log_level)
    asyncio.run(_run(settings))


if __name__ == "__main__":
    main()
