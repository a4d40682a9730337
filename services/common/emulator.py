"""The in-process MongoDB emulator (mongomock-motor), made to work with Beanie and to be
fast enough to run the mesh.

mongomock answers every query by testing every document in the collection. The shims
here change how it finds candidate documents, never which documents match: whatever path
finds the candidates, the full filter is applied to each one, in the collection's order.

- A filter that pins `_id` to one value, or to a list of strings (or ObjectIds, UUIDs)
  with `$in`, reads those documents directly (and, if that is all it says, takes them
  without testing them).
- A filter that pins the leading field of a declared index (`IndexModel` in a model's
  Settings, as MongoDB would use it) reads only the documents filed under that value.
  The index is kept on every write: inserts, replacements and deletes go through the
  collection store; in-place updates are re-filed after `_update` returns.
- Sorting compares plain values directly when every document holds one of the same
  simple type (strings, integers, datetimes) in the sort field; otherwise mongomock's
  BSON-ordering comparator is used, as before.
- String equalities and inequalities, and comparisons of numbers (`$lt`..`$gte`, also
  under `$not`, along sub-documents), in a filter are tested in plain Python.
- A cursor copies out only the documents it returns, not those its skip passes over or
  its limit leaves out, and `find_one` reads its document without building a cursor (a
  filter that is only a string or ObjectId `_id` takes the document filed under it
  without testing it). A sorted query on an `_id` or indexed-field value sorts those
  documents first and tests them in order, so a page tests only the documents up to its
  end. When the sort is on plain fields ending in `_id`, in one direction, the field index
  keeps that value's documents in that order as writes happen (`_Ordering`), so a page
  reads only what it returns, and copies nothing: a write while a walk reads the order
  changes a copy of it.
- An update that pins `_id` and only sets, increments, pushes or adds plain values along
  sub-document paths is applied to the document directly (`_updated_in_place`), not by
  mongomock's generic update machinery: it notes how to take back each change (to tell
  whether the document changed, and to roll back) instead of copying the document first,
  whose arrays grow with every claim. What depends only on the update's shape (its
  operators and paths) is read once per shape. `find_one_and_update` returning the
  document after the update does not read it before. Anything else goes to mongomock.
- Projections of plain field names, all included or all excluded, are applied directly
  (`_projected`, times made aware in the same pass; each projection is read once and
  remembered); others go to mongomock.
- Copying documents out (and making their times UTC-aware, in the same pass), and
  normalising the times of documents coming in, take fast paths for dicts, lists and
  immutable scalars; anything else goes to mongomock's own functions.
- Deep copies know BSON documents: dicts, lists and immutable scalars; anything else
  goes to `copy.deepcopy`.
- The snapshot mongomock takes of a document before updating it in place (to tell whether
  it changed, and to roll back) copies only the containers along the paths the update's
  operators name; everything else is shared, as the update cannot change it. Updates
  with other operators, or paths through arrays, get a full deep copy.
- Version numbers mongomock compares on every write are parsed once.
- TTL expiry runs at most once a second (MongoDB's own TTL monitor runs once a minute)
  instead of on every access, and not at all for collections without a TTL index.
"""

from __future__ import annotations

import copy
import functools
import itertools
import time
import types
import uuid
from bisect import bisect_left, insort
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from operator import ge, gt, le, lt
from typing import Any

import mongomock
import mongomock.collection
import mongomock.helpers
import mongomock.store
from bson import ObjectId
from mongomock.filtering import filter_applies as _filter_applies
from mongomock.filtering import resolve_sort_key as _resolve_sort_key
from mongomock_motor import AsyncMongoMockCollection, AsyncMongoMockDatabase
from mongomock_motor.patches import _normalize_strings as _plain_strings
from packaging import version
from pymongo import ReturnDocument

_EXACT_ID_TYPES = (str, int, ObjectId, uuid.UUID)
# `_id` values equal only to values of their own type (an int also equals a float or a bool).
_SELF_EQUAL_IDS = frozenset({str, ObjectId, uuid.UUID})
# Query values whose matches are exactly the stored values Python finds equal to them
# (plus, for None, documents without the field). Other values fall back to a scan.
_PINNABLE_TYPES = (str, ObjectId, bool, type(None))

_applies: Any = _filter_applies
_normalized: Any = _plain_strings
_sort_key: Any = _resolve_sort_key
_NATIVELY_ORDERED = (str, int, datetime)
_IMMUTABLE = frozenset({str, int, float, bool, type(None), bytes, datetime, ObjectId, uuid.UUID})
_SCALARS = _IMMUTABLE - {datetime}
_scan: Any = mongomock.collection.Collection._iter_documents
_update: Any = mongomock.collection.Collection._update
_dataset: Any = mongomock.collection.Collection._get_dataset
_results: Any = mongomock.collection.Cursor._compute_results
_find_one: Any = mongomock.collection.Collection.find_one
_validate_update: Any = mongomock.collection.validate_ok_for_update
_find_one_and_update_original: Any = mongomock.collection.Collection.find_one_and_update
_aware: Any = mongomock.helpers.make_datetime_timezone_aware_in_document
_copy_field: Any = mongomock.collection._copy_field
_patch_times: Any = mongomock.helpers.patch_datetime_awareness_in_document
_UTC: Any = getattr(mongomock.helpers, "utc")  # noqa: B009 - not in the module's exports
_expire: Any = mongomock.store.CollectionStore._remove_expired_documents
_set: Any = mongomock.store.CollectionStore.__setitem__
_delete: Any = mongomock.store.CollectionStore.__delitem__
_drop: Any = mongomock.store.CollectionStore.drop


class _FieldIndex:
    """Which documents of one collection hold which value in some top-level fields."""

    def __init__(self, documents: Mapping[Any, Mapping[str, Any]]) -> None:
        self._documents = documents
        self._order: dict[Any, int] = {}
        self._values: dict[str, dict[Any, set[Any]]] = {}
        self._unhashable: dict[str, set[Any]] = {}
        self._filed: dict[Any, dict[str, tuple[Any, ...] | None]] = {}
        # field -> the sort keys asked for after it -> the documents kept in that order
        self._orderings: dict[str, dict[tuple[str, ...], _Ordering]] = {}
        self._next = 0
        for key, document in documents.items():
            self.put(key, document)

    def candidates(self, field: str, values: Iterable[Any]) -> list[Mapping[str, Any]]:
        """Every document whose `field` may equal one of `values`, in collection order."""
        if field not in self._values:
            self._build(field)
        by_value = self._values[field]
        ids = set(self._unhashable[field])
        for value in values:
            ids.update(by_value.get(value, ()))
        return self._in_order(ids)

    def holding(self, keys: Iterable[Any]) -> list[Mapping[str, Any]]:
        """The documents filed under these `_id`s, in collection order."""
        return self._in_order({key for key in keys if key in self._order})

    def _in_order(self, keys: set[Any]) -> list[Mapping[str, Any]]:
        """The documents of these (filed) `_id`s, in collection order."""
        return [self._documents[key] for key in sorted(keys, key=self._order.__getitem__)]

    def ordered(
        self, field: str, value: Any, keys: tuple[str, ...], reverse: bool
    ) -> Iterator[Mapping[str, Any]] | None:
        """Every document whose `field` may equal `value`, in ascending (or descending)
        order of `keys`, which end in `_id`; None if they cannot be ordered natively (see
        `_Ordering`). Read lazily: a page takes only what it returns."""
        if field not in self._values:
            self._build(field)
        if self._unhashable[field]:
            return None
        orderings = self._orderings.setdefault(field, {})
        ordering = orderings.get(keys)
        if ordering is None:
            ordering = orderings[keys] = _Ordering(keys)
            for key, filed in self._filed.items():
                values = filed.get(field)
                if values:
                    ordering.put(key, self._documents[key], values)
        walked = ordering.walk(value, reverse)
        if walked is None:
            return None
        documents = self._documents
        # A document deleted while the walk goes on is not read.
        return (document for key in walked if (document := documents.get(key)) is not None)

    def put(self, key: Any, document: Mapping[str, Any]) -> None:
        if key not in self._order:
            self._order[key] = self._next
            self._next += 1
        filed = self._filed.get(key, {})
        for field in self._values:
            keys = _filing_keys(document, field)
            if field in filed and _same_keys(filed[field], keys):
                # Filed under the same values: only the orders may change.
                for ordering in self._orderings.get(field, {}).values():
                    if keys is not None:
                        ordering.put(key, document, keys)
            else:
                self._unfile_field(key, field)
                self._file(key, document, field, keys)

    def remove(self, key: Any) -> None:
        self._unfile(key)
        self._order.pop(key, None)
        self._filed.pop(key, None)

    def _build(self, field: str) -> None:
        self._values[field] = {}
        self._unhashable[field] = set()
        for key, document in self._documents.items():
            self._file(key, document, field, _filing_keys(document, field))

    def _file(
        self, key: Any, document: Mapping[str, Any], field: str, keys: tuple[Any, ...] | None
    ) -> None:
        filed = self._filed.get(key)
        if filed is None:
            filed = self._filed[key] = {}
        if keys is None:  # a sub-document: any query may match it; check it every time
            self._unhashable[field].add(key)
            filed[field] = None
            return
        by_value = self._values[field]
        for v in keys:
            holders = by_value.get(v)
            if holders is None:
                holders = by_value[v] = set()
            holders.add(key)
        filed[field] = keys
        for ordering in self._orderings.get(field, {}).values():
            ordering.put(key, document, keys)

    def _unfile(self, key: Any) -> None:
        for field in list(self._filed.get(key, {})):
            self._unfile_field(key, field)

    def _unfile_field(self, key: Any, field: str) -> None:
        filed = self._filed.get(key, {})
        if field not in filed:
            return
        keys = filed.pop(field)
        for ordering in self._orderings.get(field, {}).values():
            ordering.remove(key)
        if keys is None:
            self._unhashable[field].discard(key)
            return
        by_value = self._values[field]
        for v in keys:
            holders = by_value.get(v)
            if holders is not None:
                holders.discard(key)
                if not holders:
                    del by_value[v]


def _filing_keys(document: Mapping[str, Any], field: str) -> tuple[Any, ...] | None:
    """The values a document is filed under in `field` (an array's elements too); None
    if one is a sub-document."""
    value = document.get(field)
    values = (value, *value) if isinstance(value, list) else (value,)
    try:
        return tuple({v for v in values if not isinstance(v, list)})
    except TypeError:
        return None


def _same_keys(filed: tuple[Any, ...] | None, keys: tuple[Any, ...] | None) -> bool:
    if filed is None or keys is None:
        return filed is keys
    return len(filed) == len(keys) and set(filed) == set(keys)


# A sort key's kind per field: its type, and for times whether they are aware.
_Kind = tuple[Any, ...]


def _kind_of(values: tuple[Any, ...]) -> _Kind | None:
    """The kind of one document's sort values; None if Python cannot order them as
    MongoDB does (missing, null, mixed numbers, sub-documents, ...)."""
    kinds: list[Any] = []
    for value in values:
        kind = type(value)
        if kind is datetime:
            kinds.append(value.tzinfo is not None)
        elif kind is str or kind is int:
            kinds.append(kind)
        else:
            return None
    return tuple(kinds)


class _Ordering:
    """The documents filed under each value of one field, kept sorted by other fields
    (ending in `_id`, so no two tie), as an index on them would hand them out.

    A value's documents are walked in this order only while all of them hold sort
    values of one kind that Python orders as MongoDB does (`_natively_ordered`); then
    the order is exactly the one mongomock's sort gives them."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._keys = keys
        # value -> kind -> (sort values, key) in order: only one kind's values compare
        self._sorted: dict[Any, dict[_Kind, list[tuple[tuple[Any, ...], Any]]]] = {}
        self._kinds: dict[Any, Counter[_Kind | None]] = {}
        # key -> the values it is filed under, its kind, its sort values
        self._filed: dict[Any, tuple[tuple[Any, ...], _Kind | None, tuple[Any, ...]]] = {}
        # id of a list of entries -> how many walks are reading it: a write then changes a
        # copy, and the walks go on over the list as it was when they started.
        self._walked: dict[int, int] = {}

    def put(self, key: Any, document: Mapping[str, Any], values: tuple[Any, ...]) -> None:
        sort_values = tuple(document.get(field, _ABSENT) for field in self._keys)
        kind = _kind_of(sort_values)
        filed = self._filed.get(key)
        if filed is not None and filed[0] == values and filed[1:] == (kind, sort_values):
            return  # filed as it is: an update that left the sort fields alone
        self.remove(key)
        self._filed[key] = (values, kind, sort_values)
        for value in values:
            kinds = self._kinds.get(value)
            if kinds is None:
                kinds = self._kinds[value] = Counter()
            kinds[kind] += 1
            if kind is not None:
                insort(self._entries(value, kind), (sort_values, key))

    def remove(self, key: Any) -> None:
        filed = self._filed.pop(key, None)
        if filed is None:
            return
        values, kind, sort_values = filed
        for value in values:
            kinds = self._kinds[value]
            kinds[kind] -= 1
            if not kinds[kind]:
                del kinds[kind]
            if kind is not None:
                entries = self._entries(value, kind)
                del entries[bisect_left(entries, (sort_values, key))]

    def _entries(self, value: Any, kind: _Kind) -> list[tuple[tuple[Any, ...], Any]]:
        """The entries of a value and kind, to be changed: a copy if a walk is reading them."""
        by_kind = self._sorted.get(value)
        if by_kind is None:
            by_kind = self._sorted[value] = {}
        entries = by_kind.get(kind)
        if entries is None:
            entries = by_kind[kind] = []
        if id(entries) in self._walked:
            entries = by_kind[kind] = entries[:]
        return entries

    def walk(self, value: Any, reverse: bool) -> Iterator[Any] | None:
        """The keys of the documents filed under `value`, in (reverse) order, read lazily;
        None if they cannot be ordered."""
        kinds = self._kinds.get(value)
        if not kinds:
            return iter(())
        if len(kinds) > 1 or None in kinds:
            return None
        (kind,) = kinds
        assert kind is not None
        return self._walking(self._sorted[value][kind], reverse)

    def _walking(self, entries: list[tuple[tuple[Any, ...], Any]], reverse: bool) -> Iterator[Any]:
        walked = id(entries)
        self._walked[walked] = self._walked.get(walked, 0) + 1
        try:
            for _, key in reversed(entries) if reverse else entries:
                yield key
        finally:
            left = self._walked.pop(walked) - 1
            if left:
                self._walked[walked] = left


def _pinned(filter: Mapping[str, Any], fields: set[str]) -> tuple[str, list[Any]] | None:
    """An indexed field the filter requires to equal one of a few values, and the values."""
    for name, condition in filter.items():
        if name == "$and" and isinstance(condition, list):
            for part in condition:
                found = _pinned(part, fields) if isinstance(part, Mapping) else None
                if found:
                    return found
        elif name in fields:
            if isinstance(condition, _PINNABLE_TYPES):
                return name, [condition]
            if isinstance(condition, Mapping) and all(op.startswith("$") for op in condition):
                if isinstance(condition.get("$eq", ...), _PINNABLE_TYPES):
                    return name, [condition["$eq"]]
                values = condition.get("$in")
                if isinstance(values, list) and all(isinstance(v, _PINNABLE_TYPES) for v in values):
                    return name, values
    return None


def _listed_ids(condition: Any) -> list[Any] | None:
    """The values of `{"$in": [...]}` if each can equal only an `_id` of its own type."""
    if type(condition) is not dict or condition.keys() != {"$in"}:
        return None
    values = condition["$in"]
    if type(values) is not list or not all(type(v) in _SELF_EQUAL_IDS for v in values):
        return None
    return values


def _leading_fields(store: Any) -> set[str]:
    """Top-level fields that lead a declared index, as MongoDB would use them."""
    fields = {_first_field(index.get("key") or ()) for index in store.indexes.values()}
    return {f for f in fields if f and f != "_id" and "." not in f}


def _first_field(key: Any) -> str | None:
    """The first field of an index key: a mapping or (field, direction) pairs."""
    for first in key.keys() if isinstance(key, Mapping) else key:
        return first if isinstance(first, str) else str(first[0])
    return None


def _index_of(store: Any) -> _FieldIndex | None:
    index: _FieldIndex | None = store.__dict__.get("_field_index")
    return index


def _built_index(store: Any) -> _FieldIndex:
    """The store's field index, built on first use."""
    index = _index_of(store)
    if index is None:
        index = store.__dict__["_field_index"] = _FieldIndex(store._documents)
    return index


def _handing_out(store: Any, documents: Iterator[Any]) -> Iterator[Any]:
    """While an update runs, notes the ids of the documents it is handed: they may change
    in place. (An update sets `_changing` before it asks for documents; reads pass as is.)"""
    changing: list[Any] | None = store.__dict__.get("_changing")
    if changing is None:
        return documents
    return _noting(changing, store.__dict__.get("_touching"), documents)


def _noting(
    changing: list[Any], touching: _PathTree | None, documents: Iterator[Any]
) -> Iterator[Any]:
    for document in documents:
        changing.append(document["_id"])
        # mongomock snapshots the document it is handed before it changes it.
        _snapshots.next = None if touching is None else (document, touching)
        yield document


def _iter_documents(self: Any, filter: Any) -> Iterator[Any]:
    store = self._store
    found = _candidates(self, filter)
    if found is None:
        return _handing_out(store, _scan(self, filter))
    candidates, applies = found
    return _handing_out(store, (d for d in candidates if applies(d)))


def _candidates(
    self: Any, filter: Any
) -> tuple[list[Any], Callable[[Mapping[str, Any]], bool]] | None:
    """The documents a filter may match, in collection order, and the test each must
    pass; None if only a scan will find them (no `_id` or indexed field pinned)."""
    store = self._store
    if not isinstance(filter, Mapping) or store.is_empty:
        return None
    key = filter.get("_id")
    if isinstance(key, _EXACT_ID_TYPES):
        document = store._documents.get(key)
        candidates = [] if document is None else [document]
    elif (keys := _listed_ids(key)) is not None:
        candidates = _built_index(store).holding(keys)
        if len(filter) == 1:  # each document filed under a listed id matches: no test
            return candidates, _matches_all
    elif pinned := _pinned(filter, _leading_fields(store)):
        candidates = _built_index(store).candidates(*pinned)
    else:
        return None
    return candidates, _test(filter, bool(candidates))


def _matches_all(document: Mapping[str, Any]) -> bool:
    return True


def _test(filter: Mapping[str, Any], found: bool) -> Callable[[Mapping[str, Any]], bool]:
    """The test each candidate document must pass to match `filter`."""
    if not found:
        _applies(filter, {})  # a malformed filter fails here as it would in a scan
    return _plain_matcher(filter) or (lambda d: bool(_applies(filter, d)))


def _in_index_order(
    self: Any, filter: Any, order: list[tuple[str, int]]
) -> tuple[Iterable[Any], Callable[[Mapping[str, Any]], bool]] | None:
    """Like `_candidates`, but already in the order `order` sorts them, read from the
    field index kept in that order (see `_Ordering`); None unless the filter pins one
    indexed value and the sort is on plain fields, ending in `_id`, in one direction."""
    store = self._store
    if (
        not isinstance(filter, Mapping)
        or store.is_empty
        or isinstance(filter.get("_id"), _EXACT_ID_TYPES)
        or order[-1][0] != "_id"
        or len({direction < 0 for _, direction in order}) != 1
        or any(key.startswith("$") or "." in key for key, _ in order)
    ):
        return None
    pinned = _pinned(filter, _leading_fields(store))
    if pinned is None or len(pinned[1]) != 1:
        return None
    keys = tuple(key for key, _ in order)
    walked = _built_index(store).ordered(pinned[0], pinned[1][0], keys, reverse=order[0][1] < 0)
    if walked is None:
        return None
    first = next(walked, None)
    documents = [] if first is None else itertools.chain((first,), walked)
    return documents, _test(filter, first is not None)


_ABSENT = object()
_BLOCKED = object()  # see `_along`


def _along(document: Any, parts: Sequence[str]) -> Any:
    """The value at a dotted path through sub-documents; `_ABSENT` if a field on the way
    is missing, `_BLOCKED` if something other than a sub-document (an array, a scalar)
    stands on the way, where MongoDB's path rules go beyond plain lookups."""
    held = document
    for part in parts:
        if held is _ABSENT:
            return _ABSENT
        if type(held) is not dict and type(held) is not OrderedDict:
            return _BLOCKED
        held = held.get(part, _ABSENT)
    return held


_NOT_CONTAINERS = frozenset({str, int, float, bool, type(None), datetime, ObjectId, uuid.UUID})


def _plain_matcher(filter: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], bool] | None:
    """A test that checks some of a filter's conditions in plain Python, leaving the rest
    (joined by AND) to mongomock; None if the filter has no such conditions:

    - top-level `field: "text"` and `field: {"$ne": "text"}`: as in MongoDB, a string
      equals a field holding it or an array containing it;
    - `path: {"$lt"|"$lte"|"$gt"|"$gte": number, ...}` and `path: {"$not": {...}}` of
      those, along sub-documents, on a field holding a number.

    Any other value met (arrays on a path, missing fields, NaN, ...) sends the whole
    filter to mongomock."""
    strings: list[tuple[str, str, bool]] = []
    numbers: list[tuple[list[str], list[tuple[Callable[[Any, Any], bool], Any]], bool]] = []
    rest: list[Mapping[str, Any]] = []

    def collect(part: Mapping[str, Any]) -> None:
        for name, condition in part.items():
            if name == "$and" and isinstance(condition, list) and condition:
                for item in condition:
                    collect(item) if isinstance(item, Mapping) else rest.append({name: [item]})
            elif name.startswith("$"):
                rest.append({name: condition})
            elif (compared := _comparisons(condition)) is not None:
                numbers.append((name.split("."), *compared))
            elif "." in name:
                rest.append({name: condition})
            elif type(condition) is str:
                strings.append((name, condition, True))
            elif type(condition) is dict and condition.keys() == {"$ne"}:
                if type(condition["$ne"]) is str:
                    strings.append((name, condition["$ne"], False))
                else:
                    rest.append({name: condition})
            else:
                rest.append({name: condition})

    collect(filter)
    if not strings and not numbers:
        return None
    remainder = {"$and": rest} if rest else None

    def applies(document: Mapping[str, Any]) -> bool:
        for name, text, equal in strings:
            held = document.get(name, _ABSENT)
            if type(held) is list:
                found = text in held
            elif type(held) in _NOT_CONTAINERS or held is _ABSENT:
                found = held == text
            else:  # tuples, sub-documents and the like: let mongomock decide
                return bool(_applies(filter, document))
            if found is not equal:
                return False
        for parts, comparisons, negated in numbers:
            held = _along(document, parts)
            if (type(held) is not int and type(held) is not float) or held != held:
                return bool(_applies(filter, document))  # arrays, null, missing, NaN, ...
            if all(compare(held, operand) for compare, operand in comparisons) is negated:
                return False
        return remainder is None or bool(_applies(remainder, document))

    return applies


_COMPARE: Mapping[str, Callable[[Any, Any], bool]] = {
    "$lt": lt,
    "$lte": le,
    "$gt": gt,
    "$gte": ge,
}


def _comparisons(
    condition: Any,
) -> tuple[list[tuple[Callable[[Any, Any], bool], Any]], bool] | None:
    """`{"$lt": 3, "$gte": 1}` (or that under `$not`) as comparisons and whether they are
    negated; None unless every operator compares with a plain number."""
    negated = False
    if type(condition) is dict and condition.keys() == {"$not"}:
        condition, negated = condition["$not"], True
    if type(condition) is not dict or not condition:
        return None
    comparisons = []
    for op, operand in condition.items():
        compare = _COMPARE.get(op)
        if compare is None or type(operand) not in (int, float) or operand != operand:
            return None
        comparisons.append((compare, operand))
    return comparisons, negated


def _get_dataset(self: Any, spec: Any, sort: Any, fields: Any, as_class: Any) -> Iterator[Any]:
    """mongomock's: the matching documents' copies. It finds the candidates when called (a
    cursor calls it as it first reads), and tests and copies them as they are read."""
    order = list(sort.items() if isinstance(sort, Mapping) else sort or ())
    # The filter as the collection's own `_iter_documents` gets it (mongomock_motor turns
    # Beanie's field expressions into plain strings there).
    filter = _normalized(spec) if order else None
    walked = _in_index_order(self, filter, order) if order else None
    found = walked or (_candidates(self, filter) if order else None)
    if found is None:
        documents: Iterable[Any] = _sorted(list(self._iter_documents(spec)), order)
    else:
        # Few enough to sort before filtering (if not kept sorted), and then a page (a
        # cursor with a limit) tests only the documents up to its end, as MongoDB walking
        # an index would. The order is the same: the sorts are stable and start from
        # collection order.
        candidates, applies = found
        if walked is None:
            candidates = _sorted(list(candidates), order)
        documents = (d for d in candidates if applies(d))
    return _copies(self, documents, fields, as_class)


def _copies(self: Any, documents: Iterable[Any], fields: Any, as_class: Any) -> Iterator[Any]:
    """What `_get_dataset` hands out for the matching `documents`: their copies, projected,
    with UTC-aware times if the client asks for them (mongomock's cursor and `find_one`
    make them aware after copying; here that is done in the same pass)."""
    aware = self.codec_options.tz_aware
    spec = _projection_spec(fields) if as_class is dict else None
    for document in documents:
        if spec is not None:
            yield _projected(document, *spec, aware=aware)
        elif not aware:
            yield self._copy_only_fields(document, fields, as_class)
        elif not fields:
            yield _copy_out_aware(document, as_class)
        else:
            yield _make_aware(self._copy_only_fields(document, fields, as_class))


# A projection as `_projected` applies it: the fields (dotted paths as nested specs, a
# leaf is True), whether they are included or excluded, and whether `_id` is returned.
_Projection = tuple[dict[str, Any], bool, bool]


# What a program asks of the emulator in the same few forms over and over (projections,
# update shapes) is read once per form: at most this many of each kind are remembered.
_REMEMBERED = 256
_UNREAD: Any = object()


def _remembered(memo: dict[Any, Any], key: Any, read: Callable[[Any], Any]) -> Any:
    """`read(key)`, read once while `memo` keeps it."""
    found = memo.get(key, _UNREAD)
    if found is _UNREAD:
        if len(memo) >= _REMEMBERED:
            memo.clear()
        found = memo[key] = read(key)
    return found


_specs: dict[tuple[tuple[Any, Any], ...], _Projection | None] = {}


def _projection_spec(projection: Any) -> _Projection | None:
    """A projection of plain field names (no operators, no `$`, no path inside another)
    with one kind of field, all included or all excluded; None for anything else."""
    if type(projection) is not dict or not projection:
        return None
    items = tuple(projection.items())
    if not all(type(flag) in (int, bool) for _, flag in items):
        return None
    spec: _Projection | None = _remembered(_specs, items, _read_projection)
    return spec


def _read_projection(items: tuple[tuple[Any, Any], ...]) -> _Projection | None:
    with_id = True
    fields: dict[str, Any] = {}
    include: set[bool] = set()
    for path, flag in items:
        if type(flag) not in (int, bool) or flag not in (0, 1) or type(path) is not str:
            return None
        if path == "_id":
            with_id = bool(flag)
            continue
        parts = path.split(".")
        if not all(part and not part.startswith("$") for part in parts):
            return None
        include.add(bool(flag))
        node = fields
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if node is True:
                return None
        if parts[-1] in node:
            return None
        node[parts[-1]] = True
    if len(include) > 1:
        return None
    return fields, include != {False}, with_id


def _projected(
    document: Mapping[str, Any],
    fields: dict[str, Any],
    include: bool,
    with_id: bool,
    *,
    aware: bool = False,
) -> dict[str, Any]:
    """mongomock's `_copy_only_fields` for a `_projection_spec`, into dicts; `aware` makes
    the times UTC-aware in the same pass."""
    copy_out = _copy_out_aware if aware else _copy_out
    if not fields:
        copied = {} if with_id else copy_out(document, dict)
    else:
        copied = _project(document, fields, include, copy_out)
    if not with_id:
        copied.pop("_id", None)
    elif "_id" in document:
        copied["_id"] = copy_out(document["_id"], dict)
    return copied


def _project(
    document: Mapping[str, Any],
    fields: dict[str, Any],
    include: bool,
    copy_out: Callable[[Any, Any], Any],
) -> dict[str, Any]:
    copied: dict[str, Any] = {}
    for key, value in document.items():
        spec = fields.get(key)
        if type(spec) is dict:
            kind = type(value)
            if kind is dict or kind is OrderedDict:
                copied[key] = _project(value, spec, include, copy_out)
            elif kind is list or kind is tuple:
                copied[key] = [_project(v, spec, include, copy_out) for v in value]
        elif (spec is not None) is include:
            copied[key] = copy_out(value, dict)
    return copied


def _sorted(documents: list[Any], order: list[tuple[str, int]]) -> list[Any]:
    """`documents` sorted in place as mongomock sorts them (by `order`, a stable sort)."""
    for key, direction in reversed(order):  # stable sorts, last key first
        if key == "$natural":
            if direction < 0:
                documents.reverse()
            continue
        if key.startswith("$"):
            raise NotImplementedError(f"Sorting by {key} is not implemented in mongomock yet")
        if _natively_ordered(documents, key):
            documents.sort(key=lambda d: d[key], reverse=direction < 0)
        else:
            documents.sort(key=lambda d: _sort_key(key, d), reverse=direction < 0)
    return documents


def _first(self: Any, filter: Any = None, *args: Any, **kwargs: Any) -> Any:
    """`find_one` without building a cursor: the first document `find` would return."""
    if args or not kwargs.keys() <= {"projection", "sort"} or kwargs.get("sort") is not None:
        return _find_one(self, filter, *args, **kwargs)
    if filter is None:
        filter = {}
    if not isinstance(filter, Mapping):
        filter = {"_id": filter}
    projection = kwargs.get("projection")
    key = filter.get("_id")
    if len(filter) == 1 and type(key) in _SELF_EQUAL_IDS and not self._store.is_empty:
        # The document filed under that key is the only one whose _id equals it.
        document = self._store._documents.get(key)
        documents = _copies(self, () if document is None else (document,), projection, dict)
    else:
        documents = self._get_dataset(_stored_times(filter), None, projection, dict)
    return next(iter(documents), None)


def _compute_results(self: Any, with_limit_and_skip: bool = False) -> list[Any]:
    """The cursor's results, as mongomock computes them, but copying out only the
    documents its skip and limit let it return."""
    limit = abs(self._limit or 0) if with_limit_and_skip else 0
    skip = self._skip if with_limit_and_skip else 0
    stop = skip + limit if limit else None
    computed = self.__dict__.get("_computed")
    if computed is None or computed[0] != (self._factory, stop, skip):
        documents = itertools.islice(self._factory(), skip, stop)
        computed = self._computed = ((self._factory, stop, skip), list(documents))
    # The same list each time: the cursor indexes it once per document it hands out.
    results: list[Any] = computed[1]
    return results


def _natively_ordered(documents: list[Any], key: str) -> bool:
    """Every document holds a value of one simple type under `key`, which Python orders
    as MongoDB does (strings by code point, which is UTF-8 byte order)."""
    if not documents or "." in key:
        return False
    first = documents[0].get(key)
    kind = type(first)
    if kind not in _NATIVELY_ORDERED:
        return False
    aware = kind is datetime and first.tzinfo is not None
    for document in documents:
        value = document.get(key)
        if type(value) is not kind or (kind is datetime and (value.tzinfo is not None) != aware):
            return False
    return True


# An update's operators, each with the paths it names, in order: its shape. Programs send
# the same few shapes with other values; what depends only on the shape is remembered.
_Shape = tuple[tuple[Any, tuple[Any, ...]], ...]


def _shape(update: Any) -> _Shape | None:
    """The shape of an update document made of operators over dicts; None otherwise."""
    if type(update) is not dict or not update:
        return None
    shape = []
    for operator, fields in update.items():
        if type(fields) is not dict:
            return None
        shape.append((operator, tuple(fields)))
    return tuple(shape)


# Update operators that change only what their paths name: the value there is replaced,
# or (arrays) gains or loses elements; no element of it is changed in place.
_PATH_OPERATORS = frozenset(
    {
        "$set",
        "$setOnInsert",
        "$unset",
        "$inc",
        "$min",
        "$max",
        "$mul",
        "$push",
        "$addToSet",
        "$pull",
    }
)
# field -> the paths below it an update names ({} where a path ends).
_PathTree = dict[str, "_PathTree"]


def _touched_paths(update: Any) -> _PathTree | None:
    """The fields an update document's operators name, as a tree; None if it may change
    anything else (a pipeline, another operator, a malformed update)."""
    if not isinstance(update, Mapping) or not update:
        return None
    tree: _PathTree = {}
    for operator, fields in update.items():
        if operator not in _PATH_OPERATORS or not isinstance(fields, Mapping) or not fields:
            return None
        for path in fields:
            if not isinstance(path, str):
                return None
            node = tree
            for part in path.split("."):
                node = node.setdefault(part, {})
    return tree


def _copy_along(value: Any, paths: _PathTree) -> Any:
    """A copy of `value` that shares everything except the containers along `paths`:
    each of those is copied (shallowly) at every level. A path that leads into anything
    but a sub-document (an array element, `$` positions) copies that part in full."""
    if type(value) is not dict and type(value) is not OrderedDict:
        return _deepcopy(value)
    copied = copy.copy(value)
    for field, below in paths.items():
        if field in copied:
            held = copied[field]
            if below:
                copied[field] = _copy_along(held, below)
            elif type(held) in (dict, list, OrderedDict):
                copied[field] = copy.copy(held)
    return copied


class _Snapshots:
    """What mongomock's collection module sees as its `copy` module. `deepcopy` of the
    document an update was just handed (see `_handing_out`) copies only along the paths
    the update names; every other deep copy is `_deepcopy`."""

    copy = staticmethod(copy.copy)

    def __init__(self) -> None:
        # The document about to be snapshotted, and the paths its update names.
        self.next: tuple[Any, _PathTree] | None = None

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        upcoming = self.next
        if upcoming is not None and value is upcoming[0]:
            self.next = None
            return _copy_along(value, upcoming[1])
        return _deepcopy(value, memo)


_snapshots = _Snapshots()


def _deepcopy(value: Any, memo: Any = None) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _IMMUTABLE else _deepcopy(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _IMMUTABLE else _deepcopy(v) for v in value]
    if kind is OrderedDict:  # how mongomock stores upserted documents
        return OrderedDict((k, _deepcopy(v)) for k, v in value.items())
    if kind in _IMMUTABLE:
        return value
    return copy.deepcopy(value, memo)


def _copy_out(value: Any, container: Any) -> Any:
    """mongomock's `_copy_field` (a returned document's copy, sub-documents as `container`)."""
    kind = type(value)
    if kind is list:
        return [_copy_out(v, container) for v in value]
    if kind is dict or kind is OrderedDict:
        if container is dict:
            return {k: _copy_out(v, dict) for k, v in value.items()}
        copied = container()
        for k, v in value.items():
            copied[k] = _copy_out(v, container)
        return copied
    if kind in _IMMUTABLE:
        return value
    return _copy_field(value, container)


def _copy_out_aware(value: Any, container: Any) -> Any:
    """`_make_aware(_copy_out(value, container))` in one pass."""
    kind = type(value)
    if kind is dict or kind is OrderedDict:
        copied = {}
        for k, v in value.items():  # scalars inline: most fields of most documents
            held = type(v)
            if held is datetime:
                copied[k] = v.replace(tzinfo=_UTC)
            elif held in _SCALARS:
                copied[k] = v
            else:
                copied[k] = _copy_out_aware(v, container)
        return copied
    if kind is list:
        return [_copy_out_aware(v, container) for v in value]
    if kind is datetime:
        return value.replace(tzinfo=_UTC)
    if kind in _IMMUTABLE:
        return value
    return _make_aware(_copy_field(value, container))


def _stored_times(value: Any) -> Any:
    """mongomock's `patch_datetime_awareness_in_document`: times as naive UTC, to the ms."""
    kind = type(value)
    if kind is dict:  # scalars inline: most fields of most documents and filters
        return {k: v if type(v) in _SCALARS else _stored_times(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [v if type(v) in _SCALARS else _stored_times(v) for v in value]
    if kind is OrderedDict:
        return OrderedDict((k, _stored_times(v)) for k, v in value.items())
    if kind is datetime:
        whole_ms = value.microsecond // 1000 * 1000
        if value.tzinfo:
            return (value - value.utcoffset()).replace(tzinfo=None, microsecond=whole_ms)
        return value.replace(microsecond=whole_ms)
    if kind in _IMMUTABLE:
        return value
    return _patch_times(value)


def _make_aware(value: Any) -> Any:
    """mongomock's `make_datetime_timezone_aware_in_document`: stored times are naive UTC."""
    kind = type(value)
    if kind is dict:
        return {k: _make_aware(v) for k, v in value.items()}
    if kind is list:
        return [_make_aware(v) for v in value]
    if kind is datetime:
        return value.replace(tzinfo=_UTC)
    if kind in _IMMUTABLE:
        return value
    return _aware(value)


# Update operators applied natively to one `_id`-pinned document (see `_updated_in_place`).
_NATIVE_OPERATORS = frozenset({"$set", "$inc", "$push", "$addToSet", "$setOnInsert"})
_INT64 = range(-(2**63), 2**63)
# (operator, path parts, value) for each field an update names.
_Change = tuple[str, tuple[str, ...], Any]


def _plain(value: Any) -> bool:
    """Built only of what BSON stores as is: sub-documents with ordinary keys, arrays,
    strings, 64-bit integers, floats, booleans, null, times and ObjectIds."""
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return True
    if kind is int:
        return value in _INT64
    if kind is dict:
        for k, v in value.items():
            if type(k) is not str or not _ordinary(k):
                return False
            if type(v) not in _PLAIN_SCALARS and not _plain(v):
                return False
        return True
    if kind is list:
        return all(type(v) in _PLAIN_SCALARS or _plain(v) for v in value)
    return False


_PLAIN_SCALARS = frozenset({str, float, bool, type(None), datetime, ObjectId})


def _ordinary(name: str) -> bool:
    return bool(name) and name[0] != "$" and "." not in name and "\0" not in name


def _native_changes(update: Any) -> list[_Change] | None:
    """The changes an update document makes, if `_updated_in_place` can apply them all:
    only the operators above, plain values, paths of ordinary names through
    sub-documents, `$push`/`$addToSet` of one value at a top-level field, `$addToSet` of
    strings only, `$inc` of numbers; no path inside or equal to another."""
    shape = _shape(update)
    named = None if shape is None else _remembered(_native_paths, shape, _read_native_paths)
    if named is None:
        return None
    changes: list[_Change] = []
    values = (value for fields in update.values() for value in fields.values())
    for (operator, parts), value in zip(named, values, strict=True):
        kind = type(value)
        if kind not in _PLAIN_SCALARS and not _plain(value):
            return None
        if operator == "$inc" and kind is not int and kind is not float:
            return None
        if operator == "$addToSet" and kind is not str:
            return None
        changes.append((operator, parts, value))
    return changes


_native_paths: dict[_Shape, list[tuple[str, tuple[str, ...]]] | None] = {}


def _read_native_paths(shape: _Shape) -> list[tuple[str, tuple[str, ...]]] | None:
    """What `_native_changes` needs of a shape: each path's operator and parts, in order;
    None if some operator or path is not one it applies."""
    named: list[tuple[str, tuple[str, ...]]] = []
    paths: set[str] = set()
    for operator, fields in shape:
        if operator not in _NATIVE_OPERATORS or not fields:
            return None
        for path in fields:
            if type(path) is not str or path in paths:
                return None
            parts = tuple(path.split("."))
            if parts[0] == "_id" or not all(map(_ordinary, parts)):
                return None
            if operator in ("$push", "$addToSet") and len(parts) > 1:
                return None
            paths.add(path)
            named.append((operator, parts))
    for path in paths:  # a path inside another conflicts with it
        cut = path.rfind(".")
        while cut > 0:
            path = path[:cut]
            if path in paths:
                return None
            cut = path.rfind(".")
    return named


def _applicable(document: Mapping[str, Any], changes: list[_Change]) -> bool:
    """Every path leads through sub-documents (or nothing) to a value its operator can
    change: a number for `$inc`, an array for `$push`/`$addToSet` (or nothing)."""
    for operator, parts, _ in changes:
        held = _along(document, parts)
        if held is _BLOCKED:
            return False
        if held is _ABSENT:
            continue
        if operator == "$inc" and type(held) not in (int, float):
            return False
        if operator in ("$push", "$addToSet") and type(held) is not list:
            return False
    return True


# How to take back one change `_apply` made: (dict, field, what it held) puts the value
# back, or removes the field if it held `_ABSENT`; (list, None, None) drops the element
# appended last.
_Undo = tuple[Any, Any, Any]


def _apply(document: Any, changes: list[_Change]) -> list[_Undo]:
    """Applies `changes` in order, as mongomock's updaters would (see `_applicable`), and
    returns how to take back each that changed the document, in order: none if the
    document is equal to what it was (mongomock's test: 1 → True is no change)."""
    undo: list[_Undo] = []
    for operator, parts, value in changes:
        if operator == "$setOnInsert":  # the document exists: nothing is inserted
            continue
        parent = document
        for part in parts[:-1]:
            child = parent.get(part, _ABSENT)
            if child is _ABSENT:
                child = parent[part] = {}
                undo.append((parent, part, _ABSENT))
            parent = child
        field = parts[-1]
        held = parent.get(field, _ABSENT)
        if operator == "$set" or operator == "$inc":
            new = value if operator == "$set" else (0 if held is _ABSENT else held) + value
            parent[field] = new
            if held is _ABSENT or (held is not new and held != new):
                undo.append((parent, field, held))
        elif held is _ABSENT:  # $push or $addToSet to a missing field
            parent[field] = [value]
            undo.append((parent, field, _ABSENT))
        elif operator == "$push" or value not in held:
            held.append(value)
            undo.append((held, None, None))
    return undo


def _take_back(undo: list[_Undo]) -> None:
    for container, field, held in reversed(undo):
        if type(container) is list:
            container.pop()
        elif held is _ABSENT:
            del container[field]
        else:
            container[field] = held


def _updated_in_place(
    self: Any,
    spec: Any,
    document: Any,
    upsert: bool = False,
    manipulate: bool = False,
    multi: bool = False,
    check_keys: bool = False,
    **options: Any,
) -> dict[str, Any] | None:
    """mongomock's `_update` for an update that pins `_id` and makes only the changes
    `_native_changes` allows; None (do it mongomock's way) for anything else, and for an
    upsert that finds nothing. Same result, same stored document, same rollback."""
    if manipulate or check_keys or any(options.values()) or type(spec) is not dict:
        return None
    if not isinstance(spec.get("_id"), _EXACT_ID_TYPES):
        return None
    changes = _native_changes(_stored_times(document))
    if changes is None:
        return None
    found = _candidates(self, _stored_times(spec))
    if found is None:
        return None
    candidates, applies = found
    matched = next((d for d in candidates if applies(d)), None)
    if matched is None:
        if upsert:
            return None
        return _update_result(self, matched=False, modified=False)
    if not _applicable(matched, changes):
        return None
    key = matched["_id"]
    # Taken back, not snapshotted: a copy of the document (or of the arrays an update
    # appends to) would cost as much as the document is big.
    undo = _apply(matched, changes)
    modified = bool(undo)
    try:
        if modified:
            self._ensure_uniques(matched)
    except mongomock.DuplicateKeyError:
        _take_back(undo)  # rolled back, as mongomock does
        raise
    finally:
        # Re-filed whatever happened: other errors keep the change (as in mongomock), and
        # a change Python finds equal (1 → True) still changes how the document sorts.
        index = _index_of(self._store)  # looked up now: the check may have built it
        stored = self._store._documents.get(key)
        if index is not None and stored is not None:
            index.put(key, stored)
    return _update_result(self, matched=True, modified=modified)


def _update_result(self: Any, *, matched: bool, modified: bool) -> dict[str, Any]:
    return {
        "connectionId": self.database.client._id,
        "err": None,
        "n": int(matched),
        "nModified": int(modified),
        "ok": 1,
        "upserted": None,
        "updatedExisting": matched,
    }


def _find_one_and_update(
    self: Any,
    filter: Any,
    update: Any,
    projection: Any = None,
    sort: Any = None,
    upsert: bool = False,
    return_document: Any = ReturnDocument.BEFORE,
    **kwargs: Any,
) -> Any:
    """mongomock's, without reading the document before updating it when the caller
    wants it as it is after, finds it by `_id`, and neither sorts nor upserts."""
    if (
        return_document is not ReturnDocument.AFTER
        or sort is not None
        or upsert
        or kwargs
        or not isinstance(filter, Mapping)
        or not isinstance(filter.get("_id"), _EXACT_ID_TYPES)
    ):
        return _find_one_and_update_original(
            self, filter, update, projection, sort, upsert, return_document, **kwargs
        )
    _validate_update(update)
    if not self._update(filter, update)["n"]:
        return None
    return self.find_one({"_id": filter["_id"]}, projection=projection)


def _update_refiling(self: Any, spec: Any, document: Any, *args: Any, **kwargs: Any) -> Any:
    updated = _updated_in_place(self, spec, document, *args, **kwargs)
    if updated is not None:
        return updated
    store = self._store
    outer_changing, outer_touching = (
        store.__dict__.get("_changing"),
        store.__dict__.get("_touching"),
    )
    store._changing, store._touching = [], _touched_paths(document)
    try:
        return _update(self, spec, document, *args, **kwargs)
    finally:
        _snapshots.next = None
        changed = store._changing
        store._changing, store._touching = outer_changing, outer_touching
        if outer_changing is not None:
            outer_changing.extend(changed)
        # Looked up now: the update's own query may have built the index.
        index = _index_of(store)
        if index is not None:
            for key in changed:
                document = store._documents.get(key)
                if document is not None:
                    index.put(key, document)


def _store_set(self: Any, key: Any, document: Any) -> None:
    _set(self, key, document)
    index = _index_of(self)
    if index is not None:
        index.put(key, document)


def _store_delete(self: Any, key: Any) -> None:
    _delete(self, key)
    index = _index_of(self)
    if index is not None:
        index.remove(key)


def _store_drop(self: Any) -> None:
    _drop(self)
    self.__dict__.pop("_field_index", None)


def _remove_expired_documents(self: Any) -> None:
    if not self._ttl_indexes:  # asked on nearly every read: most collections have none
        return
    now = time.monotonic()
    if now - getattr(self, "_last_expiry", 0.0) >= 1.0:
        self._last_expiry = now
        _expire(self)


def install() -> None:
    """Patches mongomock (idempotent; affects every emulated client in the process)."""
    collection, store = mongomock.collection.Collection, mongomock.store.CollectionStore
    setattr(collection, "_iter_documents", _iter_documents)  # noqa: B010
    setattr(collection, "_update", _update_refiling)  # noqa: B010
    setattr(collection, "_get_dataset", _get_dataset)  # noqa: B010
    setattr(collection, "find_one", _first)  # noqa: B010
    setattr(collection, "find_one_and_update", _find_one_and_update)  # noqa: B010
    setattr(mongomock.collection.Cursor, "_compute_results", _compute_results)  # noqa: B010
    setattr(mongomock.collection, "_copy_field", _copy_out)  # noqa: B010
    setattr(mongomock.helpers, "make_datetime_timezone_aware_in_document", _make_aware)  # noqa: B010
    setattr(mongomock.helpers, "patch_datetime_awareness_in_document", _stored_times)  # noqa: B010
    setattr(mongomock.collection, "copy", _snapshots)  # noqa: B010
    # mongomock parses the same version numbers again on every insert and $set.
    parse_once = types.SimpleNamespace(parse=functools.cache(version.parse))
    setattr(mongomock.collection, "version", parse_once)  # noqa: B010
    setattr(store, "__setitem__", _store_set)  # noqa: B010
    setattr(store, "__delitem__", _store_delete)  # noqa: B010
    setattr(store, "drop", _store_drop)  # noqa: B010
    setattr(store, "_remove_expired_documents", _remove_expired_documents)  # noqa: B010


class EmulatedCollection(AsyncMongoMockCollection):  # type: ignore[type-arg]
    # PyMongo's async aggregate() is a coroutine that returns a cursor; Beanie awaits it.
    async def aggregate(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return super().aggregate(*args, **kwargs)


class EmulatedDatabase(AsyncMongoMockDatabase):  # type: ignore[type-arg]
    def get_collection(self, *args: Any, **kwargs: Any) -> EmulatedCollection:
        return EmulatedCollection(self, self.delegate.get_collection(*args, **kwargs))  # type: ignore[arg-type]

    def __getitem__(self, name: str) -> EmulatedCollection:
        return self.get_collection(name)

    # init_beanie passes server-only options the emulator does not know.
    async def list_collection_names(self, *args: Any, **kwargs: Any) -> list[str]:
        kwargs.pop("authorizedCollections", None)
        kwargs.pop("nameOnly", None)
        names: list[str] = self.delegate.list_collection_names(*args, **kwargs)
        return names
