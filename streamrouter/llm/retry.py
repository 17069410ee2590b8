"""Whether to call the same model again after a failed HTTP attempt, and how long to wait.

Pure: :class:`~streamrouter.llm.client.ModelGateway` makes the calls and sleeps. The SDK
client runs with ``max_retries=0`` and this decides instead, because the SDK retries a
timeout on the same model (a silent model then holds the request for every try) and
sleeps as long as ``retry-after`` asks, whatever time the request has left. Otherwise it
decides as the SDK does: the same retryable statuses, ``x-should-retry``,
``retry-after-ms`` / ``retry-after`` (in seconds, as the API sends it), and the backoff
(0.5 s doubling up to 8 s, less up to 25% jitter).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Failure",
    "FailureKind",
    "RetryPolicy",
    "backoff_s",
    "is_retryable",
    "retry_after_s",
    "retry_delay",
]

INITIAL_DELAY_S = 0.5
MAX_DELAY_S = 8.0
# Request timeout, lock timeout, rate limited; and every 5xx (529 overloaded included).
RETRYABLE_STATUSES = frozenset({408, 409, 429})

# timeout: no answer in time; connection: no response at all (refused, reset);
# response: the API answered with an error (or with something that is not a message).
FailureKind = Literal["timeout", "connection", "response"]


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often one tier's call chain may try.

    ``budget_s`` bounds the whole chain (every model, every retry) from its start; each
    HTTP attempt may take ``attempt_timeout_s``, never more than the budget has left.
    """

    max_retries: int
    attempt_timeout_s: float
    budget_s: float

    def attempt_timeout(self, time_left_s: float) -> float:
        return max(0.0, min(self.attempt_timeout_s, time_left_s))


@dataclass(frozen=True)
class Failure:
    """One failed HTTP attempt, as far as retrying cares."""

    kind: FailureKind
    status: int | None = None  # a response's HTTP status, when it has one
    headers: Mapping[str, str] = field(default_factory=dict)


def retry_delay(
    failure: Failure, *, retries_taken: int, max_retries: int, time_left_s: float, jitter: float
) -> float | None:
    """Seconds to wait before calling the same model again, or None: move on.

    None for a timeout, when the retries are used up, for a status not worth repeating,
    and when the wait would not end before the budget does. ``jitter`` is in [0, 1).
    """
    if retries_taken >= max_retries or not is_retryable(failure):
        return None
    asked = retry_after_s(failure.headers)
    delay = asked if asked is not None and asked > 0 else backoff_s(retries_taken, jitter)
    return delay if delay < time_left_s else None


def is_retryable(failure: Failure) -> bool:
    if failure.kind != "response":
        return failure.kind == "connection"
    if failure.status is None:
        return False
    server_says = failure.headers.get("x-should-retry")
    if server_says in ("true", "false"):
        return server_says == "true"
    return failure.status in RETRYABLE_STATUSES or failure.status >= 500


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """The wait the server asks for: ``retry-after-ms`` first (more precise), then
    ``retry-after``; None when neither is a number."""
    for name, seconds_per_unit in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return float(headers[name]) * seconds_per_unit
        except (KeyError, ValueError):
            continue
    return None


def backoff_s(retries_taken: int, jitter: float) -> float:
    return min(INITIAL_DELAY_S * 2.0**retries_taken, MAX_DELAY_S) * (1 - 0.25 * jitter)
