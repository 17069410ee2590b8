from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from streamrouter.codec import decode, encode
from streamrouter.config import Policy, TierPolicy
from streamrouter.events import DeadLetter, LLMRequest, Route, WorkItem
from streamrouter.pipeline.admit import Duplicate, Rekey, SourceRecord, admit
from streamrouter.pipeline.route import route_request
from streamrouter.routing.validate import RequestLimits

NOW = datetime(2026, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
LIMITS = RequestLimits(max_prompt_chars=1000, max_output_tokens=4096)
POLICY = Policy()


def request_fields(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "request_id": "req-1",
        "messages": [{"role": "user", "content": "write a commit message"}],
    }
    return {**base, **fields}


def as_json(**fields: Any) -> bytes:
    return json.dumps(request_fields(**fields)).encode()


def as_avro(**fields: Any) -> bytes:
    return encode(LLMRequest.model_validate(request_fields(**fields)))


def record(value: bytes, key: bytes | None = b"req-1") -> SourceRecord:
    return SourceRecord(key=key, value=value, topic="llm.requests", partition=3, offset=41)


def run(
    source: SourceRecord,
    *,
    seen: frozenset[str] = frozenset(),
    policy: Policy = POLICY,
    limits: RequestLimits = LIMITS,
) -> object:
    """Admission, then (for admitted work) routing with no spend and no bypass."""
    outcome = admit(
        source,
        seen=seen.__contains__,
        partition_of=lambda _rid: 3,  # the partition record() puts every record on
        policy=policy,
        limits=limits,
        now=NOW,
    )
    if isinstance(outcome, WorkItem):
        return route_request(outcome, policy, spent=0.0)
    return outcome


ENCODINGS = [pytest.param(as_json, id="json"), pytest.param(as_avro, id="avro")]


@pytest.mark.parametrize(
    ("value", "error_type"),
    [
        pytest.param(b"", "undecodable", id="empty"),
        pytest.param(b"\x00\x01garbage\xff", "undecodable", id="garbage"),
        pytest.param(b"[1, 2]", "undecodable", id="json-array"),
        pytest.param(b'{"request_id": "req-1"', "undecodable", id="truncated-json"),
        pytest.param(b'{"request_id": "\xff"}', "undecodable", id="json-not-utf8"),
        pytest.param(b"\xc3\x01\x00", "undecodable", id="truncated-avro-header"),
        pytest.param(b"\xc3\x01" + bytes(8) + b"\x02", "unknown_schema", id="unknown-fp"),
        pytest.param(encode(Route(strategy="pinned")), "unknown_schema", id="avro-route"),
        pytest.param(as_avro()[:-3], "undecodable", id="avro-truncated-body"),
        pytest.param(as_avro() + b"\x00", "undecodable", id="avro-trailing-bytes"),
        pytest.param(b"{}", "invalid_request", id="json-no-request-id"),
        pytest.param(
            json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode(),
            "invalid_request",
            id="json-missing-request-id",
        ),
        pytest.param(as_json(request_id=""), "invalid_request", id="json-empty-request-id"),
        pytest.param(as_json(request_id=7), "invalid_request", id="json-int-request-id"),
        pytest.param(as_json(messages=[]), "invalid_request", id="no-messages"),
        pytest.param(
            as_json(messages=[{"role": "system", "content": "x"}]),
            "invalid_request",
            id="bad-role",
        ),
        pytest.param(
            as_json(messages=[{"role": "assistant", "content": "x"}]),
            "invalid_request",
            id="last-from-assistant",
        ),
        pytest.param(as_json(mode="batch"), "invalid_request", id="unknown-mode"),
        pytest.param(as_json(max_tokens=0), "invalid_request", id="max-tokens-0"),
        pytest.param(as_json(max_tokens=4097), "invalid_request", id="max-tokens-over"),
        pytest.param(as_json(tier="gpt-4"), "invalid_request", id="unknown-pinned-tier"),
        pytest.param(
            as_json(messages=[{"role": "user", "content": "x" * 1001}]),
            "invalid_request",
            id="json-prompt-too-long",
        ),
        pytest.param(
            as_avro(system="s" * 500, messages=[{"role": "user", "content": "x" * 501}]),
            "invalid_request",
            id="avro-prompt-too-long",
        ),
    ],
)
def test_bad_input_is_dead_lettered(value: bytes, error_type: str) -> None:
    seen_ids: list[str] = []

    def seen(request_id: str) -> bool:
        seen_ids.append(request_id)
        return False

    source = record(value, key=b"the-key")
    outcome = admit(
        source, seen=seen, partition_of=lambda _rid: 3, policy=POLICY, limits=LIMITS, now=NOW
    )
    assert outcome == DeadLetter(
        key=b"the-key",
        value=value,
        topic="llm.requests",
        partition=3,
        offset=41,
        error_type=error_type,
        error_message=outcome.error_message,  # type: ignore[union-attr]
        failed_at=NOW,
    )
    assert outcome.error_message  # type: ignore[union-attr]
    assert seen_ids == []  # bad input never reaches the de-duplication table


def test_dead_letter_keeps_a_missing_key_and_names_the_reason() -> None:
    outcome = run(record(as_json(max_tokens=5000), key=None))
    assert isinstance(outcome, DeadLetter)
    assert outcome.key is None
    assert "max_tokens 5000" in outcome.error_message


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("key", [None, b"", b"other", b"req-1 ", b"REQ-1"])
def test_key_other_than_request_id_is_rekeyed(encoding: Any, key: bytes | None) -> None:
    outcome = run(record(encoding(), key=key))
    assert isinstance(outcome, Rekey)
    assert outcome.request.request_id == "req-1"


def test_rekey_comes_before_the_duplicate_check() -> None:
    # The de-duplication entry lives on the request id's partition: ask only once rekeyed.
    outcome = run(record(as_json(), key=b"other"), seen=frozenset({"req-1"}))
    assert isinstance(outcome, Rekey)


def test_non_ascii_request_id_matches_its_utf8_key() -> None:
    outcome = run(record(as_json(request_id="réq-ü"), key="réq-ü".encode()))
    assert isinstance(outcome, WorkItem)


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize(
    "fields",
    [{}, {"tier": "opus"}, {"mode": "orchestrate"}, {"task_type": "no_such_task"}],
)
def test_seen_request_is_a_duplicate(encoding: Any, fields: dict[str, Any]) -> None:
    outcome = run(record(encoding(**fields)), seen=frozenset({"req-1"}))
    assert outcome == Duplicate("req-1")


def test_other_seen_ids_do_not_make_a_duplicate() -> None:
    outcome = run(record(as_json()), seen=frozenset({"req-2", "req-10", "req-"}))
    assert isinstance(outcome, WorkItem)


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize(
    "fields",
    [
        {"mode": "orchestrate"},
        {"mode": "orchestrate", "tier": "opus"},
        {"task_type": "Orchestration"},
    ],
)
def test_orchestrated_requests_go_to_the_planner(encoding: Any, fields: dict[str, Any]) -> None:
    outcome = run(record(encoding(**fields)))
    assert isinstance(outcome, WorkItem)
    assert outcome.route is not None and outcome.route.strategy == "orchestrator"
    assert outcome.tier is None
    assert outcome.request.request_id == "req-1"
    assert outcome.received_at == NOW
    assert outcome.attempts == []


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize(
    ("fields", "tier", "route"),
    [
        ({"tier": "haiku"}, "haiku", Route(strategy="pinned", reason="tier haiku pinned")),
        (
            {"tier": "opus", "task_type": "commit_message"},
            "opus",
            Route(strategy="pinned", reason="tier opus pinned"),
        ),
        (
            {"task_type": "commit_message"},
            "haiku",
            Route(strategy="task_map", reason="task_type commit_message maps to haiku"),
        ),
        (
            {"task_type": "Write-Feature"},
            "sonnet",
            Route(strategy="task_map", reason="task_type Write-Feature maps to sonnet"),
        ),
        (
            {"task_type": "debugging"},
            "opus",
            Route(strategy="task_map", reason="task_type debugging maps to opus"),
        ),
    ],
)
def test_routed_without_classifier(
    encoding: Any, fields: dict[str, Any], tier: str, route: Route
) -> None:
    value = encoding(**fields)
    outcome = run(record(value))
    assert isinstance(outcome, WorkItem)
    assert outcome.tier == tier
    assert outcome.route == route
    assert outcome.request == LLMRequest.model_validate(request_fields(**fields))
    assert outcome.received_at == NOW
    assert outcome.attempts == []
    assert outcome.escalation is None


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("task_type", [None, "no_such_task", "commit_mesage", "   "])
def test_unrouted_request_waits_for_the_classifier(encoding: Any, task_type: str | None) -> None:
    outcome = run(record(encoding(task_type=task_type)))
    assert isinstance(outcome, WorkItem)
    assert outcome.tier is None
    assert outcome.route is None
    assert outcome.request.task_type == task_type


def test_policy_task_map_and_tiers_are_used() -> None:
    policy = Policy(
        tiers=(TierPolicy(name="small", model="m-small"), TierPolicy(name="big", model="m-big")),
        task_map={"translate": "small"},
    )
    routed = run(record(as_json(task_type="translate")), policy=policy)
    assert isinstance(routed, WorkItem)
    assert routed.tier == "small"
    pinned = run(record(as_json(tier="big")), policy=policy)
    assert isinstance(pinned, WorkItem)
    assert pinned.tier == "big"
    # A default tier name is unknown under this policy.
    rejected = run(record(as_json(tier="haiku")), policy=policy)
    assert isinstance(rejected, DeadLetter)
    assert rejected.error_type == "invalid_request"
    # A default task type is unknown under this policy: left to the classifier.
    unrouted = run(record(as_json(task_type="commit_message")), policy=policy)
    assert isinstance(unrouted, WorkItem)
    assert unrouted.tier is None


@pytest.mark.parametrize(
    ("limit", "admitted"),
    [(22, True), (21, False)],  # the default message is 22 characters
)
def test_prompt_limit_boundary(limit: int, admitted: bool) -> None:
    limits = RequestLimits(max_prompt_chars=limit, max_output_tokens=4096)
    outcome = run(record(as_json()), limits=limits)
    assert isinstance(outcome, WorkItem if admitted else DeadLetter)


def test_json_with_leading_whitespace_and_unknown_fields_is_admitted() -> None:
    value = b"  \n" + as_json(task_type="summarize", extra_field={"ignored": True})
    outcome = run(record(value))
    assert isinstance(outcome, WorkItem)
    assert outcome.tier == "haiku"


def test_json_and_avro_admit_the_same_work() -> None:
    fields = {
        "task_type": "code_review",
        "system": "be brief",
        "tenant": "acme",
        "metadata": {"k": "v"},
        "created_at": "2026-05-01T11:59:00Z",
        "messages": [
            {"role": "user", "content": "review this"},
            {"role": "assistant", "content": "which file?"},
            {"role": "user", "content": "main.py ✓"},
        ],
    }
    assert run(record(as_json(**fields))) == run(record(as_avro(**fields)))


def test_admitted_work_round_trips_through_the_codec() -> None:
    outcome = run(record(as_avro(task_type="commit_message")))
    assert isinstance(outcome, WorkItem)
    assert decode(encode(outcome), WorkItem) == outcome


def test_a_record_on_another_partition_than_its_key_gets_is_rekeyed() -> None:
    source = record(as_json())
    outcome = admit(
        source,
        seen=frozenset().__contains__,
        partition_of=lambda _rid: 0,  # e.g. produced by kcat, whose default is CRC32
        policy=POLICY,
        limits=LIMITS,
        now=NOW,
    )
    assert isinstance(outcome, Rekey)


def test_default_partition_matches_the_java_client() -> None:
    from streamrouter.topics import default_partition

    # Values of Kafka's Utils.murmur2 (positive-masked) modulo the partition count.
    assert default_partition(b"21", 1) == 0
    assert {default_partition(f"k{i}".encode(), 4) for i in range(50)} == {0, 1, 2, 3}


@pytest.mark.parametrize(
    ("value", "error_type", "message"),
    [
        (None, "undecodable", "null"),
        (b"{" + b" " * 2_000_000 + b"}", "too_large", "over the limit"),
    ],
    ids=["tombstone", "too-large"],
)
def test_null_and_oversized_values_are_dead_lettered(
    value: bytes | None, error_type: str, message: str
) -> None:
    outcome = run(SourceRecord(key=b"k", value=value, topic="t", partition=3, offset=1))
    assert isinstance(outcome, DeadLetter)
    assert outcome.error_type == error_type and message in outcome.error_message
    assert len(outcome.value) <= 64 * 1024


@pytest.mark.parametrize("request_id", ["r" * 257, "line\nbreak", "nul\x00"])
def test_unreasonable_request_ids_are_invalid(request_id: str) -> None:
    outcome = run(record(as_json(request_id=request_id), key=request_id.encode()))
    assert isinstance(outcome, DeadLetter) and outcome.error_type == "invalid_request"
    assert "request_id" in outcome.error_message


BLOCKS = [
    {"type": "text", "text": "what is this?"},
    {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": "R0lGODlh"}},
]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_content_block_request_is_admitted_in_either_encoding(encoding: Any) -> None:
    value = encoding(messages=[{"role": "user", "content": BLOCKS}], temperature=0.5)
    outcome = run(record(value))
    assert not isinstance(outcome, DeadLetter | Rekey | Duplicate), outcome


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (
            {"messages": [{"role": "user", "content": BLOCKS * 3}]},
            "messages[0].content[4]: more than 4 content blocks",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": " "}]}]},
            "messages[0].content[0].text is empty",
        ),
    ],
)
def test_unservable_block_requests_are_dead_lettered_naming_the_field(
    encoding: Any, fields: dict[str, Any], reason: str
) -> None:
    limits = RequestLimits(max_prompt_chars=1000, max_output_tokens=4096, max_content_blocks=4)
    outcome = run(record(encoding(**fields)), limits=limits)
    assert isinstance(outcome, DeadLetter)
    assert outcome.error_type == "invalid_request"
    assert reason in outcome.error_message
