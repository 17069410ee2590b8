"""Cooldowns: a per-model circuit breaker, and the part of a fallback chain worth trying now.

Each model's breaker is::

    closed --(failure_threshold consecutive failures)--> open
    open --(cooldown_s elapsed)--> half-open: one trial call allowed
    half-open --success--> closed          half-open --failure--> open (a new cooldown)

The state is plain data with an injectable clock; ``Cooldowns`` does no I/O. It is not
thread-safe: use one per event loop (or per worker).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["BreakerState", "Cooldowns", "plan_chain"]

BreakerState = Literal["closed", "open", "half_open"]


@dataclass(slots=True)
class _Breaker:
    failures: int = 0
    opened_at: float | None = None
    trial_started_at: float | None = None


class Cooldowns:
    """Per-model circuit breakers.

    ``record_attempt`` is optional: call it just before a call so that a half-open model
    admits only one trial while that trial is in flight (a trial that never reports frees
    the slot after another ``cooldown_s``). Without it, a half-open model admits calls until
    the first outcome is recorded, and that outcome decides.
    """

    def __init__(
        self,
        failure_threshold: int = 3,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1: {failure_threshold}")
        if cooldown_s < 0:
            raise ValueError(f"cooldown_s must be >= 0: {cooldown_s}")
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._breakers: dict[str, _Breaker] = {}

    def state(self, model: str) -> BreakerState:
        """``closed``, ``open`` (cooling down) or ``half_open`` (cooldown over, trial due)."""
        breaker = self._breakers.get(model)
        if breaker is None or breaker.opened_at is None:
            return "closed"
        if self._clock() - breaker.opened_at < self.cooldown_s:
            return "open"
        return "half_open"

    def available(self, model: str) -> bool:
        """Whether ``model`` may be called now. Does not change any state."""
        state = self.state(model)
        if state == "closed":
            return True
        if state == "open":
            return False
        trial = self._breakers[model].trial_started_at
        return trial is None or self._clock() - trial >= self.cooldown_s

    def record_attempt(self, model: str) -> None:
        """A call to ``model`` starts now; in half-open it takes the one trial slot."""
        if self.state(model) == "half_open":
            self._breakers[model].trial_started_at = self._clock()

    def record_success(self, model: str) -> None:
        """``model`` answered: its breaker closes and its failure count resets."""
        self._breakers.pop(model, None)

    def record_failure(self, model: str) -> None:
        """``model`` failed after the SDK's retries.

        Closed: counts toward ``failure_threshold`` consecutive failures, then opens.
        Half-open: the trial failed, so it opens again for a new cooldown. Open: no change
        (a call that started before the breaker opened does not extend the cooldown).
        """
        state = self.state(model)
        breaker = self._breakers.setdefault(model, _Breaker())
        breaker.failures += 1
        if state == "half_open" or (
            state == "closed" and breaker.failures >= self.failure_threshold
        ):
            breaker.opened_at = self._clock()
            breaker.trial_started_at = None


def plan_chain(chain: Sequence[str], cooldowns: Cooldowns) -> list[str]:
    """The models of a fallback ``chain`` that may be tried now, in chain order, once each.

    Returns ``[]`` when every model is cooling down: the caller ends the request with an
    error result (``ModelsExhaustedError``) rather than calling a model known to be failing.
    """
    planned: list[str] = []
    for model in chain:
        if model not in planned and cooldowns.available(model):
            planned.append(model)
    return planned
