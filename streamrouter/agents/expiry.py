"""When the ledger forgets a finished request id.

The ledger keeps results single while a request can still be redelivered or sent
again; after ``ttl_s`` it forgets a finished request, so the worker's memory (and the
ledger's changelog, compacted by its tombstones) stops growing with every request ever
served. A request id sent again after that is served again.

Deletes have to run inside an event of the key's partition (Faust writes the
tombstone to the current event's changelog partition), so finalize, which marks
requests done, asks for the ones due on its partition as it goes. A finished request's
ledger value says when it finished, so what a new owner of the partition recovers
keeps its age across hand-overs.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Iterable
from functools import lru_cache

__all__ = [
    "UNKNOWN",
    "LedgerExpiry",
    "admitted_entry",
    "done_entry",
    "finished_at",
    "own_admission",
    "seen_before",
]

ADMITTED = "admitted"
DONE = "done"
UNKNOWN = -math.inf  # when a request finished, for a ledger value that does not say


def admitted_entry(offset: int, now: float) -> str:
    """The ledger value of a request admitted at ``now`` (epoch seconds) from the
    requests record at ``offset``."""
    return f"{ADMITTED}@{offset}@{round(now)}"


def own_admission(value: str | None, offset: int) -> float | None:
    """When the requests record at ``offset`` itself was admitted, if ``value`` says it
    was (the record is being delivered again); otherwise None."""
    prefix = f"{ADMITTED}@{offset}@"
    if value is None or not value.startswith(prefix):
        return None
    return float(value.removeprefix(prefix))


def seen_before(value: str | None, offset: int) -> bool:
    """Whether a ledger value makes the requests record at ``offset`` a duplicate: the
    request id was admitted from another record (a client's retry), or finished. The
    record's own admission is not: whether its work landed is for the admit agent to
    find out (on a cluster the mark can land and the work not)."""
    return value is not None and own_admission(value, offset) is None


def done_entry(now: float) -> str:
    """The ledger value of a request that finished at ``now`` (epoch seconds)."""
    return _done_in_second(round(now))


@lru_cache(maxsize=1)
def _done_in_second(second: int) -> str:
    # One string object for all the requests finished in a second: a ledger holding an
    # hour of ids at 100 req/s would otherwise keep 360,000 of them (23 MB).
    return f"{DONE}@{second}"


def finished_at(value: str | None) -> float | None:
    """When a ledger value's request finished; None if it has not. A bare ``done``
    (written before finish times were kept) finished at an unknown time."""
    if value == DONE:
        return UNKNOWN
    if value is None or not value.startswith(f"{DONE}@"):
        return None
    return float(value.removeprefix(f"{DONE}@"))


class LedgerExpiry:
    def __init__(self, ttl_s: float, per_call: int = 100) -> None:
        self.ttl_s = ttl_s
        self.per_call = per_call  # bounds the work one event does
        self._due: dict[int, deque[tuple[float, str]]] = defaultdict(deque)

    def track(self, partition: int, request_id: str, now: float) -> None:
        self._due[partition].append((now + self.ttl_s, request_id))

    def restart(self, partition: int, recovered: Iterable[tuple[float, str]], now: float) -> None:
        """Track what a new assignment recovered for ``partition``: (finished at, request
        id) pairs. One finished at an unknown time gets a whole ``ttl_s`` from ``now``."""
        self._due[partition] = deque(
            sorted(((now if at == UNKNOWN else at) + self.ttl_s, rid) for at, rid in recovered)
        )

    def due(self, partition: int, now: float) -> list[str]:
        """Up to ``per_call`` request ids of ``partition`` to forget now."""
        queue = self._due[partition]
        expired: list[str] = []
        while queue and queue[0][0] <= now and len(expired) < self.per_call:
            expired.append(queue.popleft()[1])
        return expired
