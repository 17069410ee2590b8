"""The records this worker took lately, so that a second copy is not processed again.

Around an assignment a partition's records can reach the streams twice: the copies
fetched before the seek to the committed offset and the ones fetched again after it
(the transport delivers both rather than drop a record; ``kafka_transport`` 2.). Two
actors then take the same record within milliseconds, and both would call the model:
neither's output is out for the hand-over read to find. A record taken in the last
``keep_s`` is skipped instead.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["RecentlyTaken"]


class RecentlyTaken:
    def __init__(self, keep_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.keep_s = keep_s
        self._clock = clock
        self._taken: OrderedDict[str, float] = OrderedDict()  # source -> when, oldest first

    def take(self, source: str) -> bool:
        """Record that ``source`` is taken now; False if it was taken already."""
        now = self._clock()
        while self._taken:
            oldest, at = next(iter(self._taken.items()))
            if at > now - self.keep_s:
                break
            del self._taken[oldest]
        if source in self._taken:
            return False
        self._taken[source] = now
        return True
