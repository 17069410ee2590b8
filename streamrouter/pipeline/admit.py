"""Admission: the first thing that happens to bytes arriving on the requests topic.

Pure: it gets the raw record and a way to ask whether a request id was seen before,
and returns what to do: dead-letter it, drop a duplicate, re-key it, or admit it (to
be routed by :mod:`streamrouter.pipeline.route`). Nothing here sends, logs or raises
for bad input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from streamrouter.codec import decode
from streamrouter.config import Policy
from streamrouter.errors import InvalidEventError
from streamrouter.events import DeadLetter, LLMRequest, WorkItem
from streamrouter.routing.validate import RequestLimits, validate_request

__all__ = [
    "Admission",
    "Duplicate",
    "Rekey",
    "SourceRecord",
    "admit",
    "dead_letter",
]


@dataclass(frozen=True)
class SourceRecord:
    key: bytes | None
    value: bytes | None  # None: a tombstone
    topic: str
    partition: int
    offset: int
    headers: Mapping[str, bytes] = field(default_factory=dict)
    timestamp: float = 0.0  # seconds since the epoch, as the producer stamped it


@dataclass(frozen=True)
class Duplicate:
    """Seen before: no model call, no second result."""

    request_id: str


@dataclass(frozen=True)
class Rekey:
    """The record is not keyed by its request id, or not on that key's partition:
    republish it keyed by the request id, so that all of a request's events (and its
    de-duplication entries) share one partition."""

    request: LLMRequest


Admission = WorkItem | DeadLetter | Duplicate | Rekey


# A dead letter carries at most this much of the original value; the rest stays at its
# source topic, partition and offset (named in the dead letter).
DEAD_LETTER_VALUE_BYTES = 64 * 1024
DEAD_LETTER_KEY_BYTES = 16 * 1024


def dead_letter(record: SourceRecord, error_type: str, message: str, now: datetime) -> DeadLetter:
    value = record.value or b""
    if len(value) > DEAD_LETTER_VALUE_BYTES:
        message = (
            f"{message} (value of {len(value)} bytes cut to its first "
            f"{DEAD_LETTER_VALUE_BYTES}; the whole value stays at its source offset)"
        )
        value = value[:DEAD_LETTER_VALUE_BYTES]
    key = record.key
    if key is not None and len(key) > DEAD_LETTER_KEY_BYTES:
        message = f"{message} (key of {len(key)} bytes cut to its first {DEAD_LETTER_KEY_BYTES})"
        key = key[:DEAD_LETTER_KEY_BYTES]
    return DeadLetter(
        key=key,
        value=value,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        error_type=error_type,
        error_message=message,
        failed_at=now,
    )


def admit(
    record: SourceRecord,
    *,
    seen: Callable[[str], bool],
    partition_of: Callable[[str], int],
    policy: Policy,
    limits: RequestLimits,
    now: datetime,
) -> Admission:
    """``partition_of(request_id)``: the partition the service's own producer would pick.
    A record elsewhere (keyed otherwise, or by a producer with another partitioner, as
    kcat's CRC32 default) is re-keyed, so each request id's ledger entries stay on one
    partition."""
    if record.value is not None and len(record.value) > limits.max_event_bytes:
        reason = f"event of {len(record.value)} bytes, over the limit of {limits.max_event_bytes}"
        return dead_letter(record, "too_large", reason, now)
    try:
        request = decode(record.value, LLMRequest)
        validate_request(request, limits, policy.tier_names)
    except InvalidEventError as exc:
        return dead_letter(record, exc.error_type, str(exc), now)
    rid = request.request_id
    if record.key != rid.encode() or record.partition != partition_of(rid):
        return Rekey(request)
    if seen(request.request_id):
        return Duplicate(request.request_id)
    return WorkItem(request=request, received_at=now)
