"""Process-level settings of the services (services/common/server.py)."""

from __future__ import annotations

import gc

from services.common.server import freeze_startup_objects


def test_objects_alive_at_startup_are_left_out_of_later_collections() -> None:
    survivor: list[list[int]] = [[1]]  # a tracked container, like the wired application
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() > 0
        assert all(o is not survivor for o in gc.get_objects())
        created_later: list[list[int]] = [[2]]
        assert any(o is created_later for o in gc.get_objects())
    finally:
        gc.unfreeze()
    assert any(o is survivor for o in gc.get_objects())
