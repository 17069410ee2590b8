from __future__ import annotations

import io
import json
import shutil
import struct
import typing
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import avro.io
import avro.name
import avro.schema
import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint as fastavro_fingerprint
from fastavro.schema import load_schema, to_parsing_canonical_form
from pydantic import BaseModel

from streamrouter import blocks, codec, events, result_blocks
from streamrouter.blocks import AVRO_CONTEXT
from streamrouter.codec import decode, encode, fingerprint
from streamrouter.errors import InvalidRequestError, UndecodableEventError, UnknownSchemaError
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

SCHEMAS = Path(codec.__file__).parent / "schemas"
NOW = datetime(2026, 3, 1, 12, 0, 0, 123_000, tzinfo=UTC)

RECORD_TYPES: list[type[Record]] = [
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
]
# Records of the Messages API's shapes inside LLMRequest, mirrored one to one.
PARAM_TYPES: list[type[BaseModel]] = [
    blocks.CacheControl,
    blocks.CitationsConfig,
    blocks.Tool,
    blocks.ToolChoice,
    blocks.Thinking,
]
# Flat records: one Avro record holds every shape of a tagged union (blocks.py).
FLAT_RECORDS: dict[str, list[type[BaseModel]]] = {
    "ContentBlock": [
        blocks.TextBlock,
        blocks.ImageBlock,
        blocks.DocumentBlock,
        blocks.ToolUseBlock,
        blocks.ToolResultBlock,
        blocks.ThinkingBlock,
        blocks.RedactedThinkingBlock,
    ],
    "Source": [
        blocks.Base64ImageSource,
        blocks.URLImageSource,
        blocks.Base64PDFSource,
        blocks.PlainTextSource,
        blocks.URLPDFSource,
    ],
    "ResultBlock": [
        result_blocks.ResultTextBlock,
        result_blocks.ResultToolUseBlock,
        result_blocks.ResultThinkingBlock,
        result_blocks.ResultRedactedThinkingBlock,
    ],
}
# The fingerprint of LLMRequest frames before content blocks (schemas/history/LLMRequest.v1).
LLMREQUEST_V1_FINGERPRINT = "180cb4b8112c707d"
# The fingerprint of LLMResult frames before the result's content blocks, stop_reason and
# stop_sequence (schemas/history/LLMResult.v1).
LLMRESULT_V1_FINGERPRINT = "7cd040c5847f6bb2"
# The schemas of the topics users publish to or read: each file stands alone.
TOPIC_LEVEL: list[type[Record]] = [LLMRequest, LLMResult, DeadLetter, Feedback]
# The schema files in the order they load: a file references only types of the files before.
SCHEMA_FILES = [
    "LLMRequest",
    "LLMResult",
    "DeadLetter",
    "Escalation",
    "Subtask",
    "SubtaskResult",
    "WorkItem",
    "FanInEvent",
    "Feedback",
]

REQUEST = LLMRequest(
    request_id="req-1",
    tenant="acme",
    task_type="code_review",
    mode="orchestrate",
    tier="opus",
    system="You review code.",
    messages=[
        Message(role="user", content="Review this — ünïcode ✓"),
        Message(role="assistant", content="Sure."),
        Message(role="user", content="Thanks"),
    ],
    max_tokens=2048,
    metadata={"team": "infra", "ticket": "X-1"},
    created_at=NOW,
)
ATTEMPT = Attempt(
    tier="haiku",
    model="claude-haiku-4-5",
    outcome="escalated",
    input_tokens=120,
    output_tokens=40,
    cache_read_input_tokens=1000,
    cache_creation_input_tokens=50,
    cost_usd=0.00042,
    latency_ms=312.5,
    confidence=0.61,
    subtask_id="sub-2",
)
ROUTE = Route(strategy="classifier", complexity="hard", reason="classifier said hard (0.91)")
# A natural answer: every type of result block, in the dicts the SDK's blocks dump to.
BLOCKS_RESULT = LLMResult.model_validate(
    {
        "request_id": "req-tool",
        "tenant": "acme",
        "status": "ok",
        "answer": "Let me check — ✓",
        "tier": "sonnet",
        "model": "claude-sonnet-4-6",
        "content": [
            {"type": "thinking", "thinking": "The user wants…", "signature": "c2lnbmF0dXJl"},
            {"type": "redacted_thinking", "data": "ZW5jcnlwdGVk"},
            {"type": "text", "text": "Let me check — ✓", "citations": None},
            {
                "type": "tool_use",
                "id": "toolu_01",
                "name": "get_weather",
                "input": {"city": "Zürich", "days": [1, 2], "units": None, "nested": {}},
                "caller": None,
            },
            {"type": "tool_use", "id": "toolu_02", "name": "now", "input": {}},
        ],
        "stop_reason": "tool_use",
        "completed_at": NOW,
    }
)

PNG_1PX = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
BLOCKS_REQUEST = LLMRequest.model_validate(
    {
        "request_id": "req-blocks",
        "system": [
            {"type": "text", "text": "You read documents.", "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG_1PX},
                    },
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "memo"},
                        "title": "Memo",
                        "context": "internal",
                        "citations": {"enabled": True},
                        "cache_control": {"type": "ephemeral", "ttl": "1h"},
                    },
                    {
                        "type": "document",
                        "source": {
                            "type": "base64",
                            "media_type": "application/pdf",
                            "data": "JVBERi0=",
                        },
                    },
                    {"type": "document", "source": {"type": "url", "url": "https://x.test/a.pdf"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Let me look it up."},
                    {
                        "type": "tool_use",
                        "id": "tu_1",
                        "name": "lookup",
                        "input": {"q": ["é", None, 1.5]},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "tu_1",
                        "content": "42",
                        "is_error": False,
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "tu_1",
                        "content": [
                            {"type": "text", "text": "more"},
                            {
                                "type": "image",
                                "source": {"type": "url", "url": "https://x.test/b.png"},
                            },
                        ],
                    },
                    {"type": "tool_result", "tool_use_id": "tu_1"},
                ],
            },
        ],
        "tools": [
            {
                "name": "lookup",
                "description": "Look a thing up.",
                "input_schema": {"type": "object", "properties": {"q": {"type": "array"}}},
                "cache_control": {"type": "ephemeral"},
                "strict": True,
                "type": "custom",
            },
            {"name": "other", "input_schema": {"type": "object"}},
        ],
        "tool_choice": {"type": "tool", "name": "lookup", "disable_parallel_tool_use": True},
        "temperature": 0.25,
        "top_p": 0.9,
        "top_k": 40,
        "stop_sequences": ["END", "STOP"],
        "thinking": {"type": "enabled", "budget_tokens": 2048, "display": "omitted"},
        "service_tier": "standard_only",
        "metadata": {"user_id": "u-1"},
    }
)

EXAMPLES: list[Record] = [
    Feedback(request_id="req-1", label="bad", comment="wrong total", at=NOW),
    Feedback(request_id="req-1", score=0.75, source="judge", at=NOW),
    Message(role="assistant", content=""),
    Message(role="user", content=[blocks.TextBlock(type="text", text="hi")]),
    REQUEST,
    BLOCKS_REQUEST,
    LLMRequest(request_id="minimal"),
    ROUTE,
    Route(strategy="pinned"),
    ATTEMPT,
    Attempt(tier="opus", model="claude-opus-4-7", outcome="answered"),
    ErrorInfo(type="models_exhausted", message="every model failed"),
    Escalation(from_tier="haiku", answer="42", reasoning="guess", confidence=0.3),
    WorkItem(
        request=BLOCKS_REQUEST,
        route=ROUTE,
        tier="sonnet",
        attempts=[ATTEMPT, ATTEMPT],
        escalation=Escalation(from_tier="haiku", answer="42", confidence=0.3),
        received_at=NOW,
    ),
    WorkItem(request=LLMRequest(request_id="r"), received_at=NOW),
    WorkItem(
        request=LLMRequest(request_id="p", mode="orchestrate"),
        received_at=NOW,
        max_tier="sonnet",
        plan=[Subtask(subtask_id="s1", prompt="part one", tier="haiku")],
        plan_note="cut from 9 to 1",
        subtask_results=[
            SubtaskResult(subtask_id="s1", prompt="part one", status="ok", answer="a", tier="haiku")
        ],
    ),
    WorkItem(
        request=LLMRequest(request_id="p/s1"), received_at=NOW, parent_id="p", subtask_id="s1"
    ),
    Subtask(subtask_id="s1", prompt="p", tier="haiku"),
    SubtaskResult(subtask_id="s1", status="missing"),
    FanInEvent(plan=WorkItem(request=LLMRequest(request_id="p"), received_at=NOW)),
    FanInEvent(result=LLMResult(request_id="p/s1", tenant="t", status="ok", completed_at=NOW)),
    FanInEvent(tick=True),
    FanInEvent(result=BLOCKS_RESULT),
    BLOCKS_RESULT,
    LLMResult(
        request_id="req-stop",
        tenant="t",
        status="ok",
        answer="a",
        content=[result_blocks.ResultTextBlock(type="text", text="a")],
        stop_reason="stop_sequence",
        stop_sequence="END",
        completed_at=NOW,
    ),
    LLMResult(
        request_id="req-1",
        tenant="acme",
        status="ok",
        answer="LGTM",
        tier="sonnet",
        model="claude-sonnet-4-6",
        confidence=0.9,
        route=ROUTE,
        escalated=True,
        fallback_used=True,
        attempts=[ATTEMPT],
        total_cost_usd=0.01,
        total_latency_ms=900.0,
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        completed_at=NOW,
    ),
    LLMResult(
        request_id="req-2",
        tenant="default",
        status="error",
        error=ErrorInfo(type="models_exhausted", message="all down"),
        completed_at=NOW,
    ),
    DeadLetter(
        key=b"req-3",
        value=b"\x00\xffnot an event",
        topic="llm.requests",
        partition=3,
        offset=2**40,
        error_type="undecodable",
        error_message="neither Avro nor JSON",
        failed_at=NOW,
    ),
    DeadLetter(
        value=b"",
        topic="t",
        partition=0,
        offset=0,
        error_type="e",
        error_message="m",
        failed_at=NOW,
    ),
]


def _named_types() -> list[tuple[str, dict[str, Any]]]:
    """Every named type defined in the schema files: (full name, definition), the
    definition's namespace made explicit (a nested one inherits its enclosing type's)."""
    found: list[tuple[str, dict[str, Any]]] = []

    def walk(schema: Any, namespace: str | None) -> None:
        if isinstance(schema, list):
            for branch in schema:
                walk(branch, namespace)
        elif isinstance(schema, dict):
            if schema["type"] in ("record", "error", "enum", "fixed"):
                namespace = schema.get("namespace", namespace)
                found.append((f"{namespace}.{schema['name']}", {**schema, "namespace": namespace}))
            elif isinstance(schema["type"], dict | list):
                walk(schema["type"], namespace)
            for field in schema.get("fields", []):
                walk(field["type"], namespace)
            for key in ("items", "values"):
                if key in schema:
                    walk(schema[key], namespace)

    for path in sorted(SCHEMAS.glob("*.avsc")):
        walk(json.loads(path.read_text()), None)
    return found


def _definition(model: type[Record]) -> dict[str, Any]:
    (definition,) = (d for n, d in _named_types() if n == f"{codec.NAMESPACE}.{model.__name__}")
    return definition


def _standalone(model: type[Record]) -> Any:
    return load_schema(str(SCHEMAS / f"{model.__name__}.avsc"))


def _avro_schemas() -> dict[str, avro.schema.Schema]:
    """Every named type as the Apache ``avro`` package parses the files, in load order."""
    names = avro.name.Names()
    for stem in SCHEMA_FILES:
        avro.schema.make_avsc_object(json.loads((SCHEMAS / f"{stem}.avsc").read_text()), names)
    return names.names


def _avro_canonical_form(schema: avro.schema.Schema) -> str:
    """``schema``'s Parsing Canonical Form, from the ``avro`` package's own.

    avro (1.12) writes a primitive with a logical type as ``{"type":"long"}``, where the
    spec's [PRIMITIVES] rule (and Java, and fastavro) write ``"long"``: its
    ``Schema.fingerprint()`` therefore differs from theirs for any schema with a
    ``timestamp-millis`` field. This applies that one rule.
    """

    def simple(node: Any) -> Any:
        if isinstance(node, list):
            return [simple(item) for item in node]
        if isinstance(node, dict):
            if node.keys() == {"type"} and isinstance(node["type"], str):
                return node["type"]
            return {
                k: simple(v) if k in ("type", "fields", "items", "values") else v
                for k, v in node.items()
            }
        return node

    return json.dumps(simple(json.loads(schema.canonical_form)), separators=(",", ":"))


def _frame(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    """Single-object encoding written independently of the codec."""
    parsed = parse_schema(schema)
    fp = bytes.fromhex(fastavro_fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
    body = io.BytesIO()
    schemaless_writer(body, parsed, record)
    return b"\xc3\x01" + fp + body.getvalue()


# --- round trip and framing --------------------------------------------------------------


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_round_trip(event: Record) -> None:
    raw = encode(event)
    decoded = decode(raw, type(event))
    assert decoded == event
    assert type(decoded) is type(event)


def test_every_record_type_has_an_example() -> None:
    assert {type(e) for e in EXAMPLES} == set(RECORD_TYPES)


@pytest.mark.parametrize("model", RECORD_TYPES, ids=lambda m: m.__name__)
def test_frame_is_c3_01_then_little_endian_crc64_of_self_contained_canonical_form(
    model: type[Record],
) -> None:
    # Independent path: the Apache avro package parses the files in order and writes each
    # type's canonical form with every named type inlined at its first occurrence.
    canonical_form = _avro_canonical_form(_avro_schemas()[f"{codec.NAMESPACE}.{model.__name__}"])
    parse_schema(json.loads(canonical_form))  # stands alone: no named_schemas needed

    expected = struct.pack("<Q", _crc64_avro(canonical_form.encode()))
    assert fingerprint(model) == expected
    assert bytes.fromhex(fastavro_fingerprint(canonical_form, "CRC-64-AVRO")) == expected

    raw = encode(next(e for e in EXAMPLES if type(e) is model))
    assert raw[:2] == b"\xc3\x01"
    assert raw[2:10] == expected


def test_fingerprints_are_distinct() -> None:
    assert len({fingerprint(m) for m in RECORD_TYPES}) == len(RECORD_TYPES)


# Vectors from Apache Avro's share/test/data/schema-tests.txt (signed 64-bit, as Java prints
# them). They pin the byte order: the 8 bytes on the wire are the little-endian value.
@pytest.mark.parametrize(
    ("canonical_form", "java_long"),
    [
        ('"null"', 7195948357588979594),
        ('"boolean"', -6970731678124411036),
        ('"int"', 8247732601305521295),
        (
            '{"name":"PigValue","type":"record","fields":'
            '[{"name":"value","type":["null","int","long","PigValue"]}]}',
            -1759257747318642341,
        ),
    ],
)
def test_crc64_avro_matches_the_avro_test_vectors(canonical_form: str, java_long: int) -> None:
    assert _crc64_avro(canonical_form.encode()) == java_long % 2**64
    assert fastavro_fingerprint(canonical_form, "CRC-64-AVRO") == struct.pack("<q", java_long).hex()


def _v1_frame(record: dict[str, Any]) -> bytes:
    """A frame as producers wrote LLMRequest before content blocks (the v1 schema)."""
    return _frame(load_schema(str(SCHEMAS / "history" / "LLMRequest.v1.avsc")), record)


def test_frames_of_the_previous_llm_request_schema_decode_into_the_current_model() -> None:
    raw = _v1_frame(
        {
            "request_id": "old-1",
            "tenant": "acme",
            "system": "be brief",
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "bye"},
            ],
            "max_tokens": 77,
            "metadata": {"user_id": "u"},
            "created_at": NOW,
        }
    )
    assert raw[2:10].hex() == LLMREQUEST_V1_FINGERPRINT != fingerprint(LLMRequest).hex()
    request = decode(raw, LLMRequest)
    assert request == LLMRequest(
        request_id="old-1",
        tenant="acme",
        system="be brief",
        messages=[
            Message(role="user", content="hi"),
            Message(role="assistant", content="hello"),
            Message(role="user", content="bye"),
        ],
        max_tokens=77,
        metadata={"user_id": "u"},
        created_at=NOW,
    )
    assert (request.tools, request.temperature, request.stop_sequences) == ([], None, [])
    assert decode(encode(request), LLMRequest) == request  # re-encoded with the current schema


def test_previous_schema_is_the_one_frames_were_written_with() -> None:
    # The history file is the earlier LLMRequest.avsc as it was: its fingerprint is the
    # one on the frames of that time (pinned), and it still loads standalone.
    history = sorted(p.name for p in (SCHEMAS / "history").glob("*.avsc"))
    assert history == sorted(f"{stem}.avsc" for stem in codec._HISTORY)
    assert history == [
        "FanInEvent.v1.avsc",
        "LLMRequest.v1.avsc",
        "LLMResult.v1.avsc",
        "WorkItem.v1.avsc",
    ]
    for stem, pinned in [
        ("LLMRequest.v1", LLMREQUEST_V1_FINGERPRINT),
        ("LLMResult.v1", LLMRESULT_V1_FINGERPRINT),
    ]:
        text = (SCHEMAS / "history" / f"{stem}.avsc").read_text()
        schema = load_schema(str(SCHEMAS / "history" / f"{stem}.avsc"))
        canonical_form = to_parsing_canonical_form(schema)
        assert fastavro_fingerprint(canonical_form, "CRC-64-AVRO") == pinned, stem
        assert _avro_canonical_form(avro.schema.parse(text)) == canonical_form, stem


def test_frames_of_the_previous_llm_result_schema_decode_into_the_current_model() -> None:
    # A consumer upgraded before (or after) the workers: results written before content
    # blocks decode with an empty content and no stop reason.
    old = {
        "request_id": "old-3",
        "tenant": "acme",
        "status": "ok",
        "answer": "42",
        "tier": "haiku",
        "model": "claude-haiku-4-5",
        "confidence": 0.9,
        "route": {"strategy": "task_map", "complexity": None, "reason": "summarize"},
        "attempts": [{"tier": "haiku", "model": "claude-haiku-4-5", "outcome": "answered"}],
        "total_cost_usd": 0.001,
        "completed_at": NOW,
    }
    raw = _frame(load_schema(str(SCHEMAS / "history" / "LLMResult.v1.avsc")), old)
    assert raw[2:10].hex() == LLMRESULT_V1_FINGERPRINT != fingerprint(LLMResult).hex()
    result = decode(raw, LLMResult)
    assert result == LLMResult(
        request_id="old-3",
        tenant="acme",
        status="ok",
        answer="42",
        tier="haiku",
        model="claude-haiku-4-5",
        confidence=0.9,
        route=Route(strategy="task_map", reason="summarize"),
        attempts=[Attempt(tier="haiku", model="claude-haiku-4-5", outcome="answered")],
        total_cost_usd=0.001,
        completed_at=NOW,
    )
    assert (result.content, result.stop_reason, result.stop_sequence) == ([], None, None)
    assert decode(encode(result), LLMResult) == result  # re-encoded with the current schema


# The fingerprints of WorkItem and FanInEvent frames before content blocks.
WORKITEM_V1_FINGERPRINT = "6a6f8cdf8e22c8f5"
FANINEVENT_V1_FINGERPRINT = "3b93ae49219fb011"


def test_internal_frames_left_by_a_previous_worker_decode_into_the_current_models() -> None:
    # A rolling deploy: work items and fan-in events an old worker wrote are still on
    # the internal topics when the new ones start.
    request = {"request_id": "old-2", "messages": [{"role": "user", "content": "hi"}]}
    work = {"request": request, "received_at": NOW, "tier": "haiku"}
    history = SCHEMAS / "history"
    raw_work = _frame(load_schema(str(history / "WorkItem.v1.avsc")), work)
    raw_fanin = _frame(load_schema(str(history / "FanInEvent.v1.avsc")), {"plan": work})
    assert raw_work[2:10].hex() == WORKITEM_V1_FINGERPRINT != fingerprint(WorkItem).hex()
    assert raw_fanin[2:10].hex() == FANINEVENT_V1_FINGERPRINT != fingerprint(FanInEvent).hex()
    expected = WorkItem(
        request=LLMRequest(request_id="old-2", messages=[Message(role="user", content="hi")]),
        received_at=NOW,
        tier="haiku",
    )
    assert decode(raw_work, WorkItem) == expected
    assert decode(raw_fanin, FanInEvent) == FanInEvent(plan=expected)
    # A subtask's result in an old fan-in event: the LLMResult inside resolves too.
    result = {"request_id": "old-2/s1", "tenant": "t", "status": "ok", "completed_at": NOW}
    raw_fanin = _frame(load_schema(str(history / "FanInEvent.v1.avsc")), {"result": result})
    decoded = decode(raw_fanin, FanInEvent)
    assert decoded == FanInEvent(result=LLMResult(**result))  # type: ignore[arg-type]
    assert decoded.result is not None and decoded.result.content == []


def test_a_previous_schema_frame_for_another_model_is_refused() -> None:
    with pytest.raises(UnknownSchemaError, match=r"holds a streamrouter\.v1\.LLMRequest"):
        decode(_v1_frame({"request_id": "x"}), LLMResult)


def test_frames_from_another_writer_decode() -> None:
    raw = _frame(
        _standalone(LLMRequest),
        {"request_id": "x", "messages": [{"role": "user", "content": "hi"}]},
    )
    request = decode(raw, LLMRequest)
    assert request.last_user_text == "hi"
    assert request.tenant == "default"  # writer filled the schema default


# --- JSON input ---------------------------------------------------------------------------


def test_json_fills_defaults() -> None:
    raw = b'\n  {"request_id": "j-1", "messages": [{"role": "user", "content": "hello"}]}'
    request = decode(raw, LLMRequest)
    assert request == LLMRequest(
        request_id="j-1",
        tenant="default",
        mode="route",
        max_tokens=1024,
        messages=[Message(role="user", content="hello")],
    )
    assert request.created_at is None


@pytest.mark.parametrize(
    "created_at",
    [1772366400123, "2026-03-01T12:00:00.123Z", "2026-03-01T13:00:00.123+01:00"],
)
def test_json_timestamps(created_at: object) -> None:
    raw = json.dumps({"request_id": "j", "created_at": created_at}).encode()
    assert decode(raw, LLMRequest).created_at == NOW


def test_json_all_fields() -> None:
    raw = json.dumps(
        {
            "request_id": "j-2",
            "tenant": "acme",
            "task_type": "summarize",
            "mode": "orchestrate",
            "tier": "haiku",
            "system": "be brief",
            "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 10,
            "metadata": {"k": "v"},
            "created_at": 1772366400123,
        }
    ).encode()
    request = decode(raw, LLMRequest)
    assert (request.mode, request.tier, request.metadata) == ("orchestrate", "haiku", {"k": "v"})
    assert decode(encode(request), LLMRequest) == request


def test_json_in_the_messages_api_shapes() -> None:
    # A body written for client.messages.create (here: the API form of BLOCKS_REQUEST)
    # plus a request_id decodes as it is, and survives the Avro form.
    body = BLOCKS_REQUEST.model_dump(mode="json", exclude_none=True)
    body["model"] = "claude-opus-4-7"  # the router chooses: ignored
    request = decode(json.dumps(body).encode(), LLMRequest)
    assert request == BLOCKS_REQUEST
    assert decode(encode(request), LLMRequest) == request


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (
            {"messages": [{"role": "user", "content": [{"type": "audio"}]}]},
            "messages[0].content[0]: unknown content block type",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {"type": "base64", "media_type": "image/tiff"},
                            }
                        ],
                    }
                ]
            },
            "messages[0].content[0].source.media_type: Input should be 'image/jpeg'",
        ),
        (
            {"messages": [{"role": "user", "content": 3}]},
            "messages[0].content: Input should be a string or a list of content blocks",
        ),
        ({"temperature": 3}, "temperature: Input should be less than or equal to 1"),
        ({"top_k": -2}, "top_k: Input should be greater than or equal to 0"),
    ],
)
def test_bad_blocks_and_parameters_name_their_field(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        decode(json.dumps({"request_id": "x", **fields}).encode(), LLMRequest)
    assert reason in str(caught.value)


def test_corrupt_json_strings_in_an_avro_frame_are_invalid_requests() -> None:
    record = BLOCKS_REQUEST.model_dump(context=AVRO_CONTEXT)
    record["tools"][0]["input_schema"] = "{not json"
    with pytest.raises(InvalidRequestError, match=r"tools\[0\]\.input_schema"):
        decode(_frame(_standalone(LLMRequest), record), LLMRequest)
    result = BLOCKS_RESULT.model_dump(context=AVRO_CONTEXT)
    result["content"][3]["input"] = "[1, 2"
    with pytest.raises(InvalidRequestError, match=r"content\[3\]\.input"):
        decode(_frame(_standalone(LLMResult), result), LLMResult)


def test_result_blocks_are_flat_records_with_input_as_json_in_avro() -> None:
    record = BLOCKS_RESULT.model_dump(context=AVRO_CONTEXT)
    assert record["content"][3] == {
        "type": "tool_use",
        "id": "toolu_01",
        "name": "get_weather",
        "input": '{"city":"Zürich","days":[1,2],"units":null,"nested":{}}',
    }
    body = io.BytesIO(encode(BLOCKS_RESULT)[10:])
    datum = schemaless_reader(body, _standalone(LLMResult), None)
    assert datum["content"][2] == {  # what another Avro reader sees: every field, nulls
        "type": "text",
        "text": "Let me check — ✓",
        "id": None,
        "name": None,
        "input": None,
        "thinking": None,
        "signature": None,
        "data": None,
    }
    assert LLMResult.model_validate(datum, context=AVRO_CONTEXT) == BLOCKS_RESULT


# --- bad input ----------------------------------------------------------------------------

FOREIGN = _frame(
    {
        "type": "record",
        "name": "Foo",
        "namespace": "elsewhere",
        "fields": [{"name": "foo", "type": "string"}],
    },
    {"foo": "bar"},
)
VALID = encode(REQUEST)


@pytest.mark.parametrize(
    ("raw", "error", "reason"),
    [
        (b"", UndecodableEventError, "empty"),
        (b"   ", UndecodableEventError, "neither"),
        (b"\x00\x01\x02garbage", UndecodableEventError, "00 01 02"),
        (b"[1, 2]", UndecodableEventError, "neither"),
        (b"\xc3\x01\x18\x0c", UndecodableEventError, "truncated Avro single-object header"),
        (VALID[:10], UndecodableEventError, "truncated Avro body"),
        (VALID[:-1], UndecodableEventError, "truncated Avro body"),
        (VALID + b"\x00", UndecodableEventError, "1 trailing bytes"),
        (b'{"request_id": "x"', UndecodableEventError, "invalid JSON"),
        (b'{"request_id": "\xff"}', UndecodableEventError, "invalid JSON"),
        (b'{"request_id": "\\ud800"}', UndecodableEventError, "invalid JSON"),  # lone surrogate
        (FOREIGN, UnknownSchemaError, "unknown Avro schema fingerprint"),
        (encode(ATTEMPT), UnknownSchemaError, "holds a streamrouter.v1.Attempt"),
        (b'{"messages": []}', InvalidRequestError, "request_id: Field required"),
        (b'{"request_id": ""}', InvalidRequestError, "request_id: String should have at least"),
        (
            b'{"request_id": "x", "messages": "hi"}',
            InvalidRequestError,
            "messages: Input should be a list",
        ),
        (
            b'{"request_id": "x", "messages": [{"role": "bot", "content": "hi"}]}',
            InvalidRequestError,
            "messages[0].role: Input should be 'user' or 'assistant'",
        ),
        (
            b'{"request_id": "x", "messages": [{"role": "user"}]}',
            InvalidRequestError,
            "messages[0].content: Field required",
        ),
        (b'{"request_id": "x", "metadata": {"n": 1}}', InvalidRequestError, "metadata.n"),
        (
            b'{"request_id": "x", "created_at": "soon"}',
            InvalidRequestError,
            "created_at: not a timestamp",
        ),
        (b'{"request_id": "x", "max_tokens": 99999999999}', InvalidRequestError, "max_tokens"),
    ],
)
def test_bad_input(raw: bytes, error: type[Exception], reason: str) -> None:
    with pytest.raises(error) as caught:
        decode(raw, LLMRequest)
    assert reason in str(caught.value)
    assert type(caught.value) is error


def test_avro_that_breaks_the_contract_is_invalid_request() -> None:
    raw = _frame(_standalone(LLMRequest), {"request_id": ""})
    with pytest.raises(InvalidRequestError, match="request_id"):
        decode(raw, LLMRequest)


def test_errors_chain_the_library_error() -> None:
    with pytest.raises(UndecodableEventError) as caught:
        decode(VALID[:-3], LLMRequest)
    assert isinstance(caught.value.__cause__, EOFError | IndexError)
    with pytest.raises(InvalidRequestError) as invalid:
        decode(
            b'{"request_id": 1, "tenant": 2, "mode": 3, "tier": 4, "max_tokens": "x"}', LLMRequest
        )
    assert invalid.value.__cause__ is not None
    message = str(invalid.value)
    assert "and 2 more" in message
    assert "\n" not in message


def test_every_truncation_is_an_invalid_event() -> None:
    raw = encode(next(e for e in EXAMPLES if isinstance(e, WorkItem)))  # the full one
    for end in range(len(raw)):
        with pytest.raises(UndecodableEventError):
            decode(raw[:end], WorkItem)


def test_copies_with_updated_lists_encode_without_warnings() -> None:
    item = WorkItem(request=REQUEST, received_at=NOW)
    updated = item.model_copy(update={"attempts": [*item.attempts, ATTEMPT]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert decode(encode(updated), WorkItem).attempts == [ATTEMPT]


def test_non_event_types_are_a_programming_error() -> None:
    class Other(Record):
        x: int

    with pytest.raises(TypeError):
        encode(Other(x=1))
    with pytest.raises(TypeError):
        decode(VALID, Other)


# --- one source of truth: the .avsc files --------------------------------------------------


def test_schema_files_define_each_record_type_once() -> None:
    assert sorted(p.stem for p in SCHEMAS.glob("*.avsc")) == sorted(SCHEMA_FILES)
    names = [name for name, _ in _named_types()]
    assert len(names) == len(set(names)), "a named type is defined twice"
    records = {name for name, d in _named_types() if d["type"] == "record"}
    mirrored = [m.__name__ for m in [*RECORD_TYPES, *PARAM_TYPES]]
    assert records == {f"{codec.NAMESPACE}.{name}" for name in [*mirrored, *FLAT_RECORDS]}


@pytest.mark.parametrize("model", TOPIC_LEVEL, ids=lambda m: m.__name__)
def test_topic_level_schema_loads_standalone_with_fastavro_and_avro(
    model: type[Record], tmp_path: Path
) -> None:
    # What any Avro user does with the one file: load it, fingerprint it, read the frames.
    alone = tmp_path / f"{model.__name__}.avsc"  # no sibling files to resolve names from
    shutil.copyfile(SCHEMAS / alone.name, alone)
    frames = [(e, encode(e)) for e in EXAMPLES if type(e) is model]

    fastavro_schema = load_schema(str(alone))
    canonical_form = to_parsing_canonical_form(fastavro_schema)
    assert bytes.fromhex(fastavro_fingerprint(canonical_form, "CRC-64-AVRO")) == fingerprint(model)

    avro_schema = avro.schema.parse(alone.read_text())
    assert _avro_canonical_form(avro_schema) == canonical_form
    assert struct.pack("<Q", _crc64_avro(canonical_form.encode())) == fingerprint(model)

    for event, raw in frames:
        assert raw[2:10] == fingerprint(model)
        body = io.BytesIO(raw[10:])
        datum = schemaless_reader(body, fastavro_schema, None)
        assert model.model_validate(datum, context=AVRO_CONTEXT) == event
        datum = avro.io.DatumReader(avro_schema).read(avro.io.BinaryDecoder(io.BytesIO(raw[10:])))
        assert model.model_validate(datum, context=AVRO_CONTEXT) == event


@pytest.mark.parametrize("model", RECORD_TYPES + PARAM_TYPES, ids=lambda m: m.__name__)
def test_model_mirrors_avro_record(model: type[BaseModel]) -> None:
    schema = _definition(model)
    assert schema["type"] == "record"
    assert schema["name"] == model.__name__
    assert schema["namespace"] == codec.NAMESPACE
    assert schema.get("doc")
    avro_fields = {f["name"]: f for f in schema["fields"]}
    assert list(model.model_fields) == list(avro_fields)  # same names, same order
    for name, field in avro_fields.items():
        assert field.get("doc"), f"{model.__name__}.{name} has no doc"
        info = model.model_fields[name]
        assert info.is_required() == ("default" not in field), name
        if "default" in field:
            default = info.get_default(call_default_factory=True)
            assert _jsonable(default) == field["default"], name
        if isinstance(field["type"], list) and "null" in field["type"]:
            assert field["type"][0] == "null" and field.get("default", "missing") is None, name
        elif isinstance(field["type"], list):  # string or blocks: a required field
            assert info.is_required(), name


@pytest.mark.parametrize("record", sorted(FLAT_RECORDS))
def test_flat_record_holds_every_shape_of_its_union(record: str) -> None:
    # One Avro record for a tagged union: "type" is required, every other field is
    # optional (null for the shapes without it), and each belongs to some shape.
    schema = next(d for n, d in _named_types() if n == f"{codec.NAMESPACE}.{record}")
    assert schema.get("doc")
    avro_fields = {f["name"]: f for f in schema["fields"]}
    assert "default" not in avro_fields["type"] and avro_fields["type"]["type"] == "string"
    for name, field in avro_fields.items():
        assert field.get("doc"), f"{record}.{name} has no doc"
        if name != "type":
            assert field["type"][0] == "null" and field["default"] is None, name
    shape_fields = {name for shape in FLAT_RECORDS[record] for name in shape.model_fields}
    assert shape_fields == set(avro_fields)


def test_literal_types_mirror_avro_enums() -> None:
    enums: dict[str, list[str]] = {}

    def collect(schema: Any) -> None:
        if isinstance(schema, list):
            for branch in schema:
                collect(branch)
        elif isinstance(schema, dict):
            if schema["type"] == "enum":
                enums[schema["name"]] = schema["symbols"]
            for field in schema.get("fields", []):
                collect(field["type"])
            collect(schema.get("items"))

    for path in SCHEMAS.glob("*.avsc"):
        collect(json.loads(path.read_text()))
    assert enums == {
        name: list(typing.get_args(getattr(events, name)))
        for name in (
            "MessageRole",
            "RequestMode",
            "RouteStrategy",
            "Complexity",
            "AttemptOutcome",
            "ResultStatus",
            "FeedbackLabel",
            "FeedbackSource",
        )
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump()
    return value


def _crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO (Rabin), transcribed from the Avro specification."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp
