"""The one codec: event models <-> bytes on the wire.

Canonical encoding is Avro single-object encoding (Avro spec, "Single object encoding")::

    C3 01 | CRC-64-AVRO fingerprint of the schema's Parsing Canonical Form, 8 bytes,
            little-endian | Avro binary body

The schemas are the ``.avsc`` files in ``schemas/`` (namespace ``streamrouter.v1``); they
are read once, on first use. The topic-level files (``LLMRequest``, ``LLMResult``,
``DeadLetter``) are self-contained: each record they use is defined inside them, at its
first use, so any Avro library loads them alone. The internal files (``WorkItem``...)
reference types of the files before them by full name (``"streamrouter.v1.Attempt"``).
Every record is fingerprinted in its self-contained form: each named type is inlined at
its first occurrence, as every other Avro implementation sees it.

Frames written with an earlier version of a topic-level schema still decode: each
earlier version is kept, standalone, as ``schemas/history/<name>.v<N>.avsc`` (listed in
:data:`_HISTORY`); a frame with its fingerprint is read with it as the writer's schema
and resolved to the current one (Avro schema resolution: new fields take their
defaults). A new version of a topic-level schema moves the previous file there.

Content blocks (a request's and a result's), tools and JSON-valued fields have an Avro
form of their own (see :mod:`streamrouter.blocks` and :mod:`streamrouter.result_blocks`);
the codec encodes and decodes with :data:`~streamrouter.blocks.AVRO_CONTEXT`.

:func:`decode` also accepts a JSON object with the same fields (first non-blank byte
``{``), for kcat-style producers. Failures are translated into
:class:`~streamrouter.errors.InvalidEventError` subclasses, so callers dead-letter them.
"""

from __future__ import annotations

import functools
import io
import json
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, TypeVar

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint as fastavro_fingerprint
from fastavro.schema import to_parsing_canonical_form
from pydantic import ValidationError

from streamrouter.blocks import AVRO_CONTEXT
from streamrouter.errors import (
    InvalidEventError,
    InvalidRequestError,
    UndecodableEventError,
    UnknownSchemaError,
)
from streamrouter.events import (
    Attempt,
    DeadLetter,
    ErrorInfo,
    Escalation,
    FanInEvent,
    Feedback,
    LLMRequest,
    LLMResult,
    Message,
    Record,
    Route,
    Subtask,
    SubtaskResult,
    WorkItem,
)

__all__ = ["NAMESPACE", "decode", "decode_or_none", "encode", "fingerprint"]

NAMESPACE = "streamrouter.v1"

M = TypeVar("M", bound=Record)

_MAGIC = b"\xc3\x01"
_HEADER_LEN = len(_MAGIC) + 8

# The schema files (``schemas/<name>.avsc``) in dependency order: a file references only
# named types defined in the files before it; the first three reference none.
_SCHEMA_FILES = (
    "LLMRequest",
    "LLMResult",
    "DeadLetter",
    "Escalation",
    "Subtask",
    "SubtaskResult",
    "WorkItem",
    "FanInEvent",
    "Feedback",
)
# Earlier versions of the topic-level schemas (``schemas/history/<stem>.avsc``), each a
# standalone file whose frames decode into the model of the record it names.
# Internal records embed LLMRequest, so their fingerprints moved with it: during a rolling
# deploy the new workers read what the old ones left on the internal topics.
# LLMResult.v1: before the result's content blocks, stop_reason and stop_sequence.
_HISTORY = ("LLMRequest.v1", "WorkItem.v1", "FanInEvent.v1", "LLMResult.v1")
# Every record type; each is defined in exactly one of the files (nested or at the top).
_RECORD_TYPES: tuple[type[Record], ...] = (
    Message,
    LLMRequest,
    Route,
    Attempt,
    ErrorInfo,
    Escalation,
    Subtask,
    SubtaskResult,
    WorkItem,
    LLMResult,
    FanInEvent,
    DeadLetter,
    Feedback,
)
_NAMED_TYPES = frozenset({"record", "error", "enum", "fixed"})

# What fastavro's reader raises on a corrupt or truncated body (fuzzed: EOFError for short
# reads and absurd lengths, UnicodeDecodeError (a ValueError), IndexError for an enum or
# union index out of range); the last two are for absurd sizes on other platforms.
_READ_ERRORS = (EOFError, ValueError, IndexError, OverflowError, MemoryError)


@dataclass(frozen=True, slots=True)
class _Schema:
    model: type[Record]
    name: str  # full name, e.g. streamrouter.v1.LLMRequest
    parsed: Any  # self-contained, parsed by fastavro
    fingerprint: bytes  # CRC-64-AVRO, little-endian, as on the wire


@dataclass(frozen=True, slots=True)
class _Writer:
    """A schema frames are written with: the current one, or an earlier version."""

    reader: _Schema  # what the frame decodes into
    parsed: Any  # the writer's schema, parsed by fastavro


@dataclass(frozen=True, slots=True)
class _Registry:
    by_model: dict[type[Record], _Schema]
    by_fingerprint: dict[bytes, _Writer]


def encode(event: Record) -> bytes:
    """Encode an event as Avro single-object encoding."""
    schema = _schema_of(type(event))
    buffer = io.BytesIO()
    buffer.write(_MAGIC)
    buffer.write(schema.fingerprint)
    schemaless_writer(buffer, schema.parsed, event.model_dump(context=AVRO_CONTEXT))
    return buffer.getvalue()


def decode(raw: bytes | None, model: type[M]) -> M:
    """Decode Avro single-object encoding or a JSON object into ``model``.

    Raises UndecodableEventError (neither format, truncated or corrupt),
    UnknownSchemaError (an Avro fingerprint that is not ``model``'s schema), or
    InvalidRequestError (decoded, but not a valid ``model``).
    """
    if raw is None:
        raise UndecodableEventError("the value is null (a tombstone)")
    if not raw:
        raise UndecodableEventError("empty value")
    if raw[:2] == _MAGIC:
        return _decode_avro(raw, model)
    if raw.lstrip()[:1] == b"{":
        return _decode_json(raw, model)
    raise UndecodableEventError(
        "neither Avro single-object encoding (C3 01) nor a JSON object; "
        f"starts with {raw[:8].hex(' ')}"
    )


def decode_or_none(raw: bytes | None, model: type[M]) -> M | None:
    """``decode``, or None for anything it refuses."""
    try:
        return decode(raw, model)
    except InvalidEventError:
        return None


def fingerprint(model: type[Record]) -> bytes:
    """The 8 fingerprint bytes that follow ``C3 01`` in ``model``'s frames."""
    return _schema_of(model).fingerprint


def _decode_avro(raw: bytes, model: type[M]) -> M:
    expected = _schema_of(model)
    if len(raw) < _HEADER_LEN:
        raise UndecodableEventError(
            f"truncated Avro single-object header: {len(raw)} bytes, need {_HEADER_LEN}"
        )
    found = _registry().by_fingerprint.get(raw[2:_HEADER_LEN])
    if found is None:
        raise UnknownSchemaError(
            f"unknown Avro schema fingerprint {raw[2:_HEADER_LEN].hex()} "
            f"(expected {expected.name}, {expected.fingerprint.hex()})"
        )
    if found.reader is not expected:
        raise UnknownSchemaError(
            f"Avro frame holds a {found.reader.name}, expected {expected.name}"
        )
    body = io.BytesIO(raw)
    body.seek(_HEADER_LEN)
    reader = None if found.parsed is expected.parsed else expected.parsed
    try:
        data = schemaless_reader(body, found.parsed, reader)
    except _READ_ERRORS as exc:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise UndecodableEventError(
            f"corrupt or truncated Avro body for {expected.name}: {detail}"
        ) from exc
    if (trailing := len(raw) - body.tell()) != 0:
        raise UndecodableEventError(f"{trailing} trailing bytes after the {expected.name} body")
    try:
        return model.model_validate(data, context=AVRO_CONTEXT)
    except ValidationError as exc:
        raise InvalidRequestError(f"invalid {model.__name__}: {_summarise(exc)}") from exc


def _decode_json(raw: bytes, model: type[M]) -> M:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        if first["type"] == "json_invalid":
            reason = first.get("ctx", {}).get("error", first["msg"])
            raise UndecodableEventError(f"invalid JSON: {reason}") from exc
        raise InvalidRequestError(f"invalid {model.__name__}: {_summarise(exc)}") from exc


# Clearer words for the wire formats than pydantic's Python-centric ones.
_MESSAGES = {
    "list_type": "Input should be a list",
    "model_type": "Input should be an object",
    "model_attributes_type": "Input should be an object",
    "dict_type": "Input should be an object",
}


def _summarise(exc: ValidationError, limit: int = 3) -> str:
    """``messages[0].role: Input should be 'user' or 'assistant'; ...`` (at most ``limit``)."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    parts = [f"{_path(e['loc'])}: {_message(e['type'], e['msg'])}" for e in errors[:limit]]
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more")
    return "; ".join(parts)


def _message(error_type: str, msg: str) -> str:
    if error_type == "value_error":
        return msg.removeprefix("Value error, ")
    return _MESSAGES.get(error_type, msg)


def _path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, str) and part.startswith("<"):
            continue  # a union's tag (``<image>``), not a field
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path or "(event)"


def _schema_of(model: type[Record]) -> _Schema:
    try:
        return _registry().by_model[model]
    except KeyError:
        raise TypeError(f"{model!r} is not a streamrouter event type") from None


@functools.cache
def _registry() -> _Registry:
    """Read and parse every schema file once, in dependency order."""
    named: dict[str, Any] = {}
    for stem in _SCHEMA_FILES:
        text = (files("streamrouter") / "schemas" / f"{stem}.avsc").read_text("utf-8")
        parse_schema(json.loads(text), named)  # resolves references, fills ``named``
    by_model: dict[type[Record], _Schema] = {}
    for model in _RECORD_TYPES:
        name = f"{NAMESPACE}.{model.__name__}"
        parsed = parse_schema(_inline(name, named, set()))  # self-contained
        canonical_form = to_parsing_canonical_form(parsed)
        # fastavro returns the 8 little-endian bytes as hex (as Java does; see the spec).
        fp = bytes.fromhex(fastavro_fingerprint(canonical_form, "CRC-64-AVRO"))
        by_model[model] = _Schema(model=model, name=name, parsed=parsed, fingerprint=fp)
    by_fingerprint = {s.fingerprint: _Writer(s, s.parsed) for s in by_model.values()}
    by_name = {s.name: s for s in by_model.values()}
    for stem in _HISTORY:
        path = files("streamrouter") / "schemas" / "history" / f"{stem}.avsc"
        parsed = parse_schema(json.loads(path.read_text("utf-8")))  # standalone
        fp = bytes.fromhex(fastavro_fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
        by_fingerprint.setdefault(fp, _Writer(by_name[parsed["name"]], parsed))
    return _Registry(by_model=by_model, by_fingerprint=by_fingerprint)


def _inline(schema: Any, named: dict[str, Any], seen: set[str]) -> Any:
    """Return ``schema`` with each named type defined at its first occurrence.

    ``named`` maps full names to fastavro-parsed schemas; fastavro's own bookkeeping keys
    (``__fastavro_parsed``...) are dropped so the result parses standalone.
    """
    if isinstance(schema, str):
        if schema in named and schema not in seen:
            return _inline(named[schema], named, seen)
        return schema
    if isinstance(schema, list):
        return [_inline(branch, named, seen) for branch in schema]
    out = {key: value for key, value in schema.items() if not key.startswith("__")}
    if out["type"] in _NAMED_TYPES:
        if out["name"] in seen:  # defined inside a file, and already inlined before
            return out["name"]
        seen.add(out["name"])
    else:
        out["type"] = _inline(out["type"], named, seen)
    if "fields" in out:
        out["fields"] = [
            {
                **{k: v for k, v in field.items() if not k.startswith("__")},
                "type": _inline(field["type"], named, seen),
            }
            for field in out["fields"]
        ]
    if "items" in out:
        out["items"] = _inline(out["items"], named, seen)
    if "values" in out:
        out["values"] = _inline(out["values"], named, seen)
    return out
