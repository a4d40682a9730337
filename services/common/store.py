"""The document store: MongoDB when a URL is configured, else an in-process emulator.

The emulator (services.common.emulator) exists so the mesh runs on machines without
MongoDB. Data lives only as long as the process. Code must behave the same on both;
nothing may rely on the emulator's quirks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from beanie import Document, init_beanie
from mongomock_motor import AsyncMongoMockClient
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from services.common import emulator


@dataclass
class Store:
    """A connected database; `close()` releases the client."""

    database: Any
    client: Any
    embedded: bool

    async def close(self) -> None:
        if not self.embedded:
            await self.client.close()


async def connect(url: str | None, database: str, documents: Sequence[type[Document]]) -> Store:
    """Connects (or starts the emulator), creates indexes and registers the documents."""
    if url:
        client: Any = AsyncMongoClient(url, tz_aware=True, uuidRepresentation="standard")
        db = client[database]
        embedded = False
    else:
        emulator.install()
        client = AsyncMongoMockClient(tz_aware=True)
        db = emulator.EmulatedDatabase(client, client.get_database(database).delegate)
        embedded = True
    await init_beanie(database=db, document_models=list(documents))
    return Store(database=db, client=client, embedded=embedded)


async def insert_new(collection: Any, document: dict[str, Any]) -> bool:
    """Inserts the document; False if its _id (or another unique key) is already taken."""
    try:
        await collection.insert_one(document)
    except DuplicateKeyError:
        return False
    return True


def after_cursor(after: Sequence[Any] | None, field: str, *, newest_first: bool) -> dict[str, Any]:
    """The filter for what follows a page-token cursor [timestamp iso, id] in a list
    sorted on (field, _id), ascending or descending."""
    if not after:
        return {}
    at, last_id = datetime.fromisoformat(after[0]), after[1]
    op = "$lt" if newest_first else "$gt"
    return {"$or": [{field: {op: at}}, {field: at, "_id": {op: last_id}}]}


class UtcClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
