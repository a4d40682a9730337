"""The document store: MongoDB when a URL is configured, else an in-process emulator.

The emulator (mongomock-motor) exists so the mesh runs on machines without MongoDB.
Data lives only as long as the process, and every query scans the whole collection.
Code must behave the same on both; nothing may rely on the emulator's quirks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from beanie import Document, init_beanie
from mongomock_motor import AsyncMongoMockClient, AsyncMongoMockCollection, AsyncMongoMockDatabase
from pymongo import AsyncMongoClient


class _EmulatedCollection(AsyncMongoMockCollection):  # type: ignore[type-arg]
    # PyMongo's async aggregate() is a coroutine that returns a cursor; Beanie awaits it.
    async def aggregate(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return super().aggregate(*args, **kwargs)


class _EmulatedDatabase(AsyncMongoMockDatabase):  # type: ignore[type-arg]
    def get_collection(self, *args: Any, **kwargs: Any) -> _EmulatedCollection:
        return _EmulatedCollection(self, self.delegate.get_collection(*args, **kwargs))  # type: ignore[arg-type]

    def __getitem__(self, name: str) -> _EmulatedCollection:
        return self.get_collection(name)

    # init_beanie passes server-only options the emulator does not know.
    async def list_collection_names(self, *args: Any, **kwargs: Any) -> list[str]:
        kwargs.pop("authorizedCollections", None)
        kwargs.pop("nameOnly", None)
        names: list[str] = self.delegate.list_collection_names(*args, **kwargs)
        return names


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
        client = AsyncMongoMockClient(tz_aware=True)
        db = _EmulatedDatabase(client, client.get_database(database).delegate)
        embedded = True
    await init_beanie(database=db, document_models=list(documents))
    return Store(database=db, client=client, embedded=embedded)
