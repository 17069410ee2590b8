"""When the ledger forgets a finished request id.

The ledger keeps results single while a request can still be redelivered or sent
again; after ``ttl_s`` it forgets a finished request, so the worker's memory (and the
ledger's changelog, compacted by its tombstones) stops growing with every request ever
served. A request id sent again after that is served again.

Deletes have to run inside an event of the key's partition (Faust writes the
tombstone to the current event's changelog partition), so finalize, which marks
requests done, asks for the ones due on its partition as it goes.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable

__all__ = ["LedgerExpiry"]


class LedgerExpiry:
    def __init__(self, ttl_s: float, per_call: int = 100) -> None:
        self.ttl_s = ttl_s
        self.per_call = per_call  # bounds the work one event does
        self._due: dict[int, deque[tuple[float, str]]] = defaultdict(deque)

    def track(self, partition: int, request_id: str, now: float) -> None:
        self._due[partition].append((now + self.ttl_s, request_id))

    def restart(self, partition: int, request_ids: Iterable[str], now: float) -> None:
        """Track what a new assignment recovered for ``partition``; its age is unknown,
        so it gets a whole ``ttl_s`` from now."""
        self._due[partition] = deque((now + self.ttl_s, rid) for rid in request_ids)

    def due(self, partition: int, now: float) -> list[str]:
        """Up to ``per_call`` request ids of ``partition`` to forget now."""
        queue = self._due[partition]
        expired: list[str] = []
        while queue and queue[0][0] <= now and len(expired) < self.per_call:
            expired.append(queue.popleft()[1])
        return expired
