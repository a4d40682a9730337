"""AIP-158 pagination: opaque page tokens carrying the sort key of the last item returned."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.common.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class PageRequest:
    size: int
    # The sort key of the last item of the previous page, or None for the first page.
    after: list[Any] | None


def page_request(page_size: int, page_token: str) -> PageRequest:
    if page_size < 0:
        raise InvalidArgument.field("page_size", "must not be negative")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    if not page_token:
        return PageRequest(size, None)
    try:
        after = json.loads(base64.urlsafe_b64decode(page_token.encode()))
    except (ValueError, binascii.Error):
        after = None
    if not _is_sort_key(after):
        raise InvalidArgument.field("page_token", "is not a token returned by this list call")
    return PageRequest(size, after)


def _is_sort_key(value: Any) -> bool:
    """Every list is sorted on [timestamp (ISO 8601), id] (either direction); a token carrying
    anything else was not issued by us and must not reach a query."""
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        return False
    try:
        datetime.fromisoformat(value[0])
    except ValueError:
        return False
    return True


def page_token(last_key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(last_key).encode()).decode()
