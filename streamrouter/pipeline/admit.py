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
    value: bytes
    topic: str
    partition: int
    offset: int
    headers: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Duplicate:
    """Seen before: no model call, no second result."""

    request_id: str


@dataclass(frozen=True)
class Rekey:
    """The record's key is not its request id: republish it keyed by the request id,
    so that all of a request's events (and its de-duplication entry) share a partition."""

    request: LLMRequest


Admission = WorkItem | DeadLetter | Duplicate | Rekey


def dead_letter(record: SourceRecord, error_type: str, message: str, now: datetime) -> DeadLetter:
    return DeadLetter(
        key=record.key,
        value=record.value,
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
    policy: Policy,
    limits: RequestLimits,
    now: datetime,
) -> Admission:
    try:
        request = decode(record.value, LLMRequest)
        validate_request(request, limits, policy.tier_names)
    except InvalidEventError as exc:
        return dead_letter(record, exc.error_type, str(exc), now)
    if record.key != request.request_id.encode():
        return Rekey(request)
    if seen(request.request_id):
        return Duplicate(request.request_id)
    return WorkItem(request=request, received_at=now)
