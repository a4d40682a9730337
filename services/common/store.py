"""The document store: MongoDB when a URL is configured, else an in-process emulator.

The emulator (mongomock-motor) exists so the mesh runs on machines without MongoDB.
Data lives only as long as the process, and every query scans the whole collection.
Code must behave the same on both; nothing may rely on the emulator's quirks.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import mongomock.collection
import mongomock.store
from beanie import Document, init_beanie
from bson import ObjectId
from mongomock.filtering import filter_applies
from mongomock_motor import AsyncMongoMockClient, AsyncMongoMockCollection, AsyncMongoMockDatabase
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

# The emulator scans every document for every query. Two shims keep it usable for a
# local mesh without changing any result: look documents up by `_id` directly when the
# filter pins one, and run TTL expiry at most once a second (MongoDB's own TTL monitor
# runs once a minute) instead of on every access.
_EXACT_ID_TYPES = (str, int, ObjectId, uuid.UUID)
_scan: Any = mongomock.collection.Collection._iter_documents
_expire: Any = mongomock.store.CollectionStore._remove_expired_documents
_applies: Any = filter_applies


def _iter_documents(self: Any, filter: Any) -> Any:
    key = filter.get("_id") if isinstance(filter, dict) else None
    if not isinstance(key, _EXACT_ID_TYPES):
        return _scan(self, filter)
    if key not in self._store:
        return iter(())
    document = self._store[key]
    return iter((document,) if _applies(filter, document) else ())


def _remove_expired_documents(self: Any) -> None:
    now = time.monotonic()
    if now - getattr(self, "_last_expiry", 0.0) >= 1.0:
        self._last_expiry = now
        _expire(self)


def _speed_up_emulator() -> None:
    setattr(mongomock.collection.Collection, "_iter_documents", _iter_documents)  # noqa: B010
    setattr(mongomock.store.CollectionStore, "_remove_expired_documents", _remove_expired_documents)  # noqa: B010


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
        _speed_up_emulator()
        client = AsyncMongoMockClient(tz_aware=True)
        db = _EmulatedDatabase(client, client.get_database(database).delegate)
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
