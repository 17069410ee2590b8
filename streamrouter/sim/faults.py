"""Fault injection: a share of the simulator's calls fail before any scenario rule is tried.

A scenario's optional ``faults`` key::

    faults:
      rate: 0.3                   # share of calls that fail (0..1)
      kinds: [rate_limited, overloaded, server_error, timeout]
      retry_after: 0.2            # seconds, sent with 429 and 529 (as scenario rules do)
      seed: 1
      match: "FAULTY"             # optional regex on the last user message (default: all)
      model: "claude-opus-*"      # optional glob on the requested model (default: all)

Deterministic by seed, and independent of the order in which concurrent calls arrive:
whether a call fails, and how, depends only on the seed, the model, the last user
message and how many times that model was called with that message before. The SDK's
retry of a failed call is the next call of the pair, so it draws again.
"""

from __future__ import annotations

import hashlib
import re
from fnmatch import fnmatchcase
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["FaultInjector", "FaultKind", "Faults"]

# The error kinds of scenario rules (``streamrouter.sim.scenario.ErrorKind``).
FaultKind = Literal["rate_limited", "overloaded", "server_error", "timeout"]

_UNIT = float(2**64)


class Faults(BaseModel):
    """What to inject: ``rate`` of the matching calls fail with one of ``kinds``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: float = Field(ge=0, le=1)
    kinds: tuple[FaultKind, ...] = Field(
        default=("rate_limited", "overloaded", "server_error", "timeout"), min_length=1
    )
    retry_after: float = Field(default=1.0, ge=0)
    seed: int = 0
    match: str | None = None
    model: str | None = None

    @field_validator("match")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression ({exc})") from exc
        return pattern

    def applies(self, model: str, last_user_text: str) -> bool:
        if self.model is not None and not fnmatchcase(model, self.model):
            return False
        return self.match is None or re.search(self.match, last_user_text) is not None


class FaultInjector:
    """Draws the fault (or none) for each call. Holds how often each pair was called."""

    def __init__(self, faults: Faults | None) -> None:
        self.faults = faults
        self._calls: dict[bytes, int] = {}

    def draw(self, model: str, last_user_text: str) -> FaultKind | None:
        """The fault for this call, or None; counts the call when faults apply to it."""
        faults = self.faults
        if faults is None or faults.rate == 0 or not faults.applies(model, last_user_text):
            return None
        text = f"{model}\0{last_user_text}".encode("utf-8", "surrogatepass")
        pair = hashlib.blake2b(text, digest_size=16).digest()
        nth = self._calls.get(pair, 0)
        self._calls[pair] = nth + 1
        digest = hashlib.blake2b(
            pair + nth.to_bytes(8, "little"), digest_size=16, key=str(faults.seed).encode()
        ).digest()
        if int.from_bytes(digest[:8], "little") / _UNIT >= faults.rate:
            return None
        return faults.kinds[int.from_bytes(digest[8:], "little") % len(faults.kinds)]

    def reset(self) -> None:
        self._calls.clear()
