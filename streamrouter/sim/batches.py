"""The simulated Message Batches API: batch state and the API's shapes, as pure functions.

``parse_batch_create`` checks a ``POST /v1/messages/batches`` body the way the API checks
it when the batch is created: ``requests`` holds 1 to 100,000 objects, each with a unique
``custom_id`` (1-64 characters of ``[a-zA-Z0-9_-]``) and a ``params`` object. Like the
API, it does not check what is inside ``params``: each one is checked when it is
processed, and an invalid one ends ``errored`` with an ``invalid_request_error``.

A ``Batch`` moves only with the clock, so no background task is needed. Its requests
are processed one after another, spread over ``processing_s`` (request ``i`` of ``n`` at
``created_at + processing_s * (i + 1) / n``). ``advance`` processes those that are due,
through a callback that the server supplies: the same rules as a ``POST /v1/messages``
call. ``cancel`` keeps what is already processed, marks the rest ``canceled``, and ends
the batch ``CANCELING_S`` later (``processing_status: canceling`` until then). The
counts stay at ``processing`` until the batch ends, as the API documents.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "CANCELING_S",
    "EXPIRY_S",
    "MAX_REQUESTS",
    "Batch",
    "BatchItem",
    "BatchPage",
    "ProcessingStatus",
    "advance",
    "batch_object",
    "cancel",
    "canceled_result",
    "errored_result",
    "expired_result",
    "page_batches",
    "parse_batch_create",
    "results_lines",
    "succeeded_result",
]

MAX_REQUESTS = 100_000
EXPIRY_S = 24 * 3600.0  # a batch expires 24 h after it was created
CANCELING_S = 0.05  # how long a canceled batch shows ``canceling`` before it ends
DEFAULT_LIMIT, MAX_LIMIT = 20, 1000  # ``GET /v1/messages/batches?limit=``

ProcessingStatus = Literal["in_progress", "canceling", "ended"]

_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_OUTCOMES = ("succeeded", "errored", "canceled", "expired")


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One request of a batch: its ``custom_id`` and its Messages body, unchecked."""

    custom_id: str
    params: Mapping[str, Any]


def parse_batch_create(body: Any) -> tuple[BatchItem, ...]:
    """The batch's requests; a ``ValueError`` naming the field for what the API rejects."""
    if not isinstance(body, dict):
        raise ValueError("Request body must be a JSON object")
    for key in body:
        if key != "requests":
            raise ValueError(f"{key}: Extra inputs are not permitted")
    requests = body.get("requests")
    if not isinstance(requests, list):
        raise ValueError("requests: Field required (a list of requests)")
    if not requests:
        raise ValueError("requests: List should have at least 1 item")
    if len(requests) > MAX_REQUESTS:
        raise ValueError(f"requests: List should have at most {MAX_REQUESTS} items")
    items: list[BatchItem] = []
    seen: set[str] = set()
    for index, request in enumerate(requests):
        where = f"requests.{index}"
        if not isinstance(request, dict):
            raise ValueError(f"{where}: Input should be an object")
        for key in request:
            if key not in ("custom_id", "params"):
                raise ValueError(f"{where}.{key}: Extra inputs are not permitted")
        custom_id, params = request.get("custom_id"), request.get("params")
        if not isinstance(custom_id, str) or not _CUSTOM_ID.match(custom_id):
            raise ValueError(
                f"{where}.custom_id: must be 1 to 64 characters of letters, digits, '_' or '-'"
            )
        if custom_id in seen:
            raise ValueError(f"{where}.custom_id: '{custom_id}' is not unique in this batch")
        if not isinstance(params, dict):
            raise ValueError(f"{where}.params: Input should be an object")
        seen.add(custom_id)
        items.append(BatchItem(custom_id, params))
    return tuple(items)


@dataclass(slots=True)
class Batch:
    """One batch and how far it has got. ``results`` holds one result per processed item,
    in item order; the batch has ended once ``ended_at`` has passed."""

    id: str
    items: tuple[BatchItem, ...]
    created_at: float
    processing_s: float
    results: list[dict[str, Any]] = field(default_factory=list)
    cancel_initiated_at: float | None = None
    ended_at: float | None = None

    def due_at(self, index: int) -> float:
        """When item ``index`` is processed."""
        return self.created_at + self.processing_s * (index + 1) / len(self.items)

    def status(self, now: float) -> ProcessingStatus:
        if self.ended_at is not None and now >= self.ended_at:
            return "ended"
        return "canceling" if self.cancel_initiated_at is not None else "in_progress"


Process = Callable[[BatchItem], dict[str, Any]]


def advance(batch: Batch, now: float, process: Process) -> None:
    """Process (in order) every item due by ``now``; the last one ends the batch."""
    if batch.ended_at is not None:
        return
    while len(batch.results) < len(batch.items) and batch.due_at(len(batch.results)) <= now:
        batch.results.append(process(batch.items[len(batch.results)]))
    if len(batch.results) == len(batch.items):
        batch.ended_at = batch.due_at(len(batch.items) - 1)


def cancel(batch: Batch, now: float, process: Process) -> None:
    """Cancel a batch that has not ended: the items not processed by ``now`` are canceled.

    Raises ``ValueError`` when the batch has ended or is already being canceled.
    """
    advance(batch, now, process)
    if batch.cancel_initiated_at is not None or batch.status(now) == "ended":
        raise ValueError(f"{batch.id} has ended or is being canceled; it cannot be canceled")
    batch.cancel_initiated_at = now
    batch.results.extend(canceled_result() for _ in batch.items[len(batch.results) :])
    batch.ended_at = now + CANCELING_S


def succeeded_result(message: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "succeeded", "message": dict(message)}


def errored_result(error_body: Mapping[str, Any]) -> dict[str, Any]:
    """``error_body`` is the API's error JSON (``{"type": "error", "error": {...}}``)."""
    return {"type": "errored", "error": dict(error_body)}


def expired_result() -> dict[str, Any]:
    return {"type": "expired"}


def canceled_result() -> dict[str, Any]:
    return {"type": "canceled"}


def _rfc3339(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def batch_object(batch: Batch, now: float, results_url: str) -> dict[str, Any]:
    """The API's ``message_batch`` object as of ``now`` (``results_url`` once ended)."""
    status = batch.status(now)
    counts = dict.fromkeys(("processing", *_OUTCOMES), 0)
    if status == "ended":
        counts.update(Counter(result["type"] for result in batch.results))
    else:
        counts["processing"] = len(batch.items)
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": status,
        "request_counts": counts,
        "ended_at": _rfc3339(batch.ended_at) if status == "ended" else None,
        "created_at": _rfc3339(batch.created_at),
        "expires_at": _rfc3339(batch.created_at + EXPIRY_S),
        "archived_at": None,
        "cancel_initiated_at": _rfc3339(batch.cancel_initiated_at),
        "results_url": results_url if status == "ended" else None,
    }


def results_lines(batch: Batch) -> list[dict[str, Any]]:
    """The results file's lines: ``{"custom_id", "result"}``, one per request."""
    return [
        {"custom_id": item.custom_id, "result": result}
        for item, result in zip(batch.items, batch.results, strict=True)
    ]


@dataclass(frozen=True, slots=True)
class BatchPage:
    batches: tuple[Batch, ...]  # newest first
    has_more: bool


def page_batches(newest_first: Sequence[Batch], query: Mapping[str, str]) -> BatchPage:
    """One page of ``GET /v1/messages/batches``: ``limit`` (1-1000, default 20) batches
    older than ``after_id`` or, with ``before_id``, the ones just newer than it.

    Raises ``ValueError`` for a bad ``limit``, both cursors, or an unknown cursor id.
    """
    try:
        limit = int(query.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise ValueError("limit: Input should be a valid integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: Input should be between 1 and {MAX_LIMIT}")
    after_id, before_id = query.get("after_id"), query.get("before_id")
    if after_id and before_id:
        raise ValueError("after_id, before_id: only one of them may be given")
    ids = [batch.id for batch in newest_first]
    cursor = after_id or before_id
    if cursor and cursor not in ids:
        raise ValueError(f"{'after_id' if after_id else 'before_id'}: no batch {cursor}")
    if before_id:
        end = ids.index(before_id)
        start = max(0, end - limit)
        return BatchPage(tuple(newest_first[start:end]), has_more=start > 0)
    start = ids.index(after_id) + 1 if after_id else 0
    chosen = newest_first[start : start + limit]
    return BatchPage(tuple(chosen), has_more=start + limit < len(newest_first))
