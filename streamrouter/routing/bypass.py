"""Router bypass: skip the classifier while one tier takes most of the traffic.

The classifier costs a call per request. A sliding window keeps the tiers of recent
classifier decisions; once it holds at least ``min_window`` of them and one tier's
share exceeds ``threshold``, requests go straight to that tier (strategy ``bypass``),
with the escalation cascade as the safety net. Every ``1/sample_rate``-th request is
still classified, so a shift in traffic shows up in the window and turns the bypass
off again.

Pure state, no I/O: the caller records decisions and reads ``state()`` for metrics.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["BypassPolicy", "BypassState", "BypassWindow"]


class BypassPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    threshold: float = Field(default=0.8, gt=0.0, le=1.0)
    window: int = Field(default=100, ge=1)
    min_window: int = Field(default=20, ge=1)
    # Share of requests still classified while bypassing (1 in round(1/rate)).
    sample_rate: float = Field(default=0.1, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _window_can_fill(self) -> BypassPolicy:
        if self.min_window > self.window:
            raise ValueError(f"bypass.min_window {self.min_window} exceeds window {self.window}")
        return self


@dataclass(frozen=True)
class BypassState:
    tier: str | None  # the tier bypassed to, or None when off
    dominant_tier: str | None
    share: float
    decisions: int


class BypassWindow:
    def __init__(self, policy: BypassPolicy) -> None:
        self._policy = policy
        self._tiers: deque[str] = deque(maxlen=policy.window)
        self._seen = 0

    def record(self, tier: str) -> None:
        """A classifier decision."""
        self._tiers.append(tier)

    def state(self) -> BypassState:
        if not self._tiers:
            return BypassState(None, None, 0.0, 0)
        tier, count = Counter(self._tiers).most_common(1)[0]
        share = count / len(self._tiers)
        on = (
            self._policy.enabled
            and len(self._tiers) >= self._policy.min_window
            and share > self._policy.threshold
        )
        return BypassState(tier if on else None, tier, share, len(self._tiers))

    def filling(self, classifying: int) -> bool:
        """Whether the next request should wait for verdicts before it is classified: too
        few are in the window to decide, and the ``classifying`` calls under way will
        bring it to ``min_window``. In a backlog, the requests that wait are then bypassed
        if the verdicts say so, instead of all going to the classifier at once."""
        decisions = len(self._tiers)
        minimum = self._policy.min_window
        return self._policy.enabled and decisions < minimum <= decisions + classifying

    def bypass_tier(self) -> str | None:
        """The tier to send the next unrouted request to, or None to classify it."""
        tier = self.state().tier
        if tier is None:
            return None
        self._seen += 1
        every = max(1, round(1 / self._policy.sample_rate))
        return None if self._seen % every == 0 else tier
