"""Builds the REST API's OpenAPI 3.0 document from the descriptor set Envoy transcodes with.

    python -m gateway.openapi --out gen/openapi.json      (`make gen` runs it)

Nothing is written by hand: paths and verbs come from each RPC's `google.api.http` rule,
schemas from the messages, summaries and descriptions from the proto comments, security
from the `rewardmesh.authz.v1.access` option (via gateway.catalog, like the RBAC rules).
The JSON is described as the gateway prints and parses it: proto field names
(`preserve_proto_field_names`), enums by name, 64-bit integers as strings, Timestamps as
RFC 3339 strings. The auth service serves the file at /openapi.json and a Swagger UI at
/docs. Swagger UI 4 reads OpenAPI 3.0, hence 3.0.3 rather than 3.1.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Importing the module registers the `http` extension, so it is parsed out of the
# MethodOptions in the descriptor set instead of staying an unknown field.
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

from gateway.catalog import DEFAULT_DESCRIPTOR_SET, Rpc, load_services

Schema = dict[str, Any]
FieldProto = descriptor_pb2.FieldDescriptorProto

OPENAPI_VERSION = "3.0.3"
TITLE = "Reward Mesh API"
API_VERSION = "v1"
STATUS_MESSAGE = ".google.rpc.Status"
SECURITY_SCHEME = "bearerAuth"
JSON = "application/json"

# Statuses any RPC may answer with, the canonical codes behind them and their component
# names. Envoy maps gRPC codes to HTTP statuses (convert_grpc_status) and its own replies
# to the same JSON body (local_reply_config in gateway.render).
ERROR_RESPONSES: dict[int, tuple[str, str]] = {
    400: ("InvalidArgument", "INVALID_ARGUMENT, FAILED_PRECONDITION or OUT_OF_RANGE"),
    401: ("Unauthenticated", "UNAUTHENTICATED: missing, invalid or expired token"),
    403: ("PermissionDenied", "PERMISSION_DENIED: the caller's role may not do this"),
    404: ("NotFound", "NOT_FOUND"),
    409: ("AlreadyExists", "ALREADY_EXISTS or ABORTED, e.g. a request_id reused"),
    429: ("ResourceExhausted", "RESOURCE_EXHAUSTED: rate limited or locked out"),
    500: ("Internal", "INTERNAL: a bug; the details are in the service's log"),
    503: ("Unavailable", "UNAVAILABLE: a service is down or not ready; retry later"),
}

_INT32_RANGE = {"minimum": -(2**31), "maximum": 2**31 - 1}
_INT32: Schema = {"type": "integer", "format": "int32", **_INT32_RANGE}
_UINT32: Schema = {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1}
# proto3 JSON prints 64-bit integers as strings: JavaScript numbers cannot hold them.
_INT64: Schema = {"type": "string", "format": "int64", "pattern": "^-?[0-9]{1,19}$"}
_UINT64: Schema = {"type": "string", "format": "uint64", "pattern": "^[0-9]{1,20}$"}
_FLOAT: Schema = {"type": "number", "format": "float"}
_DOUBLE: Schema = {"type": "number", "format": "double"}
_BOOL: Schema = {"type": "boolean"}
_STRING: Schema = {"type": "string"}
_BYTES: Schema = {"type": "string", "format": "byte"}

_SCALARS: dict[int, Schema] = {
    FieldProto.TYPE_DOUBLE: _DOUBLE,
    FieldProto.TYPE_FLOAT: _FLOAT,
    FieldProto.TYPE_INT64: _INT64,
    FieldProto.TYPE_SINT64: _INT64,
    FieldProto.TYPE_SFIXED64: _INT64,
    FieldProto.TYPE_UINT64: _UINT64,
    FieldProto.TYPE_FIXED64: _UINT64,
    FieldProto.TYPE_INT32: _INT32,
    FieldProto.TYPE_SINT32: _INT32,
    FieldProto.TYPE_SFIXED32: _INT32,
    FieldProto.TYPE_UINT32: _UINT32,
    FieldProto.TYPE_FIXED32: _UINT32,
    FieldProto.TYPE_BOOL: _BOOL,
    FieldProto.TYPE_STRING: _STRING,
    FieldProto.TYPE_BYTES: _BYTES,
}

# Well-known types have a JSON form of their own instead of an object of their fields.
_WELL_KNOWN: dict[str, Schema] = {
    ".google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    ".google.protobuf.Duration": {
        "type": "string",
        "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$",
        "example": "1.5s",
    },
    ".google.protobuf.FieldMask": {"type": "string", "example": "title,status"},
    ".google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    ".google.protobuf.Value": {"description": "Any JSON value."},
    ".google.protobuf.ListValue": {"type": "array", "items": {}},
    ".google.protobuf.Empty": {"type": "object"},
    ".google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
        "additionalProperties": True,
    },
    ".google.protobuf.DoubleValue": _DOUBLE,
    ".google.protobuf.FloatValue": _FLOAT,
    ".google.protobuf.Int64Value": _INT64,
    ".google.protobuf.UInt64Value": _UINT64,
    ".google.protobuf.Int32Value": _INT32,
    ".google.protobuf.UInt32Value": _UINT32,
    ".google.protobuf.BoolValue": _BOOL,
    ".google.protobuf.StringValue": _STRING,
    ".google.protobuf.BytesValue": _BYTES,
}

# Paths of declarations inside FileDescriptorProto / DescriptorProto / ServiceDescriptorProto
# (the field numbers SourceCodeInfo.Location.path is made of).
_FILE_MESSAGE, _FILE_ENUM, _FILE_SERVICE = 4, 5, 6
_MESSAGE_FIELD, _MESSAGE_NESTED, _MESSAGE_ENUM = 2, 3, 4
_ENUM_VALUE, _SERVICE_METHOD = 2, 2

_PATH_PARAM = re.compile(r"\{([^}=]+)(?:=[^}]*)?\}")


@dataclass(frozen=True)
class _Message:
    proto: descriptor_pb2.DescriptorProto
    comment: str
    field_comments: dict[str, str]


@dataclass(frozen=True)
class _Enum:
    proto: descriptor_pb2.EnumDescriptorProto
    comment: str
    value_comments: dict[str, str]


@dataclass(frozen=True)
class _Method:
    service: str  # "rewardmesh.event.v1.EventService"
    proto: descriptor_pb2.MethodDescriptorProto
    comment: str

    @property
    def grpc_path(self) -> str:
        return f"/{self.service}/{self.proto.name}"


@dataclass
class _Descriptors:
    """Every message and enum of the set by full name (".pkg.Name"), with its comments."""

    messages: dict[str, _Message] = field(default_factory=dict)
    enums: dict[str, _Enum] = field(default_factory=dict)
    services: dict[str, str] = field(default_factory=dict)  # full name -> comment
    methods: list[_Method] = field(default_factory=list)

    @classmethod
    def read(
        cls, files: Sequence[descriptor_pb2.FileDescriptorProto], packages: set[str]
    ) -> _Descriptors:
        found = cls()
        for file in files:
            comments = {
                tuple(location.path): _clean(location.leading_comments)
                for location in file.source_code_info.location
                if location.leading_comments
            }
            scope = f".{file.package}" if file.package else ""
            for i, message in enumerate(file.message_type):
                found._add_message(message, scope, (_FILE_MESSAGE, i), comments)
            for i, enum in enumerate(file.enum_type):
                found._add_enum(enum, scope, (_FILE_ENUM, i), comments)
            if file.package not in packages:
                continue
            for i, service in enumerate(file.service):
                full_name = f"{file.package}.{service.name}"
                found.services[full_name] = comments.get((_FILE_SERVICE, i), "")
                found.methods.extend(
                    _Method(
                        full_name, method, comments.get((_FILE_SERVICE, i, _SERVICE_METHOD, j), "")
                    )
                    for j, method in enumerate(service.method)
                )
        return found

    def _add_message(
        self,
        message: descriptor_pb2.DescriptorProto,
        scope: str,
        path: tuple[int, ...],
        comments: dict[tuple[int, ...], str],
    ) -> None:
        name = f"{scope}.{message.name}"
        self.messages[name] = _Message(
            message,
            comments.get(path, ""),
            {
                f.name: comments[(*path, _MESSAGE_FIELD, i)]
                for i, f in enumerate(message.field)
                if (*path, _MESSAGE_FIELD, i) in comments
            },
        )
        for i, nested in enumerate(message.nested_type):
            self._add_message(nested, name, (*path, _MESSAGE_NESTED, i), comments)
        for i, enum in enumerate(message.enum_type):
            self._add_enum(enum, name, (*path, _MESSAGE_ENUM, i), comments)

    def _add_enum(
        self,
        enum: descriptor_pb2.EnumDescriptorProto,
        scope: str,
        path: tuple[int, ...],
        comments: dict[tuple[int, ...], str],
    ) -> None:
        self.enums[f"{scope}.{enum.name}"] = _Enum(
            enum,
            comments.get(path, ""),
            {
                v.name: comments[(*path, _ENUM_VALUE, i)]
                for i, v in enumerate(enum.value)
                if (*path, _ENUM_VALUE, i) in comments
            },
        )


def _clean(comment: str) -> str:
    """A proto comment as prose: lines of a paragraph joined, paragraphs kept apart."""
    paragraphs = re.split(r"\n\s*\n", comment.strip())
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def _summary(comment: str, rpc_name: str) -> str:
    """The comment's first sentence, else the RPC name in words ("GetEvent" -> "Get event")."""
    if comment:
        # A sentence ends at a full stop before a capital letter, so "e.g. x" does not.
        first = re.split(r"(?<=\.)\s+(?=[A-Z])", comment.split("\n\n", 1)[0], maxsplit=1)[0]
        return first.removesuffix(".")
    words = re.findall(r"[A-Z][a-z0-9]*", rpc_name)
    return " ".join([words[0], *(w.lower() for w in words[1:])]) if words else rpc_name


class _Builder:
    def __init__(self, descriptors: _Descriptors, access: dict[str, Rpc]) -> None:
        self._d = descriptors
        self._access = access
        self._referenced: dict[str, None] = {}  # full names needing a component, in order

    def document(self) -> Schema:
        paths: dict[str, dict[str, Schema]] = {}
        for method in self._d.methods:
            for verb, template, operation in self._operations(method):
                path_item = paths.setdefault(template, {})
                if verb in path_item:
                    raise ValueError(f"{verb.upper()} {template} is bound twice")
                path_item[verb] = operation
        self._ref(STATUS_MESSAGE)
        return {
            "openapi": OPENAPI_VERSION,
            "info": {
                "title": TITLE,
                "version": API_VERSION,
                "description": (
                    "REST surface of the Reward Mesh gateway, generated from the protos. "
                    "Every RPC is also callable over native gRPC on the same port. JSON uses "
                    "the proto field names; errors are google.rpc.Status objects."
                ),
            },
            # Relative: the document is served by the gateway it describes.
            "servers": [{"url": "/"}],
            "tags": [
                {"name": name.rsplit(".", 1)[-1], "description": comment}
                for name, comment in self._d.services.items()
            ],
            "paths": paths,
            "components": {
                "schemas": self._components(),
                "responses": {
                    name: {
                        "description": description,
                        "content": {JSON: {"schema": self._ref(STATUS_MESSAGE)}},
                    }
                    for name, description in ERROR_RESPONSES.values()
                },
                "securitySchemes": {
                    SECURITY_SCHEME: {
                        "type": "http",
                        "scheme": "bearer",
                        "bearerFormat": "JWT",
                        "description": "The access_token from Login, RefreshToken or "
                        "IssueServiceToken.",
                    }
                },
            },
        }

    # --- operations -------------------------------------------------------------------

    def _operations(self, method: _Method) -> Iterator[tuple[str, str, Schema]]:
        options = method.proto.options
        if not options.HasExtension(annotations_pb2.http):
            return
        rule = options.Extensions[annotations_pb2.http]
        rules = [rule, *rule.additional_bindings]
        for index, binding in enumerate(rules):
            verb = binding.WhichOneof("pattern")
            if verb is None or verb == "custom":
                raise ValueError(f"{method.grpc_path}: unsupported http pattern {verb!r}")
            template = getattr(binding, verb)
            operation_id = method.proto.name if index == 0 else f"{method.proto.name}{index + 1}"
            yield (
                verb,
                _PATH_PARAM.sub(r"{\1}", template),
                self._operation(method, binding, template, operation_id),
            )

    def _operation(
        self, method: _Method, rule: http_pb2.HttpRule, template: str, operation_id: str
    ) -> Schema:
        # Every request and response message gets a component, bound in its body or not.
        self._ref(method.proto.input_type)
        request = self._message(method.proto.input_type)
        path_params = _PATH_PARAM.findall(template)
        bound = {name.split(".", 1)[0] for name in path_params}
        free = [f for f in request.proto.field if f.name not in bound]
        parameters = [self._path_parameter(method.proto.input_type, name) for name in path_params]
        operation: Schema = {
            "tags": [method.service.rsplit(".", 1)[-1]],
            "operationId": operation_id,
            "summary": _summary(method.comment, method.proto.name),
            "description": self._description(method),
        }
        body: Schema | None = None
        if rule.body == "*":
            body = self._request_body(method.proto.input_type, free, bound)
        elif rule.body:
            (body_field,) = [f for f in free if f.name == rule.body]
            body = {"content": {JSON: {"schema": self._field_schema(body_field)}}}
            free = [f for f in free if f is not body_field]
        if rule.body != "*":
            parameters += [
                self._query_parameter(method.proto.input_type, f) for f in free if _is_plain(f)
            ]
        if parameters:
            operation["parameters"] = parameters
        if body is not None:
            operation["requestBody"] = body
        operation["responses"] = {
            "200": {
                "description": "OK",
                "content": {JSON: {"schema": self._response_schema(method, rule)}},
            },
            **{
                str(status): {"$ref": f"#/components/responses/{name}"}
                for status, (name, _) in ERROR_RESPONSES.items()
            },
        }
        public = self._access[method.grpc_path].public
        operation["security"] = [] if public else [{SECURITY_SCHEME: []}]
        return operation

    def _description(self, method: _Method) -> str:
        rpc = self._access[method.grpc_path]
        who = "Public: no token needed." if rpc.public else f"Roles: {', '.join(rpc.roles)}."
        grpc = f"gRPC: `{method.service}/{method.proto.name}`."
        return "\n\n".join(part for part in (method.comment, who, grpc) if part)

    def _request_body(self, message_name: str, free: list[FieldProto], bound: set[str]) -> Schema:
        if bound:
            message = self._message(message_name)
            schema: Schema = {
                "type": "object",
                "properties": {f.name: self._property(message, f) for f in free},
            }
        else:
            schema = self._ref(message_name)
        # proto3: every field may be left out, so an empty body is a valid request.
        return {"required": False, "content": {JSON: {"schema": schema}}}

    def _response_schema(self, method: _Method, rule: http_pb2.HttpRule) -> Schema:
        if not rule.response_body:
            return self._ref(method.proto.output_type)
        message = self._message(method.proto.output_type)
        (body_field,) = [f for f in message.proto.field if f.name == rule.response_body]
        return self._field_schema(body_field)

    def _path_parameter(self, message_name: str, name: str) -> Schema:
        *parents, leaf = name.split(".")
        for parent in parents:
            message_name = self._field(message_name, parent).type_name
        proto_field = self._field(message_name, leaf)
        schema = self._field_schema(proto_field)
        if schema.get("type") == "string":
            schema = {**schema, "minLength": 1}
        return {
            "name": name,
            "in": "path",
            "required": True,
            "schema": schema,
            **self._described(self._message(message_name), proto_field),
        }

    def _query_parameter(self, message_name: str, proto_field: FieldProto) -> Schema:
        parameter: Schema = {
            "name": proto_field.name,
            "in": "query",
            "required": False,
            "schema": self._field_schema(proto_field),
            **self._described(self._message(message_name), proto_field),
        }
        if proto_field.label == FieldProto.LABEL_REPEATED:
            parameter.update(style="form", explode=True)
        return parameter

    # --- schemas ----------------------------------------------------------------------

    def _components(self) -> dict[str, Schema]:
        """Every message and enum referenced so far (and, transitively, theirs)."""
        schemas: dict[str, Schema] = {}
        done: set[str] = set()
        while len(done) < len(self._referenced):
            for full_name in list(self._referenced):
                if full_name in done:
                    continue
                done.add(full_name)
                schemas[_component_name(full_name)] = (
                    self._enum_schema(full_name)
                    if full_name in self._d.enums
                    else self._message_schema(full_name)
                )
        names = [_component_name(n) for n in self._referenced]
        if len(set(names)) != len(names):
            raise ValueError(f"two messages or enums share a component name: {sorted(names)}")
        return schemas

    def _message_schema(self, full_name: str) -> Schema:
        message = self._message(full_name)
        schema: Schema = {"type": "object"}
        if message.comment:
            schema["description"] = message.comment
        schema["properties"] = {f.name: self._property(message, f) for f in message.proto.field}
        return schema

    def _enum_schema(self, full_name: str) -> Schema:
        enum = self._d.enums[full_name]
        lines = [
            f"- `{v.name}`: {enum.value_comments[v.name]}"
            for v in enum.proto.value
            if v.name in enum.value_comments
        ]
        description = "\n".join([enum.comment, *lines] if enum.comment else lines)
        schema: Schema = {"type": "string", "enum": [v.name for v in enum.proto.value]}
        if description:
            schema["description"] = description
        return schema

    def _property(self, message: _Message, proto_field: FieldProto) -> Schema:
        schema = self._field_schema(proto_field)
        described = self._described(message, proto_field)
        if not described:
            return schema
        if "$ref" in schema:
            # OpenAPI 3.0 ignores a $ref's siblings; allOf keeps the description visible.
            return {"allOf": [schema], **described}
        return {**schema, **described}

    def _described(self, message: _Message, proto_field: FieldProto) -> Schema:
        text = message.field_comments.get(proto_field.name, "")
        if proto_field.proto3_optional:
            note = "Optional: left out when unset, and leaving it out changes nothing."
            text = f"{text} {note}".strip()
        return {"description": text} if text else {}

    def _field_schema(self, proto_field: FieldProto) -> Schema:
        if proto_field.label != FieldProto.LABEL_REPEATED:
            return self._value_schema(proto_field)
        entry = self._d.messages.get(proto_field.type_name)
        if entry is not None and entry.proto.options.map_entry:
            value = next(f for f in entry.proto.field if f.name == "value")
            return {"type": "object", "additionalProperties": self._value_schema(value)}
        return {"type": "array", "items": self._value_schema(proto_field)}

    def _value_schema(self, proto_field: FieldProto) -> Schema:
        if proto_field.type == FieldProto.TYPE_ENUM:
            return self._ref(proto_field.type_name)
        if proto_field.type in (FieldProto.TYPE_MESSAGE, FieldProto.TYPE_GROUP):
            well_known = _WELL_KNOWN.get(proto_field.type_name)
            return dict(well_known) if well_known is not None else self._ref(proto_field.type_name)
        return dict(_SCALARS[proto_field.type])

    def _ref(self, full_name: str) -> Schema:
        if full_name not in self._d.messages and full_name not in self._d.enums:
            raise ValueError(f"{full_name} is not in the descriptor set")
        self._referenced.setdefault(full_name, None)
        return {"$ref": f"#/components/schemas/{_component_name(full_name)}"}

    def _message(self, full_name: str) -> _Message:
        return self._d.messages[full_name]

    def _field(self, message_name: str, name: str) -> FieldProto:
        for proto_field in self._message(message_name).proto.field:
            if proto_field.name == name:
                return proto_field
        raise ValueError(f"{message_name} has no field {name!r}")


def _is_plain(proto_field: FieldProto) -> bool:
    """A scalar or enum (or a list of them): what a query parameter can carry."""
    return proto_field.type not in (FieldProto.TYPE_MESSAGE, FieldProto.TYPE_GROUP)


def _component_name(full_name: str) -> str:
    """`.rewardmesh.event.v1.Event` -> `Event`; `.google.rpc.Status` -> `Status`."""
    return full_name.rsplit(".", 1)[-1]


def build(descriptor_set: Path = DEFAULT_DESCRIPTOR_SET) -> Schema:
    """The OpenAPI document of every mesh RPC with an HTTP binding in `descriptor_set`."""
    services = load_services(descriptor_set)
    access = {rpc.grpc_path: rpc for service in services for rpc in service.rpcs}
    packages = {service.full_name.rsplit(".", 1)[0] for service in services}
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes()).file
    return _Builder(_Descriptors.read(files, packages), access).document()


def render(descriptor_set: Path = DEFAULT_DESCRIPTOR_SET) -> str:
    return json.dumps(build(descriptor_set), indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.openapi",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, help="write here instead of stdout")
    parser.add_argument("--descriptor", type=Path, default=DEFAULT_DESCRIPTOR_SET)
    args = parser.parse_args(argv)
    text = render(args.descriptor)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
