"""Prompt caching as the Messages API reports it.

A request whose system prompt carries ``cache_control`` marks a prefix (the tool
definitions, then the system blocks up to that breakpoint). A prefix of at least
``MIN_CACHEABLE_TOKENS`` is written to the cache on first use (billed as
``cache_creation_input_tokens``) and read from it by later calls to the same model
within the TTL (``cache_read_input_tokens``); the rest of the prompt stays
``input_tokens``. Shorter prefixes are not cached, as with the real API.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from streamrouter.sim.behaviour import estimate_tokens

__all__ = ["MIN_CACHEABLE_TOKENS", "PromptCache", "cached_prefix"]

MIN_CACHEABLE_TOKENS = 1024
TTL_S = 300.0


def cached_prefix(body: Mapping[str, Any]) -> str | None:
    """The text of the prefix up to the last ``cache_control`` breakpoint, if any."""
    parts = [json.dumps(tool, sort_keys=True) for tool in body.get("tools") or ()]
    system = body.get("system")
    if not isinstance(system, list):
        return None
    marked = None
    for index, block in enumerate(system):
        if isinstance(block, Mapping) and block.get("cache_control"):
            marked = index
    if marked is None:
        return None
    parts += [str(b.get("text", "")) for b in system[: marked + 1] if isinstance(b, Mapping)]
    return "\n".join(parts)


class PromptCache:
    def __init__(self, ttl_s: float = TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._expiry: dict[tuple[str, str], float] = {}

    def account(self, model: str, body: Mapping[str, Any], usage: dict[str, int]) -> dict[str, int]:
        """``usage`` with the cached prefix moved out of ``input_tokens``."""
        prefix = cached_prefix(body)
        if prefix is None:
            return usage
        tokens = min(estimate_tokens(prefix), usage["input_tokens"])
        if tokens < MIN_CACHEABLE_TOKENS:
            return usage
        key = (model, hashlib.sha256(prefix.encode()).hexdigest())
        now = self._clock()
        hit = self._expiry.get(key, 0.0) > now
        self._expiry[key] = now + self._ttl_s  # a read refreshes the TTL too
        kind = "cache_read_input_tokens" if hit else "cache_creation_input_tokens"
        return {**usage, "input_tokens": usage["input_tokens"] - tokens, kind: tokens}

    def clear(self) -> None:
        self._expiry.clear()
