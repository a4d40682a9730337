"""The emulator's shims change how documents are found, never which (services/common/emulator.py).

Every case runs the same operations on two collections of one emulated database: one
declares indexes (so its queries take the `_id` and field-index paths), the other none
(so every query is a plain mongomock scan). Results and stored documents must agree.
"""

from __future__ import annotations

import contextlib
import copy
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import mongomock
import mongomock.helpers
import pytest
from bson import ObjectId
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pymongo import ASCENDING, DESCENDING, ReturnDocument

from services.common import emulator

emulator.install()

# Values that exercise every filing rule: plain, null, missing (absent key), arrays with
# and without the value, sub-documents (unhashable), and a bool that Python finds equal to 1.
VALUES = st.one_of(
    st.sampled_from(["x", "y", "z", None, True, 1, 1.0, 0, 2, -1, 0.5]),
    st.lists(st.sampled_from(["x", "y", None, 1]), max_size=3),
    st.fixed_dictionaries({"k": st.sampled_from(["x", "y", 1, 2.5])}),
)
QUERY_VALUES = st.sampled_from(["x", "y", "z", None, True, False])
FIELDS = st.sampled_from(["a", "b", "c"])


@st.composite
def filters(draw: st.DrawFn) -> dict[str, Any]:
    field = draw(FIELDS)
    value = draw(QUERY_VALUES)
    shape = draw(st.integers(0, 8))
    if shape >= 7:  # numeric comparisons beside a pinned value, maybe negated or dotted
        comparison = {
            draw(st.sampled_from(["$lt", "$lte", "$gt", "$gte"])): draw(
                st.sampled_from([0, 1, 1.5, -1, float("nan"), True, "1"])
            )
        }
        if draw(st.booleans()):
            comparison = {"$not": comparison}
        path = draw(FIELDS) + draw(st.sampled_from(["", "", ".k"]))
        return {field: value, path: comparison}
    if shape == 0:
        return {field: value}
    if shape == 1:
        return {field: {"$eq": value}}
    if shape == 2:
        return {field: {"$in": draw(st.lists(QUERY_VALUES, max_size=3))}}
    if shape == 3:
        return {"$and": [{field: value}, {draw(FIELDS): {"$ne": draw(QUERY_VALUES)}}]}
    if shape == 4:
        return {field: value, "_id": {"$gte": draw(st.integers(0, 8))}}
    if shape == 5:
        return {"_id": draw(st.integers(0, 8)), field: value}
    return {"$or": [{field: value}, {draw(FIELDS): draw(QUERY_VALUES)}]}


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    document: dict[str, Any] = {"_id": draw(st.integers(0, 8))}
    for field in draw(st.sets(FIELDS)):
        document[field] = draw(VALUES)
    return document


@st.composite
def updates(draw: st.DrawFn) -> dict[str, Any]:
    field = draw(FIELDS)
    kind = draw(st.sampled_from(["$set", "$unset", "$push", "$addToSet", "$pull"]))
    if kind == "$unset":
        return {"$unset": {field: ""}}
    return {kind: {field: draw(st.sampled_from(["x", "y", "z", None, True]))}}


OPERATIONS = st.one_of(
    st.tuples(st.just("insert"), documents()),
    st.tuples(st.just("update_one"), filters(), updates(), st.booleans()),
    st.tuples(st.just("update_many"), filters(), updates()),
    st.tuples(st.just("find_one_and_update"), filters(), updates()),
    st.tuples(st.just("replace_one"), filters(), documents()),
    st.tuples(st.just("delete_one"), filters()),
    st.tuples(st.just("delete_many"), filters()),
)


def fresh_database(*, tz_aware: bool = False) -> Any:
    # All clients share one server store: a new database name keeps cases apart.
    return mongomock.MongoClient(tz_aware=tz_aware)[uuid.uuid4().hex]


def apply(collection: Any, operation: tuple[Any, ...]) -> Any:
    # mongomock keeps the objects it is given: each side gets its own copies.
    name, *args = copy.deepcopy(operation)
    try:
        if name == "insert":
            return collection.insert_one(args[0]).inserted_id
        if name == "update_one":
            # Upserts only with a pinned _id: generated ObjectIds would differ between sides.
            upsert = args[2] and isinstance(args[0].get("_id"), int)
            result = collection.update_one(args[0], args[1], upsert=upsert)
            return result.matched_count, result.modified_count, result.upserted_id
        if name == "update_many":
            result = collection.update_many(*args)
            return result.matched_count, result.modified_count
        if name == "find_one_and_update":
            return collection.find_one_and_update(*args, return_document=ReturnDocument.AFTER)
        if name == "find_one_and_update_with":  # before (or after with a projection)
            filter, update, before = args
            if before:
                return collection.find_one_and_update(filter, update)
            return collection.find_one_and_update(
                filter, update, projection={"a": 0}, return_document=ReturnDocument.AFTER
            )
        if name == "replace_one":
            replacement = {k: v for k, v in args[1].items() if k != "_id"}
            return collection.replace_one(args[0], replacement).matched_count
        if name == "delete_one":
            return collection.delete_one(args[0]).deleted_count
        return collection.delete_many(args[0]).deleted_count
    except Exception as error:  # both sides must fail the same way
        return type(error).__name__


PAGE_ORDERS = [[("c", -1), ("_id", -1)], [("b", 1)], [("$natural", -1)]]


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=st.lists(OPERATIONS, max_size=25), probes=st.lists(filters(), max_size=6))
def test_indexed_and_scanned_collections_agree(
    operations: list[tuple[Any, ...]], probes: list[dict[str, Any]]
) -> None:
    database = fresh_database()
    indexed, scanned = database.indexed, database.scanned
    for field in ("a", "b"):
        indexed.create_index([(field, ASCENDING), ("c", ASCENDING)])
    indexed.create_index([("c", ASCENDING)])
    indexed.find_one({"a": "warm the index before any document exists"})
    for operation in operations:
        assert apply(indexed, operation) == apply(scanned, operation), operation
        for probe in probes:
            assert list(indexed.find(probe)) == list(scanned.find(probe)), probe
            for order in PAGE_ORDERS:  # sorted before filtered on the indexed side
                page = list(indexed.find(probe, sort=order, limit=2))
                assert page == list(scanned.find(probe, sort=order, limit=2)), (probe, order)
    assert list(indexed.find()) == list(scanned.find())


def test_a_filter_that_pins_an_indexed_field_reads_only_its_documents() -> None:
    collection = fresh_database().claims
    collection.create_index([("user_id", ASCENDING)])
    collection.insert_many([{"_id": n, "user_id": f"u{n % 10}"} for n in range(1000)])
    collection.find_one({"user_id": "u1"})
    scanned: list[Any] = []
    index = collection._store.__dict__["_field_index"]
    original = index.candidates

    def counting(field: str, values: list[Any]) -> list[Any]:
        found: list[Any] = original(field, values)
        scanned.extend(found)
        return found

    index.candidates = counting
    assert [d["_id"] for d in collection.find({"user_id": "u3"})] == list(range(3, 1000, 10))
    assert len(scanned) == 100


def test_an_update_whose_own_query_builds_the_index_refiles_what_it_changed() -> None:
    collection = fresh_database().players
    collection.create_index([("team", ASCENDING)])
    collection.insert_one({"_id": 1})
    collection.update_many({"team": None}, {"$set": {"team": "red"}})
    assert collection.find_one({"team": "red"}) == {"_id": 1, "team": "red"}
    assert collection.find_one({"team": None}) is None


def test_a_malformed_filter_fails_even_when_the_index_finds_nothing() -> None:
    collection = fresh_database().events
    collection.create_index([("status", ASCENDING)])
    collection.insert_one({"_id": 1, "status": "ACTIVE"})
    with pytest.raises(mongomock.OperationFailure):
        collection.find_one({"title": {"$bogus": 1}, "status": "DRAFT"})


TIMES = st.sampled_from([datetime(2026, 1, 1, h) for h in range(3)])
SORT_VALUES = st.one_of(  # mostly one kind, with strays that make a value unwalkable
    TIMES, TIMES, TIMES, st.sampled_from(["t", 1, None, True, datetime(2026, 1, 1, tzinfo=UTC)])
)
USERS = st.sampled_from(["u1", "u2", None, ["u1", "u2"], {"k": "u1"}])


@st.composite
def timed_documents(draw: st.DrawFn) -> dict[str, Any]:
    document: dict[str, Any] = {"_id": draw(st.integers(0, 12))}
    if draw(st.integers(0, 9)):
        document["user"] = draw(st.one_of(st.just("u1"), USERS))
    if draw(st.integers(0, 19)):
        document["at"] = draw(st.one_of(TIMES, SORT_VALUES))
    return document


TIMED_OPERATIONS = st.one_of(
    st.tuples(st.just("insert"), timed_documents()),
    st.tuples(
        st.just("update_one"),
        st.builds(lambda n: {"_id": n}, st.integers(0, 12)),
        st.one_of(
            st.builds(lambda v: {"$set": {"at": v}}, SORT_VALUES),
            st.builds(lambda v: {"$set": {"user": v}}, USERS),
            st.just({"$unset": {"at": ""}}),
        ),
        st.just(False),
    ),
    st.tuples(st.just("replace_one"), st.just({"user": "u1"}), timed_documents()),
    st.tuples(st.just("delete_one"), st.sampled_from([{"user": "u2"}, {"at": None}])),
)
WALK_PROBES = [{"user": "u1"}, {"user": "u2", "at": {"$ne": None}}, {"user": None}]
WALK_ORDERS = [
    [("at", -1), ("_id", -1)],
    [("at", 1), ("_id", 1)],
    [("_id", -1)],
    [("at", -1), ("_id", 1)],  # mixed directions: sorted the ordinary way
]


@example(  # 1 → True is no change to Python (nor to mongomock), but it sorts elsewhere
    operations=[
        ("insert", {"_id": 2, "user": "u1"}),
        ("insert", {"_id": 1, "user": "u1", "at": 1}),
        ("update_one", {"_id": 1}, {"$set": {"at": True}}, False),
        ("replace_one", {"user": "u1"}, {"_id": 0, "user": "u1", "at": 1}),
    ],
)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=st.lists(TIMED_OPERATIONS, max_size=30))
def test_pages_walked_in_index_order_are_what_mongomock_sorts(
    operations: list[tuple[Any, ...]],
) -> None:
    database = fresh_database()
    indexed, scanned = database.indexed, database.scanned
    indexed.create_index([("user", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)])
    for operation in operations:
        assert apply(indexed, operation) == apply(scanned, operation), operation
        for probe in WALK_PROBES:
            for order in WALK_ORDERS:
                for limit in (0, 3):
                    page = list(indexed.find(probe, sort=order, limit=limit))
                    expected = list(scanned.find(probe, sort=order, limit=limit))
                    assert page == expected, (probe, order, limit)


def test_a_page_of_one_users_newest_documents_is_read_in_index_order() -> None:
    database = fresh_database()
    indexed, scanned = database.indexed, database.scanned
    indexed.create_index([("user", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)])
    documents = [
        {"_id": f"c{n:03}", "user": f"u{n % 3}", "at": datetime(2026, 1, 1, n * 5 % 7)}
        for n in range(300)
    ]
    for collection in (indexed, scanned):
        collection.insert_many(copy.deepcopy(documents))
    for order in (
        [("at", DESCENDING), ("_id", DESCENDING)],
        [("at", ASCENDING), ("_id", ASCENDING)],
    ):
        expected = list(scanned.find({"user": "u1"}).sort(order).limit(5))
        with mock.patch.object(emulator, "_sorted", side_effect=AssertionError("sorted again")):
            assert list(indexed.find({"user": "u1"}).sort(order).limit(5)) == expected


def test_a_walk_in_index_order_reads_the_documents_as_they_were_when_it_started() -> None:
    collection = fresh_database().claims
    collection.create_index([("user", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)])
    collection.insert_many([{"_id": f"c{n}", "user": "u1", "at": n} for n in range(4)])
    order = [("at", DESCENDING), ("_id", DESCENDING)]
    assert [d["_id"] for d in collection.find({"user": "u1"}).sort(order)] == [
        "c3", "c2", "c1", "c0"
    ]  # fmt: skip
    index = collection._store.__dict__["_field_index"]
    walk = index.ordered("user", "u1", ("at", "_id"), reverse=True)
    assert next(walk)["_id"] == "c3"
    collection.insert_one({"_id": "c9", "user": "u1", "at": 9})  # a write during the walk
    collection.delete_one({"_id": "c1"})
    assert [d["_id"] for d in walk] == ["c2", "c0"]  # what is still there of what it saw
    assert [d["_id"] for d in collection.find({"user": "u1"}).sort(order)] == [
        "c9",
        "c3",
        "c2",
        "c0",
    ]


NAIVE_TIMES = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 1, 2))
SIMPLE_VALUES = [
    st.text(max_size=3),
    st.integers(-3, 3),
    NAIVE_TIMES,
    NAIVE_TIMES.map(lambda t: t.replace(tzinfo=UTC)),
]
ANY_VALUE = st.one_of(*SIMPLE_VALUES, st.sampled_from([None, True, 1.5, [], ["b", "a"]]))


@st.composite
def sortable_documents(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Documents whose sort fields mostly hold one simple type; some lack the field or
    hold a stray value, which must fall back to mongomock's comparator."""
    kinds = {field: draw(st.sampled_from(SIMPLE_VALUES)) for field in ("a", "b")}
    documents = []
    for n in range(draw(st.integers(0, 12))):
        document: dict[str, Any] = {"_id": n}
        for field, kind in kinds.items():
            roll = draw(st.integers(0, 19))
            if roll:
                document[field] = draw(kind if roll > 1 else ANY_VALUE)
        documents.append(document)
    return documents


@settings(max_examples=300, deadline=None)
@given(
    documents=sortable_documents(),
    order=st.lists(
        st.tuples(st.sampled_from(["a", "b", "_id", "$natural"]), st.sampled_from([1, -1])),
        min_size=1,
        max_size=3,
    ),
    skip=st.integers(0, 4),
    limit=st.integers(-3, 6),
    projection=st.sampled_from([None, {}, {"a": 1}, {"b": 0}, {"_id": 0, "a": 1}]),
    tz_aware=st.booleans(),
)
def test_sorted_pages_are_what_mongomock_returns(
    documents: list[dict[str, Any]],
    order: list[tuple[str, int]],
    skip: int,
    limit: int,
    projection: dict[str, int] | None,
    tz_aware: bool,
) -> None:
    collection = fresh_database(tz_aware=tz_aware).sorted
    if documents:
        collection.insert_many(documents)
    expected = list(emulator._dataset(collection, {}, order, projection, dict))
    if tz_aware:  # copied (projected) and made aware in one pass
        expected = [emulator._aware(d) for d in expected]
    assert list(collection._get_dataset({}, order, projection, dict)) == expected

    page = collection.find(projection=projection, sort=order, skip=skip, limit=limit)
    reference = collection.find(projection=projection, sort=order, skip=skip, limit=limit)
    assert list(page) == emulator._results(reference, with_limit_and_skip=True)


BSON_LIKE = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(),
        st.binary(max_size=4),
        st.datetimes(),
        st.datetimes(timezones=st.just(UTC)),
        st.builds(ObjectId),
        st.builds(bytearray, st.binary(max_size=4)),
    ),
    lambda inner: (
        st.lists(inner)
        | st.dictionaries(st.text(), inner)
        | st.dictionaries(st.text(), inner).map(OrderedDict)
        | st.tuples(inner)
    ),
)


def mutable_ids(value: Any) -> set[int]:
    """ids of the containers a copy must not share with its original."""
    if isinstance(value, dict):
        return {id(value), *(i for x in value.values() for i in mutable_ids(x))}
    if isinstance(value, list | tuple):
        own = {id(value)} if isinstance(value, list) else set()
        return own | {i for x in value for i in mutable_ids(x)}
    return {id(value)} if isinstance(value, bytearray) else set()


@given(BSON_LIKE)
def test_the_fast_deep_copy_is_a_deep_copy(value: Any) -> None:
    copied = emulator._deepcopy(value)
    assert repr(copied) == repr(copy.deepcopy(value))
    assert not mutable_ids(copied) & mutable_ids(value)


def as_mongomock_computes(module: Any, name: str, original: Any, *args: Any) -> Any:
    """What mongomock's own function returns: it recurses through its module global,
    which the shim replaced."""
    with mock.patch.object(module, name, original):
        return original(*args)


@given(BSON_LIKE, st.sampled_from([dict, OrderedDict]))
def test_documents_are_copied_out_as_mongomock_copies_them(value: Any, container: type) -> None:
    expected = as_mongomock_computes(
        mongomock.collection, "_copy_field", emulator._copy_field, value, container
    )
    copied = emulator._copy_out(value, container)
    assert repr(copied) == repr(expected)
    # Shares with the stored document exactly what mongomock's copy shares (tuples' insides).
    assert mutable_ids(copied) & mutable_ids(value) == mutable_ids(expected) & mutable_ids(value)


@given(BSON_LIKE)
def test_times_are_made_aware_as_mongomock_makes_them(value: Any) -> None:
    expected = as_mongomock_computes(
        mongomock.helpers, "make_datetime_timezone_aware_in_document", emulator._aware, value
    )
    assert repr(emulator._make_aware(value)) == repr(expected)


@given(BSON_LIKE, st.sampled_from([dict, OrderedDict]))
def test_copying_out_aware_is_one_pass_of_both(value: Any, container: type) -> None:
    assert repr(emulator._copy_out_aware(value, container)) == repr(
        emulator._make_aware(emulator._copy_out(value, container))
    )


@given(BSON_LIKE)
def test_incoming_times_are_stored_as_mongomock_stores_them(value: Any) -> None:
    expected = as_mongomock_computes(
        mongomock.helpers, "patch_datetime_awareness_in_document", emulator._patch_times, value
    )
    assert repr(emulator._stored_times(value)) == repr(expected)


@settings(max_examples=300, deadline=None)
@given(
    documents=st.lists(documents(), max_size=6),
    filter=st.one_of(filters(), st.just({}), st.integers(0, 8)),
    projection=st.sampled_from([None, {}, {"a": 1}, {"b": 0}, {"_id": 0, "c": 1}]),
    tz_aware=st.booleans(),
)
def test_find_one_is_the_first_document_find_returns(
    documents: list[dict[str, Any]], filter: Any, projection: Any, tz_aware: bool
) -> None:
    collection = fresh_database(tz_aware=tz_aware).things
    collection.create_index([("a", ASCENDING)])
    for document in documents:
        apply(collection, ("insert", {**document, "at": datetime(2026, 3, 2, 12, 0, 0, 123456)}))
    query = filter if isinstance(filter, dict) else {"_id": filter}
    expected = next(iter(collection.find(query, projection=projection)), None)
    assert collection.find_one(filter, projection=projection) == expected


# Keys that are equal across types (1, 1.0, True) or only within theirs (str, ObjectId).
IDS = st.sampled_from([0, 1, 1.0, True, "0", "1", "a", ObjectId("0" * 24), ObjectId("1" * 24)])


@settings(max_examples=300, deadline=None)
@given(
    ids=st.lists(IDS, max_size=6),
    key=IDS,
    projection=st.sampled_from([None, {}, {"a": 1}, {"a": 0}, {"_id": 0, "at": 1}]),
    tz_aware=st.booleans(),
)
def test_find_one_by_id_is_the_first_document_find_returns(
    ids: list[Any], key: Any, projection: Any, tz_aware: bool
) -> None:
    collection = fresh_database(tz_aware=tz_aware).things
    for n, _id in enumerate(ids):
        with contextlib.suppress(mongomock.DuplicateKeyError):
            collection.insert_one(
                {"_id": _id, "a": n, "at": datetime(2026, 3, 2, 12, 0, 0, 123456)}
            )
    expected = next(iter(collection.find({"_id": key}, projection=projection)), None)
    assert collection.find_one({"_id": key}, projection=projection) == expected
    assert collection.find_one({"_id": key}, projection) == expected  # mongomock's own path


@settings(max_examples=300, deadline=None)
@given(
    ids=st.lists(IDS, max_size=6),
    listed=st.lists(IDS, max_size=4),
    also=st.sampled_from([{}, {"a": {"$gte": 2}}, {"a": 1}]),
    deleted=st.lists(IDS, max_size=2),
)
def test_ids_listed_with_in_are_read_as_a_scan_finds_them(
    ids: list[Any], listed: list[Any], also: dict[str, Any], deleted: list[Any]
) -> None:
    collection = fresh_database().things
    for n, _id in enumerate(ids):
        with contextlib.suppress(mongomock.DuplicateKeyError):
            collection.insert_one({"_id": _id, "a": n})
    collection.delete_many({"_id": {"$in": deleted}})
    collection.insert_one({"_id": "added", "a": 9})  # after the index is built
    query = {"_id": {"$in": [*listed, "added"]}, **also}
    with mock.patch.object(emulator, "_listed_ids", return_value=None):
        expected = list(collection.find(query))
        left = list(collection.find())
    assert list(collection.find(query)) == expected
    assert list(collection.find()) == left


PATHS = st.sampled_from(["a", "a.x", "a.y", "a.x.k", "b", "b.0", "b.$", "u", "_id", "n"])
NESTED_VALUES = st.one_of(
    st.sampled_from(["x", "y", 1, 2, None]),
    st.lists(st.sampled_from(["x", "y", 1]), max_size=3),
    st.fixed_dictionaries({"k": st.sampled_from(["x", "y"])}),
)


@st.composite
def nested_documents(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "_id": draw(st.integers(0, 4)),
        "a": {"x": draw(NESTED_VALUES), "y": draw(st.lists(NESTED_VALUES, max_size=3))},
        "b": draw(st.lists(NESTED_VALUES, max_size=3)),
        "u": draw(st.integers(0, 3)),
        "n": draw(st.integers(0, 3)),
    }


@st.composite
def nested_updates(draw: st.DrawFn) -> dict[str, Any]:
    update: dict[str, Any] = {}
    for _ in range(draw(st.integers(1, 3))):
        operator = draw(
            st.sampled_from(
                ["$set", "$unset", "$inc", "$max", "$push", "$addToSet", "$pull", "$pop"]
            )
        )
        value = draw(st.integers(1, 2) if operator in ("$inc", "$max", "$pop") else NESTED_VALUES)
        update.setdefault(operator, {})[draw(PATHS)] = value
    return update


@example(  # a nested $set: the full-copy side must copy in full on the native path too
    seed=[{"_id": 0, "a": {"x": "x", "y": []}, "b": [], "u": 0, "n": 0}],
    operations=[("update_many", {"_id": 0}, {"$set": {"a.y": "x"}})],
)
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.lists(nested_documents(), max_size=4),
    operations=st.lists(
        st.tuples(
            st.sampled_from(["update_one", "update_many", "find_one_and_update"]),
            st.one_of(st.just({}), st.builds(lambda n: {"_id": n}, st.integers(0, 4))),
            nested_updates(),
        ),
        max_size=12,
    ),
)
def test_updates_snapshotted_along_their_paths_behave_as_with_full_copies(
    seed: list[dict[str, Any]], operations: list[tuple[Any, ...]]
) -> None:
    """Changes, results, and rollbacks (a duplicate unique key, an altered `_id`) match
    what the same updates do when mongomock deep-copies the whole document first."""
    database = fresh_database()
    along, full = database.along, database.full
    for collection in (along, full):
        collection.create_index([("u", ASCENDING)], unique=True)
        for document in seed:
            apply(collection, ("insert", document))
    for operation in operations:
        got = apply(along, operation)
        with mock.patch.object(emulator, "_touched_paths", return_value=None):
            expected = apply(full, operation)
        assert got == expected, operation
        assert list(along.find()) == list(full.find()), operation


def test_an_update_snapshot_shares_only_what_the_update_cannot_change() -> None:
    document: dict[str, Any] = {
        "_id": 1,
        "claimed": {"r1": 3, "r2": 1},
        "attempts": [{"id": "a"}],
        "log": [[1]],
    }
    paths = emulator._touched_paths({"$inc": {"claimed.r1": 1}, "$push": {"attempts": {"id": "b"}}})
    assert paths is not None
    snapshot = emulator._copy_along(document, paths)
    assert snapshot == document
    assert snapshot is not document
    assert snapshot["claimed"] is not document["claimed"]
    assert snapshot["attempts"] is not document["attempts"]
    assert snapshot["attempts"][0] is document["attempts"][0]  # elements are never changed
    assert snapshot["log"] is document["log"]  # not named by the update
    assert emulator._touched_paths({"$rename": {"a": "b"}}) is None
    assert emulator._touched_paths([{"$set": {"a": 1}}]) is None


NATIVE_PATHS = st.sampled_from(
    ["a", "a.x", "a.x.k", "a.z.w", "b", "b.0", "u", "n", "m", "claimed.r1", "a.$", ""]
)
NATIVE_VALUES = st.one_of(
    NESTED_VALUES,
    st.sampled_from([1.5, -1, True, 2**63, datetime(2026, 1, 1, tzinfo=UTC), ("x",)]),
    st.fixed_dictionaries({"$each": st.just(["x"])}),
    st.fixed_dictionaries({"k.j": st.just(1)}),
    # not plain further in: left to mongomock too
    st.fixed_dictionaries({"k": st.sampled_from([2**63, ("x",)])}),
    st.lists(st.sampled_from([2**63, ("x",), "x"]), min_size=1, max_size=2),
)


NATIVE_CHANGES = st.one_of(
    st.tuples(st.just("$set"), st.sampled_from(["n", "m", "a.x", "a.z", "c.d"]), NESTED_VALUES),
    st.tuples(st.just("$set"), st.just("u"), st.integers(0, 3)),
    st.tuples(st.just("$set"), st.just("s"), st.sampled_from(["x", "y"])),
    st.tuples(
        st.just("$inc"), st.sampled_from(["n", "claimed.r1", "claimed.r2"]), st.integers(-2, 2)
    ),
    st.tuples(st.sampled_from(["$push", "$addToSet"]), st.sampled_from(["b", "m"]), st.just("x")),
    st.tuples(st.just("$push"), st.sampled_from(["b", "m"]), NESTED_VALUES),
    st.tuples(st.just("$setOnInsert"), st.just("n"), st.just(9)),
)


@st.composite
def native_updates(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly what the native path applies, with near misses it must leave to mongomock."""
    update: dict[str, Any] = {}
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.integers(0, 3)):
            operator, path, value = draw(NATIVE_CHANGES)
        else:
            operator = draw(
                st.sampled_from(["$set", "$inc", "$push", "$addToSet", "$setOnInsert", "$unset"])
            )
            path, value = draw(NATIVE_PATHS), draw(NATIVE_VALUES)
        update.setdefault(operator, {})[path] = value
    return update


NATIVE_FILTERS = st.one_of(
    st.builds(lambda n: {"_id": n}, st.integers(0, 4)),
    st.builds(lambda n, k: {"_id": n, "n": {"$lte": k}}, st.integers(0, 4), st.integers(0, 3)),
    st.builds(lambda n: {"_id": n, "b": {"$ne": "x"}}, st.integers(0, 4)),
    st.builds(lambda n: {"_id": n, "a.x": {"$bogus": 1}}, st.integers(0, 4)),
)


def apply_natively_or_not(collection: Any, operation: tuple[Any, ...], native: bool) -> Any:
    if native:
        return apply(collection, operation)
    with (
        mock.patch.object(emulator, "_updated_in_place", return_value=None),
        mock.patch.object(
            mongomock.collection.Collection,
            "find_one_and_update",
            emulator._find_one_and_update_original,
        ),
    ):
        return apply(collection, operation)


@example(  # values not plain further in (too big for BSON, tuples): left to mongomock
    seed=[{"_id": 0, "a": {"x": "x", "y": []}, "b": [], "u": 0, "n": 0}],
    operations=[
        ("update_one", {"_id": 0}, {"$set": {"m": [2**63]}}, False),
        ("update_one", {"_id": 0}, {"$set": {"m": {"k": ("x",)}}}, False),
        ("update_one", {"_id": 0}, {"$set": {"m": [("x",)]}}, False),
        ("update_one", {"_id": 0}, {"$set": {"m": {"k": 2**63}}}, False),
    ],
)
@example(  # a path through a string and through an array: left to mongomock
    seed=[{"_id": 0, "a": {"x": "x", "y": ["x"]}, "b": [], "u": 0, "n": 0}],
    operations=[
        ("update_one", {"_id": 0}, {"$set": {"a.x.k": "y"}}, False),
        ("update_one", {"_id": 0}, {"$inc": {"a.y.k": 1}}, False),
    ],
)
@example(  # mongomock keeps a change whose uniqueness check fails on a malformed value
    seed=[],
    operations=[
        ("update_one", {"_id": 3}, {"$set": {"a": "x"}}, True),
        ("update_one", {"_id": 0}, {"$set": {"u": 0}}, False),
        ("update_one", {"_id": 3}, {"$set": {"u": {"$each": ["x"]}, "a": "x"}}, False),
        ("update_one", {"_id": 3}, {"$set": {"s": "x"}}, False),
    ],
)
@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.lists(nested_documents(), max_size=4),
    operations=st.lists(
        st.tuples(
            st.sampled_from(["update_one", "find_one_and_update", "find_one_and_update_before"]),
            NATIVE_FILTERS,
            native_updates(),
            st.booleans(),
        ),
        max_size=10,
    ),
)
def test_updates_applied_natively_are_what_mongomock_does(
    seed: list[dict[str, Any]], operations: list[tuple[Any, ...]]
) -> None:
    """Results, errors, stored documents, rollbacks (a duplicate unique key) and the
    field index all match mongomock's own update machinery."""
    database = fresh_database(tz_aware=True)
    native, reference = database.native, database.reference
    for collection in (native, reference):
        collection.create_index([("u", ASCENDING)], unique=True)
        collection.create_index([("s", ASCENDING)])
        for document in seed:
            apply(collection, ("insert", document))
    for name, filter, update, flag in operations:
        if name == "update_one":
            operation: tuple[Any, ...] = ("update_one", filter, update, flag)
        else:
            operation = ("find_one_and_update", filter, update)
        if name == "find_one_and_update_before" or (name == "find_one_and_update" and flag):
            # other shapes of the call: the shortcut must step aside for them
            before = name == "find_one_and_update_before"
            for collection, is_native in ((native, True), (reference, False)):
                got = apply_natively_or_not(
                    collection,
                    ("find_one_and_update_with", filter, update, before),
                    is_native,
                )
                if is_native:
                    expected_got = got
                else:
                    assert expected_got == got, (filter, update, before)
        else:
            got = apply_natively_or_not(native, operation, True)
            assert got == apply_natively_or_not(reference, operation, False), operation
        assert list(native.find()) == list(reference.find()), operation
        for probe in ({"s": "x"}, {"s": "y"}, {"s": None}):
            assert list(native.find(probe)) == list(reference.find(probe)), probe


def test_a_claim_shaped_update_is_applied_natively() -> None:
    collection = fresh_database().progress
    collection.insert_one({"_id": "p", "claimed": {}, "ids": [], "attempts": [], "count": 0})
    with mock.patch.object(
        emulator, "_update", side_effect=AssertionError("mongomock's update machinery")
    ):
        after = collection.find_one_and_update(
            {"_id": "p", "ids": {"$ne": "r1"}, "claimed.c": {"$not": {"$gt": 9}}},
            {
                "$inc": {"claimed.c": 2, "count": 1},
                "$push": {"ids": "r1", "attempts": {"id": "r1", "at": datetime(2026, 1, 1)}},
            },
            projection={"claimed.c": 1},
            return_document=ReturnDocument.AFTER,
        )
        assert after == {"_id": "p", "claimed": {"c": 2}}
        result = collection.update_one({"_id": "p", "ids": {"$ne": "r1"}}, {"$inc": {"count": 1}})
        assert (result.matched_count, result.modified_count) == (0, 0)
    assert collection.find_one({"_id": "p"}) == {
        "_id": "p",
        "claimed": {"c": 2},
        "ids": ["r1"],
        "attempts": [{"id": "r1", "at": datetime(2026, 1, 1)}],
        "count": 1,
    }


PROJECTIONS = st.dictionaries(
    st.sampled_from(["_id", "a", "a.x", "a.y", "a.x.k", "b", "b.k", "u", "zz", "a.$"]),
    st.sampled_from([0, 1, True, False, 2, {"$slice": 1}]),
    max_size=3,
)


@settings(max_examples=500, deadline=None)
@given(document=nested_documents(), projection=PROJECTIONS)
def test_projections_are_what_mongomock_projects(
    document: dict[str, Any], projection: dict[str, Any]
) -> None:
    collection = fresh_database().projected
    at = datetime(2026, 3, 2, 12)  # stored times are naive: `aware` must see them
    document = {**document, "t": at, "a": {**document["a"], "at": at}}
    spec = emulator._projection_spec(projection)
    try:
        expected: Any = collection._copy_only_fields(document, copy.deepcopy(projection), dict)
    except Exception as error:
        expected = type(error).__name__
    if spec is None:
        return  # left to mongomock
    try:
        got: Any = emulator._projected(document, *spec)
    except Exception as error:
        got = type(error).__name__
    assert got == expected
    if isinstance(got, dict):  # the same fields in the same order
        assert list(got) == list(expected)
        aware = emulator._projected(document, *spec, aware=True)
        assert repr(aware) == repr(emulator._make_aware(expected))


NUMBERS = st.sampled_from([0, 1, 2, -1, 0.5, 1.5, True, None, "1", float("nan"), [1, 3]])
COMPARED = st.dictionaries(
    st.sampled_from(["$lt", "$lte", "$gt", "$gte"]),
    st.sampled_from([0, 1, 1.5, -1, True, "1", float("nan")]),
    min_size=1,
    max_size=2,
)


@settings(max_examples=1500, deadline=None)
@given(
    document=st.fixed_dictionaries(
        {"s": st.sampled_from(["x", "y"])},
        optional={"n": NUMBERS, "d": st.fixed_dictionaries({}, optional={"k": NUMBERS})},
    ),
    path=st.sampled_from(["n", "d.k", "d", "s"]),
    comparison=COMPARED,
    negated=st.booleans(),
    pinned=st.booleans(),
)
def test_comparisons_checked_in_python_match_as_in_mongomock(
    document: dict[str, Any], path: str, comparison: dict[str, Any], negated: bool, pinned: bool
) -> None:
    condition = {"$not": comparison} if negated else comparison
    filter = {"s": "x", path: condition} if pinned else {path: condition}
    matcher = emulator._plain_matcher(filter)
    if matcher is not None:  # None: nothing the matcher checks (a string or NaN operand)
        assert matcher(document) == bool(emulator._applies(filter, document)), filter
